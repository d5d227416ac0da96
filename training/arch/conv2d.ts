import * as tf from '@tensorflow/tfjs';

/**
 * tfjs's Conv2D, except that a convolution with neither bias nor activation runs as a plain
 * `tf.conv2d` instead of tfjs's fused convolution. Same kernel, same result; the difference is the
 * gradient: the fused op's custom gradient always computes the input gradient, which for a first
 * layer is the gradient of the input image that nothing uses (3.5-6% of a training step on wasm),
 * while the plain op's gradient is evaluated only for the inputs that need one. Registered under
 * the stock class name, like ./batch-norm.ts.
 */
type StockLayer = ReturnType<typeof tf.layers.conv2d>;
type LayerArgs = Parameters<typeof tf.layers.conv2d>[0];
type Kwargs = Record<string, unknown>;

interface Fields {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
  strides: [number, number];
  padding: string;
  dataFormat: string;
  dilationRate: [number, number];
}

const Stock = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: LayerArgs) => StockLayer;

export class Conv2D extends Stock {
  static className = 'Conv2D';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as Fields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const plain = f.bias === null && f.activation.getClassName().toLowerCase() === 'linear' && f.dataFormat === 'channelsLast' && x.rank === 4 && (f.padding === 'same' || f.padding === 'valid');
    if (!plain) return super.call(inputs, kwargs);
    return tf.tidy(() => tf.conv2d(x as tf.Tensor4D, f.kernel.read() as tf.Tensor4D, f.strides, f.padding as 'same' | 'valid', 'NHWC', f.dilationRate));
  }
}

tf.serialization.registerClass(Conv2D as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
