import * as tf from '@tensorflow/tfjs';

/**
 * tfjs's BatchNormalization with a closed-form gradient for training on NHWC feature maps.
 *
 * The stock layer normalises with `tf.moments` and `tf.batchNorm`, and tfjs differentiates both op
 * by op: the batch-norm gradient, then the mean and variance gradients back through the moments,
 * about fifteen activation-sized elementwise ops per layer per step. With the batch statistics
 * folded in analytically the whole input gradient is
 *   dx = gamma / sigma * (dy - mean(dy) - x^ * mean(dy * x^)),  x^ = (x - mu) / sigma
 * (means over N, H, W), seven such ops. Forward values, moving-average updates, weights and the
 * serialised form are the stock layer's own: it registers under the same class name, so saved
 * models load into it and ONNX export sees an ordinary BatchNormalization. Anything other than
 * training on a rank-4, last-axis, centred and scaled input runs the stock code.
 */
type StockLayer = ReturnType<typeof tf.layers.batchNormalization>;
type LayerArgs = Parameters<typeof tf.layers.batchNormalization>[0];
type Kwargs = Record<string, unknown>;

/** The stock layer's fields this class reads (protected in the typings). */
interface Fields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

const Stock = tf.layers.batchNormalization({}).constructor as new (args?: LayerArgs) => StockLayer;

/** Normalised output and the batch statistics, with the closed-form gradient for x, gamma, beta. */
export function batchNormTraining(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let stats: [tf.Tensor1D, tf.Tensor1D] | null = null;
  // customGrad's typing passes (...inputs, save) as one rest list.
  const op = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const { mean, variance } = tf.moments(xi, [0, 1, 2]);
    const y = tf.batchNorm(xi as tf.Tensor4D, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, epsilon);
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    save([xi, mean, invStd, g]);
    stats = [tf.keep(mean as tf.Tensor1D), tf.keep(variance as tf.Tensor1D)];
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sMean, sInvStd, sGamma] = saved;
        const d = dy as tf.Tensor;
        const count = d.size / d.shape[3]!;
        const xHat = tf.mul(tf.sub(sx, sMean), sInvStd);
        const dBeta = tf.sum(d, [0, 1, 2]);
        const dGamma = tf.sum(tf.mul(d, xHat), [0, 1, 2]);
        const centred = tf.sub(tf.sub(d, tf.div(dBeta, count)), tf.mul(xHat, tf.div(dGamma, count)));
        return [tf.mul(centred, tf.mul(sGamma, sInvStd)), dGamma, dBeta];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta) as tf.Tensor4D;
  const [mean, variance] = stats!;
  return { y, mean, variance };
}

export class BatchNormalization extends Stock {
  static className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as Fields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = f.axis < 0 ? f.axis + x.rank : f.axis;
    if (kwargs.training !== true || x.rank !== 4 || axis !== 3 || !f.center || !f.scale || x.dtype !== 'float32') return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x as tf.Tensor4D, f.gamma.read() as tf.Tensor1D, f.beta.read() as tf.Tensor1D, f.epsilon);
      // The stock layer's moving-average update, op for op.
      for (const [variable, value] of [[f.movingMean, mean], [f.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const orig = variable.read();
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - f.momentum)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }
}

// Saved models (checkpoints, --init, --resume) deserialise into this class too.
tf.serialization.registerClass(BatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
