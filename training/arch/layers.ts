import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE } from '../../src/classes.ts';
import { BatchNormalization } from './batch-norm.ts';
import { Conv2D } from './conv2d.ts';

/**
 * Layer factories shared by the architectures. Each factory takes seeds from one counter so that
 * a build with the same seed gives the same weights, while no two layers share an init seed.
 */
export class LayerKit {
  private next: number;
  constructor(seed = 1) {
    this.next = (seed >>> 0) * 1000 + 1;
  }

  private init(kind: 'glorot' | 'he'): ReturnType<typeof tf.initializers.heNormal> {
    const seed = this.next++;
    return kind === 'he' ? tf.initializers.heNormal({ seed }) : tf.initializers.glorotUniform({ seed });
  }

  input(): tf.SymbolicTensor {
    return tf.input({ shape: [IMAGE_SIZE, IMAGE_SIZE, 1], name: 'input' });
  }

  conv(x: tf.SymbolicTensor, filters: number, kernelSize: number,
    o: { strides?: number; padding?: 'same' | 'valid'; activation?: 'relu' | 'tanh'; useBias?: boolean; name?: string } = {}): tf.SymbolicTensor {
    return new Conv2D({
      filters,
      kernelSize,
      strides: o.strides ?? 1,
      padding: o.padding ?? 'same',
      activation: o.activation,
      useBias: o.useBias ?? true,
      kernelInitializer: this.init(o.activation === 'relu' || o.useBias === false ? 'he' : 'glorot'),
      name: o.name,
    }).apply(x) as tf.SymbolicTensor;
  }

  dense(x: tf.SymbolicTensor, units: number, o: { activation?: 'relu' | 'tanh'; name?: string } = {}): tf.SymbolicTensor {
    return tf.layers.dense({ units, activation: o.activation, kernelInitializer: this.init('glorot'), name: o.name }).apply(x) as tf.SymbolicTensor;
  }

  bn(x: tf.SymbolicTensor, name?: string): tf.SymbolicTensor {
    return new BatchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name }).apply(x) as tf.SymbolicTensor;
  }

  relu(x: tf.SymbolicTensor, name?: string): tf.SymbolicTensor {
    return tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;
  }

  /** conv (no bias: BN follows) -> BN -> ReLU */
  convBnRelu(x: tf.SymbolicTensor, filters: number, kernelSize = 3, strides = 1, name?: string): tf.SymbolicTensor {
    return this.relu(this.bn(this.conv(x, filters, kernelSize, { strides, useBias: false })), name);
  }

  maxPool(x: tf.SymbolicTensor, size = 2): tf.SymbolicTensor {
    return tf.layers.maxPooling2d({ poolSize: size, strides: size }).apply(x) as tf.SymbolicTensor;
  }

  avgPool(x: tf.SymbolicTensor, size = 2): tf.SymbolicTensor {
    return tf.layers.averagePooling2d({ poolSize: size, strides: size }).apply(x) as tf.SymbolicTensor;
  }

  dropout(x: tf.SymbolicTensor, rate: number): tf.SymbolicTensor {
    return tf.layers.dropout({ rate }).apply(x) as tf.SymbolicTensor;
  }

  flatten(x: tf.SymbolicTensor, name?: string): tf.SymbolicTensor {
    return tf.layers.flatten({ name }).apply(x) as tf.SymbolicTensor;
  }

  gap(x: tf.SymbolicTensor, name?: string): tf.SymbolicTensor {
    return tf.layers.globalAveragePooling2d({ name }).apply(x) as tf.SymbolicTensor;
  }

  add(a: tf.SymbolicTensor, b: tf.SymbolicTensor): tf.SymbolicTensor {
    return tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  }

  /**
   * ResNet basic block: two 3x3 conv-BN with an identity shortcut, or a strided 1x1 conv-BN
   * projection when the shape changes; ReLU after the sum.
   */
  basicBlock(x: tf.SymbolicTensor, filters: number, strides = 1, name?: string): tf.SymbolicTensor {
    const inChannels = x.shape[x.shape.length - 1];
    let y = this.convBnRelu(x, filters, 3, strides);
    y = this.bn(this.conv(y, filters, 3, { useBias: false }));
    const shortcut = strides !== 1 || inChannels !== filters ? this.bn(this.conv(x, filters, 1, { strides, useBias: false })) : x;
    return this.relu(this.add(y, shortcut), name);
  }

  /** Final classifier: Dense(numClasses) named `logits`, no activation. */
  logits(x: tf.SymbolicTensor, numClasses: number): tf.SymbolicTensor {
    return this.dense(x, numClasses, { name: 'logits' });
  }
}

export function finish(name: string, input: tf.SymbolicTensor, logits: tf.SymbolicTensor): tf.LayersModel {
  return tf.model({ inputs: input, outputs: logits, name });
}
