import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE } from '../../src/classes.ts';
import { selectBackend } from '../backend/index.ts';
import { loadTfjsModel } from '../model/io.ts';
import { channelNhwc, filterHwio } from './visual.ts';
import { MAX_CONV_LAYERS, type FeatureMaps, type InsideView, type FirstLayerFilters } from './inspect-types.ts';

function asList(y: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(y) ? y : [y];
}

/**
 * The first layer's filters: the first Conv2D's kernels (one kh x kw plane per output channel, input
 * channel 0: the grayscale image), or for a network without convolutions (`mlp`) the first Dense
 * layer's weights of each unit as a 28x28 image.
 */
function firstLayerFilters(model: tf.LayersModel, maxChannels: number): FirstLayerFilters | null {
  const conv = model.layers.find((l) => l.getClassName() === 'Conv2D');
  const dense = model.layers.find((l) => l.getClassName() === 'Dense');
  const layer = conv ?? dense;
  if (!layer) return null;
  const kernel = layer.getWeights()[0];
  const values = kernel.dataSync();
  if (conv) {
    const [kh, kw, inC, outC] = kernel.shape as [number, number, number, number];
    const count = Math.min(outC, maxChannels);
    return { layer: layer.name, height: kh, width: kw, total: outC, planes: Array.from({ length: count }, (_, o) => filterHwio(values, kh, kw, inC, outC, o)) };
  }
  const [inputs, units] = kernel.shape as [number, number];
  if (inputs !== IMAGE_SIZE * IMAGE_SIZE) return null;
  const count = Math.min(units, maxChannels);
  return { layer: layer.name, height: IMAGE_SIZE, width: IMAGE_SIZE, total: units, planes: Array.from({ length: count }, (_, u) => filterHwio(values, IMAGE_SIZE, IMAGE_SIZE, 1, units, u)) };
}

/** Every Conv2D layer's output (after its own activation) for the one image in `x`. */
function convFeatureMaps(model: tf.LayersModel, x: tf.Tensor4D, maxChannels: number): FeatureMaps[] {
  const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D').slice(0, MAX_CONV_LAYERS);
  if (convs.length === 0) return [];
  const probe = tf.model({ inputs: model.inputs, outputs: convs.map((l) => l.output as tf.SymbolicTensor) });
  const outs = asList(probe.predict(x));
  try {
    return convs.map((layer, k) => {
      const [, h, w, c] = outs[k].shape as [number, number, number, number];
      const data = outs[k].dataSync();
      const count = Math.min(c, maxChannels);
      return { layer: layer.name, height: h, width: w, channels: c, planes: Array.from({ length: count }, (_, ch) => channelNhwc(data, h, w, c, ch)) };
    });
  } finally {
    tf.dispose(outs);
  }
}

/**
 * Saliency (Simonyan et al. 2014): |d logit[predicted] / d input| per pixel, in inference mode.
 * Where it is bright, a small change of the pixel moves the predicted class's score most.
 */
function saliency(model: tf.LayersModel, x: tf.Tensor4D, predicted: number): Float32Array {
  const logitOf = (input: tf.Tensor) => {
    const y = asList(model.apply(input, { training: false }) as tf.Tensor | tf.Tensor[])[0] as tf.Tensor2D;
    // A one-hot mask rather than gather: gather's gradient needs UnsortedSegmentSum, which the wasm back end lacks.
    return y.mul(tf.oneHot([predicted], y.shape[1])).sum();
  };
  return tf.tidy(() => tf.grad(logitOf)(x).abs().dataSync() as Float32Array);
}

export async function inspectTfjs(dir: string, pixels: Uint8Array, maxChannels: number): Promise<InsideView> {
  await selectBackend('auto');
  const model = await loadTfjsModel(dir);
  const x = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, IMAGE_SIZE, IMAGE_SIZE, 1]);
  try {
    const logits = tf.tidy(() => asList(model.predict(x))[0].dataSync() as Float32Array);
    let predicted = 0;
    for (let c = 1; c < logits.length; c++) if (logits[c] > logits[predicted]) predicted = c;
    return {
      logits: Float32Array.from(logits),
      filters: firstLayerFilters(model, maxChannels),
      maps: convFeatureMaps(model, x, maxChannels),
      saliency: saliency(model, x, predicted),
      notes: [],
    };
  } finally {
    x.dispose();
    model.dispose();
  }
}
