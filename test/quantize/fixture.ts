import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../../training/data/load.ts';
import { subset, type ImageSet } from '../../training/data/dataset.ts';
import { stratifiedSample } from '../../training/data/split.ts';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { createRng, shuffleInPlace } from '../../src/random.ts';

export interface TrainedFixture {
  fp32: Uint8Array;
  calibration: Float32Array;
  test: ImageSet;
}

/** A small CNN trained for a few steps on real Fashion-MNIST, exported to ONNX with parity. */
export async function trainedOnnxModel(): Promise<TrainedFixture> {
  // wasm (with edgeloom's training kernels) trains this in seconds; pure-JS cpu takes minutes.
  const { selectBackend } = await import('../../training/backend/index.ts');
  await selectBackend('auto');
  const ds = await loadDataset({});
  // The sample comes sorted (class by class): shuffle it, seeded, so mini-batches mix classes.
  const trainIdx = Array.from(stratifiedSample(ds.train.labels, 10, 1200, 3));
  shuffleInPlace(trainIdx, createRng(3));
  const train = subset(ds.train, trainIdx);
  const test = subset(ds.test, stratifiedSample(ds.test.labels, 10, 300, 4));
  const L = tf.layers;
  const model = tf.sequential({
    name: 'tiny',
    layers: [
      L.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }),
      L.maxPooling2d({ poolSize: 2 }),
      L.conv2d({ filters: 12, kernelSize: 3, kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }),
      L.batchNormalization({}),
      L.activation({ activation: 'relu' }),
      L.maxPooling2d({ poolSize: 2 }),
      L.flatten(),
      L.dense({ units: 32, activation: 'relu', name: 'embedding', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      L.dense({ units: 10, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.005), loss: tf.losses.softmaxCrossEntropy });
  const x = tf.tensor4d(toModelInput(train.images), [train.count, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10);
  await model.fit(x, y, { epochs: 2, batchSize: 64, verbose: 0, shuffle: false });
  tf.dispose([x, y]);
  const calibration = toModelInput(subset(ds.train, stratifiedSample(ds.train.labels, 10, 128, 5)).images);
  const { bytes } = await exportToOnnx(model, { metadata: { arch: 'tiny' }, parityInput: toModelInput(test.images.subarray(0, 32 * 784)) });
  model.dispose();
  return { fp32: bytes, calibration, test };
}
