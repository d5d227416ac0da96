import { attr, int64Tensor } from '../../src/onnx/proto.ts';
import { GraphBuilder } from '../onnx/graph.ts';

/** The shapes and names a training-step graph shares between its layer rules and its driver. */
export type OptimizerSpec =
  | { kind: 'adam'; beta1: number; beta2: number; epsilon: number }
  | { kind: 'momentum'; momentum: number }
  | { kind: 'adagrad'; initial: number; epsilon: number };

export interface StepGraphOptions {
  batch: number;
  numClasses: number;
  optimizer: OptimizerSpec;
  /** Decoupled weight decay of the conv and dense kernels (training/trainer/optim.ts); default 0. */
  weightDecay?: number;
  /** Also output every gradient as `<param>.grad` (tests). */
  gradients?: boolean;
}

/** A trainable weight as the graph sees it; `layer`/`weight` name the tfjs layer and its short weight name. */
export interface ParamSpec {
  input: string;
  layer: string;
  weight: 'kernel' | 'bias' | 'gamma' | 'beta';
  dims: number[];
  /** Conv: [kh, kw, cin, cout] of the tfjs kernel, kept as [cout, cin*kh*kw]. */
  conv?: [number, number, number, number];
  /**
   * Dense: the tfjs [features, units] kernel kept transposed as [units, features] (a Gemm with
   * transA over 6,272 features took 13 of 275 ms), columns in the graph's flatten order
   * (perm[column] = tfjs row; null: the same order).
   */
  dense?: { perm: Int32Array | null };
}

export interface StatSpec {
  input: string;
  layer: string;
  weight: 'moving_mean' | 'moving_variance';
  dims: number[];
}

export interface MaskSpec {
  input: string;
  dims: number[];
  rate: number;
  /** Maps a flat row to tfjs's flatten order (perm[row] = tfjs index); null: the same order. */
  perm: Int32Array | null;
}

/**
 * A value flowing forward: an image [C, H*W*N] or flat features [F, N]. `trainable`: some
 * parameter lies upstream, so its gradient is needed (nothing before the first parameterised layer
 * needs one). `reluOut`: a ReLU's output (or a dropout of one): no gradient flows back through
 * an entry that is 0.
 */
export type Act = ({ c: number; h: number; w: number; flat: false } | { f: number; perm: Int32Array | null; flat: true }) & { name: string; trainable: boolean; reluOut: boolean };

/** The gradients of a layer's inputs (null where not needed) from the gradient of its output. */
export type Backward = (dy: string) => (string | null)[];

export class StepBuilder {
  readonly g = new GraphBuilder();
  readonly params: ParamSpec[] = [];
  readonly stats: StatSpec[] = [];
  readonly masks: MaskSpec[] = [];
  readonly grads = new Map<string, string>();
  readonly statOutputs: string[] = [];
  constructor(readonly opts: StepGraphOptions) {}

  n(op: string, inputs: string[], out: string, attrs: ReturnType<typeof attr>[] = []): string {
    return this.g.node(op, inputs, out, attrs).output;
  }

  shape(dims: number[]): string {
    return this.g.addInt64('shape', dims);
  }

  reshape(x: string, dims: number[], out = `${x}/r`): string {
    return this.n('Reshape', [x, this.shape(dims)], out);
  }

  scalar(value: number, base = 'k'): string {
    return this.g.addFloat(base, [], new Float32Array([value]));
  }

  int64(base: string, dims: number[], values: number[]): string {
    const name = this.g.uniqueName(base);
    this.g.initializers.set(name, int64Tensor(name, dims, values));
    return name;
  }

  param(layer: string, weight: ParamSpec['weight'], dims: number[], extra: Partial<ParamSpec> = {}): string {
    const input = this.g.uniqueName(`${layer}/${weight}`);
    this.params.push({ input, layer, weight, dims, ...extra });
    return input;
  }

  /**
   * `value` where the boolean `mask` holds, else 0, as value * float(mask): for the broadcast of the
   * pooling gradient (1.6M values) 2.7 ms against Where's 5.6 ms, and 0.47 against 0.58 ms for a
   * ReLU gradient of 400k values (one thread, min of 40, loaded machine).
   */
  where(mask: string, value: string, out: string): string {
    return this.n('Mul', [this.n('Cast', [mask], `${out}/mask`, [attr('to', 1)]), value], out);
  }

  /**
   * Columns of x [c, hw*N] picked by position: `index` [taps, positions] holds a position in [0, hw)
   * or -1 for a zero (padding, or a gap between the strides of a strided convolution's gradient).
   * One Gather over rows of N contiguous floats (a zero row appended when some index is -1);
   * returns [c*taps, positions*N].
   */
  pick(x: string, c: number, hw: number, index: number[], taps: number, base: string): string {
    const N = this.opts.batch;
    const positions = index.length / taps;
    let rows = this.reshape(x, [c, hw, N]);
    if (index.includes(-1)) rows = this.n('Pad', [rows, this.g.addInt64(`${base}/pads`, [0, 0, 0, 0, 1, 0])], `${base}/zero_row`);
    const indices = this.int64(`${base}/indices`, [taps, positions], index.map((i) => (i < 0 ? hw : i)));
    const gathered = this.n('Gather', [rows, indices], `${base}/gather`, [attr('axis', 1)]);
    return this.reshape(gathered, [c * taps, positions * N], `${base}/patches`);
  }

  /** Sum of the gradients reaching one value (a value read by two layers, e.g. a residual shortcut). */
  sum(parts: string[], out: string): string {
    return parts.length === 1 ? parts[0] : this.n('Sum', parts, out);
  }
}
