import * as tf from '@tensorflow/tfjs';

/**
 * Reference models for measuring back ends, built here so that speed numbers do not move when the
 * project's own architectures change. Both take 28x28x1 inputs and output 10 softmax scores.
 */
export type BenchModelName = 'customnet' | 'edgenet';
export const BENCH_MODELS: readonly BenchModelName[] = ['customnet', 'edgenet'];

function convBnRelu(x: tf.SymbolicTensor, filters: number, strides = 1): tf.SymbolicTensor {
  let y = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', strides, useBias: false }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
  return tf.layers.reLU().apply(y) as tf.SymbolicTensor;
}

/** conv32-BN-ReLU-pool, conv64-BN-ReLU-pool, conv128-BN-ReLU, dropout 0.5, dense 10 (~0.16M params). */
export function customNet(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let x = convBnRelu(input, 32);
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = convBnRelu(x, 64);
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = convBnRelu(x, 128);
  x = tf.layers.dropout({ rate: 0.5 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'customnet' });
}

/**
 * A small residual net (~0.25M params): a stride-2 stem, two residual blocks with an Add, a
 * stride-2 transition, global average pooling and dropout.
 */
export function edgeNet(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let x = convBnRelu(input, 32);
  x = convBnRelu(x, 48, 2); // 14x14
  const block = (inp: tf.SymbolicTensor, filters: number): tf.SymbolicTensor => {
    const y = convBnRelu(inp, filters);
    let z = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor;
    z = tf.layers.batchNormalization().apply(z) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([inp, z]) as tf.SymbolicTensor;
    return tf.layers.reLU().apply(sum) as tf.SymbolicTensor;
  };
  x = block(x, 48);
  x = convBnRelu(x, 96, 2); // 7x7
  x = block(x, 96);
  x = tf.layers.averagePooling2d({ poolSize: 7 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.3 }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'edgenet' });
}

export function buildBenchModel(name: BenchModelName): tf.LayersModel {
  return name === 'customnet' ? customNet() : edgeNet();
}
