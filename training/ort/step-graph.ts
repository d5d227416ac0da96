import { attr, encodeModel, floatValueInfo, int64Tensor } from '../../src/onnx/proto.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';
import { GraphBuilder, flattenPerm } from '../onnx/graph.ts';
import { poolBeforeRelu, type LayerSpec } from './plan.ts';

/**
 * One training step (forward, softmax cross-entropy, backward, optimiser update) as one ONNX graph
 * of standard opset-13 operators, for onnxruntime's cpu provider.
 *
 * Layout: activations are [C, H, W, N] (channels outermost, batch innermost), kept as 2-D
 * [C, H*W*N] matrices. Then every convolution is one large GEMM over the whole batch: its patch
 * matrix [Cin*kh*kw, H*W*N] is a single Gather of the padded input (rows of N contiguous floats),
 * the forward pass is W[Cout, Cin*k] x patches, the filter gradient dY x patchesᵀ reuses the same
 * patches, and the input gradient is the same kind of GEMM with the flipped, transposed filter over
 * the patches of dY. BatchNorm statistics are row reductions, 2x2 max pooling is two reductions over
 * a middle axis of size 2, and Dense is Gemm with the batch as columns. Weights and optimiser state
 * are graph inputs and come back as outputs named `<input>.next`.
 */
export type OptimizerSpec =
  | { kind: 'adam'; beta1: number; beta2: number; epsilon: number }
  | { kind: 'momentum'; momentum: number };

export interface StepGraphOptions {
  batch: number;
  numClasses: number;
  optimizer: OptimizerSpec;
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

export interface StepGraph {
  bytes: Uint8Array;
  params: ParamSpec[];
  stats: StatSpec[];
  /** Names of optimiser-state inputs per parameter, in order (Adam: m, v; momentum: accumulator). */
  slots: string[];
  /** Dropout masks, inputs of values 0 or 1/(1-rate); `perm` maps a flat row to tfjs's flatten order (perm[row] = tfjs index). */
  masks: { input: string; dims: number[]; rate: number; perm: Int32Array | null }[];
}

type Act = { name: string; c: number; h: number; w: number; flat: false } | { name: string; f: number; perm: Int32Array | null; flat: true };
type Backward = (dy: string) => string | null;

class StepBuilder {
  readonly g = new GraphBuilder();
  readonly params: ParamSpec[] = [];
  readonly stats: StatSpec[] = [];
  readonly masks: StepGraph['masks'] = [];
  readonly grads = new Map<string, string>();
  readonly statOutputs: string[] = [];
  readonly tape: Backward[] = [];
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

  /** Patches of x [c, h*w*N] for a stride-1 kh x kw window with the given pads: [c*kh*kw, oh*ow*N]. */
  patches(x: string, c: number, h: number, w: number, kh: number, kw: number, pads: readonly number[], base: string, flip = false): { name: string; oh: number; ow: number } {
    const N = this.opts.batch;
    const [pt, pl, pb, pr] = pads;
    const hp = h + pt + pb;
    const wp = w + pl + pr;
    const oh = hp - kh + 1;
    const ow = wp - kw + 1;
    let src = x;
    if (pt + pl + pb + pr > 0) {
      const padSpec = this.g.addInt64(`${base}/pads`, [0, pt, pl, 0, 0, pb, pr, 0]);
      src = this.n('Pad', [this.reshape(x, [c, h, w, N]), padSpec], `${base}/padded`);
    }
    const rows = this.reshape(src, [c, hp * wp, N]);
    const idx: number[] = [];
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const [dy, dx] = flip ? [kh - 1 - ky, kw - 1 - kx] : [ky, kx];
      for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) idx.push((y + dy) * wp + xx + dx);
    }
    const indices = this.int64(`${base}/indices`, [kh * kw, oh * ow], idx);
    const gathered = this.n('Gather', [rows, indices], `${base}/gather`, [attr('axis', 1)]);
    return { name: this.reshape(gathered, [c * kh * kw, oh * ow * N], `${base}/patches`), oh, ow };
  }
}

function conv(b: StepBuilder, s: Extract<LayerSpec, { kind: 'conv' }>, x: Act, needInputGrad: boolean): Act {
  if (x.flat) throw new Error(`layer ${s.name}: convolution after Flatten`);
  const k = s.kh * s.kw;
  const W = b.param(s.name, 'kernel', [s.filters, x.c * k], { conv: [s.kh, s.kw, x.c, s.filters] });
  const p = b.patches(x.name, x.c, x.h, x.w, s.kh, s.kw, s.pads, `${s.name}/x`);
  let y = b.n('MatMul', [W, p.name], `${s.name}/conv`);
  let bias: string | null = null;
  if (s.bias) {
    bias = b.param(s.name, 'bias', [s.filters]);
    y = b.n('Add', [y, b.reshape(bias, [s.filters, 1])], `${s.name}/biased`);
  }
  const out = s.relu ? b.n('Relu', [y], `${s.name}/relu`) : y;
  b.tape.push((dOut) => {
    const dy = s.relu ? b.where(b.n('Greater', [out, b.scalar(0)], `${s.name}/pos`), dOut, `${s.name}/drelu`) : dOut;
    b.grads.set(W, b.n('Gemm', [dy, p.name], `${W}.grad`, [attr('transB', 1)]));
    if (bias) b.grads.set(bias, b.n('ReduceSum', [dy, b.g.addInt64('axes', [1])], `${bias}.grad`, [attr('keepdims', 0)]));
    if (!needInputGrad) return null;
    // dX = conv(dY padded by k-1-pad, W rotated 180° with in/out swapped). The rotation goes into
    // the patch indices (a Gather of single floats over W took 3 ms of 275); W only transposes.
    const [pt, pl, pb, pr] = s.pads;
    const dPatches = b.patches(dy, s.filters, p.oh, p.ow, s.kh, s.kw, [s.kh - 1 - pt, s.kw - 1 - pl, s.kh - 1 - pb, s.kw - 1 - pr], `${s.name}/dy`, true);
    const wt = b.reshape(b.n('Transpose', [b.reshape(W, [s.filters, x.c, k])], `${s.name}/Wt`, [attr('perm', [1, 0, 2])]), [x.c, s.filters * k]);
    return b.n('MatMul', [wt, dPatches.name], `${s.name}/dx`);
  });
  return { name: out, c: s.filters, h: p.oh, w: p.ow, flat: false };
}

function batchNorm(b: StepBuilder, s: Extract<LayerSpec, { kind: 'bn' }>, x: Act): Act {
  const c = x.flat ? x.f : x.c;
  const count = x.flat ? b.opts.batch : x.h * x.w * b.opts.batch;
  if (x.flat && x.perm) throw new Error(`layer ${s.name}: batch norm after Flatten`);
  const gamma = b.param(s.name, 'gamma', [c]);
  const beta = b.param(s.name, 'beta', [c]);
  const axes = () => b.g.addInt64('axes', [1]);
  const mean = b.n('ReduceMean', [x.name], `${s.name}/mean`, [attr('axes', [1]), attr('keepdims', 1)]);
  const xc = b.n('Sub', [x.name, mean], `${s.name}/xc`);
  // One pass over xc instead of Mul then ReduceMean.
  const variance = b.n('Mul', [b.n('ReduceSumSquare', [xc], `${s.name}/ss`, [attr('axes', [1]), attr('keepdims', 1)]), b.scalar(1 / count)], `${s.name}/var`);
  const invStd = b.n('Reciprocal', [b.n('Sqrt', [b.n('Add', [variance, b.scalar(s.epsilon)], `${s.name}/vareps`)], `${s.name}/std`)], `${s.name}/invstd`);
  const scale = b.n('Mul', [b.reshape(gamma, [c, 1]), invStd], `${s.name}/scale`);
  const y = b.n('Add', [b.n('Mul', [xc, scale], `${s.name}/scaled`), b.reshape(beta, [c, 1])], `${s.name}/y`);
  // Moving averages exactly as tfjs updates them: m - (m - batch) * (1 - momentum), biased variance.
  for (const [weight, batchValue] of [['moving_mean', mean], ['moving_variance', variance]] as const) {
    const input = b.g.uniqueName(`${s.name}/${weight}`);
    b.stats.push({ input, layer: s.name, weight, dims: [c] });
    const diff = b.n('Sub', [input, b.reshape(batchValue, [c])], `${input}/diff`);
    b.statOutputs.push(b.n('Sub', [input, b.n('Mul', [diff, b.scalar(1 - s.momentum)], `${input}/step`)], `${input}.next`));
  }
  b.tape.push((dy) => {
    // With x^ = xc * invStd: dbeta = sum(dy), dgamma = invStd * sum(dy * xc),
    // dx = scale * (dy - dbeta/M - xc * invStd² * sum(dy * xc)/M).
    const s1 = b.n('ReduceSum', [dy, axes()], `${s.name}/s1`, [attr('keepdims', 1)]);
    const s2 = b.n('ReduceSum', [b.n('Mul', [dy, xc], `${s.name}/dyxc`), axes()], `${s.name}/s2`, [attr('keepdims', 1)]);
    b.grads.set(beta, b.reshape(s1, [c], `${beta}.grad`));
    b.grads.set(gamma, b.reshape(b.n('Mul', [s2, invStd], `${s.name}/dgamma`), [c], `${gamma}.grad`));
    const invM = b.scalar(-1 / count);
    const kx = b.n('Mul', [b.n('Mul', [scale, b.n('Mul', [invStd, invStd], `${s.name}/ivar`)], `${s.name}/sv`), b.n('Mul', [s2, invM], `${s.name}/s2m`)], `${s.name}/kx`);
    const k0 = b.n('Mul', [scale, b.n('Mul', [s1, invM], `${s.name}/s1m`)], `${s.name}/k0`);
    const part = b.n('Add', [b.n('Mul', [dy, scale], `${s.name}/dys`), b.n('Mul', [xc, kx], `${s.name}/xck`)], `${s.name}/dxp`);
    return b.n('Add', [part, k0], `${s.name}/dx`);
  });
  return { ...x, name: y };
}

function relu(b: StepBuilder, s: { name: string }, x: Act): Act {
  const y = b.n('Relu', [x.name], `${s.name}/relu`);
  b.tape.push((dy) => b.where(b.n('Greater', [y, b.scalar(0)], `${s.name}/pos`), dy, `${s.name}/drelu`));
  return { ...x, name: y };
}

/**
 * 2x2/2 max pooling as two max-reductions over a middle axis of 2; the gradient goes to every
 * window entry equal to the max (ties have probability zero on real-valued inputs). With `relu`
 * (a ReLU that poolBeforeRelu moved after the pool), entries equal to relu(max) are exactly those
 * of a positive max, so one Equal and one Where give both gradients.
 */
function maxPool(b: StepBuilder, s: { name: string }, x: Act, relu: boolean): Act {
  if (x.flat) throw new Error(`layer ${s.name}: pooling after Flatten`);
  if (x.h % 2 !== 0 || x.w % 2 !== 0) throw new Error(`layer ${s.name}: odd feature map ${x.h}x${x.w} (not supported yet)`);
  const N = b.opts.batch;
  const [c, h2, w2] = [x.c, x.h / 2, x.w / 2];
  const rows = b.n('ReduceMax', [b.reshape(x.name, [c * h2, 2, x.w * N])], `${s.name}/rows`, [attr('axes', [1]), attr('keepdims', 0)]);
  const pooled = b.n('ReduceMax', [b.reshape(rows, [c * h2 * w2, 2, N])], `${s.name}/pool`, [attr('axes', [1]), attr('keepdims', 0)]);
  const y = b.reshape(relu ? b.n('Relu', [pooled], `${s.name}/relu`) : pooled, [c, h2 * w2 * N], `${s.name}/y`);
  b.tape.push((dy) => {
    const windows = [c * h2, 2, w2, 2, N];
    const one = [c * h2, 1, w2, 1, N];
    const hit = b.n('Equal', [b.reshape(x.name, windows), b.reshape(y, one)], `${s.name}/argmax`);
    return b.reshape(b.where(hit, b.reshape(dy, one), `${s.name}/dwin`), [c, x.h * x.w * N], `${s.name}/dx`);
  });
  return { name: y, c, h: h2, w: w2, flat: false };
}

function flatten(b: StepBuilder, s: { name: string }, x: Act): Act {
  if (x.flat) return x;
  const N = b.opts.batch;
  const f = x.c * x.h * x.w;
  b.tape.push((dy) => b.reshape(dy, [x.c, x.h * x.w * N], `${s.name}/dx`));
  return { name: b.reshape(x.name, [f, N], `${s.name}/flat`), f, perm: flattenPerm(x.c, x.h, x.w), flat: true };
}

function dropout(b: StepBuilder, s: Extract<LayerSpec, { kind: 'dropout' }>, x: Act): Act {
  if (s.rate <= 0) return x;
  const dims = x.flat ? [x.f, b.opts.batch] : [x.c, x.h * x.w * b.opts.batch];
  // RandomUniformLike took 6.8 of 275 ms (a Mersenne twister per value); the caller draws the mask.
  const mask = b.g.uniqueName(`${s.name}/mask`);
  b.masks.push({ input: mask, dims, rate: s.rate, perm: x.flat ? x.perm : null });
  const y = b.n('Mul', [x.name, mask], `${s.name}/y`);
  b.tape.push((dy) => b.n('Mul', [dy, mask], `${s.name}/dx`));
  return { ...x, name: y };
}

function dense(b: StepBuilder, s: Extract<LayerSpec, { kind: 'dense' }>, x: Act, needInputGrad: boolean): Act {
  if (!x.flat) throw new Error(`layer ${s.name}: Dense on an image (add Flatten)`);
  const W = b.param(s.name, 'kernel', [s.units, x.f], { dense: { perm: x.perm } });
  const bias = b.param(s.name, 'bias', [s.units]);
  const pre = b.n('Gemm', [W, x.name, b.reshape(bias, [s.units, 1])], `${s.name}/gemm`);
  const out = s.relu ? b.n('Relu', [pre], `${s.name}/relu`) : pre;
  b.tape.push((dOut) => {
    const dy = s.relu ? b.where(b.n('Greater', [out, b.scalar(0)], `${s.name}/pos`), dOut, `${s.name}/drelu`) : dOut;
    b.grads.set(W, b.n('Gemm', [dy, x.name], `${W}.grad`, [attr('transB', 1)]));
    b.grads.set(bias, b.n('ReduceSum', [dy, b.g.addInt64('axes', [1])], `${bias}.grad`, [attr('keepdims', 0)]));
    return needInputGrad ? b.n('MatMul', [b.n('Transpose', [W], `${s.name}/Wt`, [attr('perm', [1, 0])]), dy], `${s.name}/dx`) : null;
  });
  return { name: out, f: s.units, perm: null, flat: true };
}

/** Mean softmax cross-entropy over the batch; labels `y` [N, K] rows summing to 1 (one-hot or smoothed). */
function loss(b: StepBuilder, logitsT: string): { loss: string; dLogitsT: string } {
  const N = b.opts.batch;
  const logits = b.n('Transpose', [logitsT], 'logits', [attr('perm', [1, 0])]);
  const lsm = b.n('LogSoftmax', [logits], 'logsoftmax', [attr('axis', 1)]);
  const total = b.n('ReduceSum', [b.n('Mul', ['y', lsm], 'ylogp')], 'sum_ylogp', [attr('keepdims', 0)]);
  const l = b.n('Mul', [total, b.scalar(-1 / N)], 'loss');
  if (logits !== 'logits' || l !== 'loss') throw new Error(`graph outputs named ${logits}, ${l}: a layer took the names 'logits' or 'loss'`);
  const d = b.n('Mul', [b.n('Sub', [b.n('Exp', [lsm], 'softmax'), 'y'], 'p_minus_y'), b.scalar(1 / N)], 'dlogits');
  return { loss: l, dLogitsT: b.n('Transpose', [d], 'dlogitsT', [attr('perm', [1, 0])]) };
}

/** Optimiser update of one parameter; returns the state input names. */
function update(b: StepBuilder, p: string, g: string, outputs: string[]): string[] {
  const o = b.opts.optimizer;
  if (o.kind === 'momentum') {
    const acc = `${p}.acc`;
    const accNext = b.n('Add', [b.n('Mul', [acc, b.scalar(o.momentum)], `${p}/accm`), g], `${acc}.next`);
    outputs.push(b.n('Sub', [p, b.n('Mul', [accNext, 'lr'], `${p}/delta`)], `${p}.next`), accNext);
    return [acc];
  }
  // tfjs's Adam: w -= lr * (m/(1-beta1^t)) / (sqrt(v/(1-beta2^t)) + eps); c1, c2 are those 1/(1-beta^t).
  const [m, v] = [`${p}.m`, `${p}.v`];
  const mNext = b.n('Add', [b.n('Mul', [m, b.scalar(o.beta1)], `${p}/mb`), b.n('Mul', [g, b.scalar(1 - o.beta1)], `${p}/gb`)], `${m}.next`);
  const g2 = b.n('Mul', [g, g], `${p}/g2`);
  const vNext = b.n('Add', [b.n('Mul', [v, b.scalar(o.beta2)], `${p}/vb`), b.n('Mul', [g2, b.scalar(1 - o.beta2)], `${p}/g2b`)], `${v}.next`);
  const denom = b.n('Add', [b.n('Sqrt', [b.n('Mul', [vNext, 'c2'], `${p}/vhat`)], `${p}/sqrtv`), b.scalar(o.epsilon)], `${p}/denom`);
  const delta = b.n('Div', [b.n('Mul', [mNext, 'lr_c1'], `${p}/mhat`), denom], `${p}/delta`);
  outputs.push(b.n('Sub', [p, delta], `${p}.next`), mNext, vNext);
  return [m, v];
}

export function buildStepGraph(specs: readonly LayerSpec[], opts: StepGraphOptions): StepGraph {
  const b = new StepBuilder(opts);
  const N = opts.batch;
  for (const name of ['x', 'y', 'lr', 'c1', 'c2', 'lr_c1']) b.g.reserve(name);
  // x arrives as [N, 784] (tfjs's NHWC with one channel): [1, 28*28*N] is its transpose.
  let act = { name: b.reshape(b.n('Transpose', ['x'], 'x_t', [attr('perm', [1, 0])]), [1, 784 * N], 'x_chwn'), c: 1, h: 28, w: 28, flat: false } as Act;
  const ordered = poolBeforeRelu(specs);
  for (let i = 0; i < ordered.length; i++) {
    const s = ordered[i];
    // Nothing before the first parameterised layer needs an input gradient.
    const needInputGrad = ordered.slice(0, i).some((p) => p.kind === 'conv' || p.kind === 'dense' || p.kind === 'bn');
    switch (s.kind) {
      case 'conv': act = conv(b, s, act, needInputGrad); break;
      case 'bn': act = batchNorm(b, s, act); break;
      case 'relu': act = relu(b, s, act); break;
      case 'maxpool': {
        const fuse = ordered[i + 1]?.kind === 'relu';
        act = maxPool(b, s, act, fuse);
        if (fuse) i++;
        break;
      }
      case 'flatten': act = flatten(b, s, act); break;
      case 'dropout': act = dropout(b, s, act); break;
      case 'dense': act = dense(b, s, act, needInputGrad); break;
    }
  }
  if (!act.flat || act.f !== opts.numClasses) throw new Error(`the model must end in Dense(${opts.numClasses}) logits`);
  b.g.nodes.push({ opType: 'Mul', input: ['lr', 'c1'], output: ['lr_c1'], name: 'lr_c1/Mul', attribute: [] });
  const { loss: lossName, dLogitsT } = loss(b, act.name);
  let grad: string | null = dLogitsT;
  for (let i = b.tape.length - 1; i >= 0 && grad !== null; i--) grad = b.tape[i](grad);
  // The logits come out too (a [N, K] transpose the loss needs anyway): training accuracy.
  const outputs: string[] = [lossName, 'logits'];
  const slots: string[] = [];
  for (const p of b.params) {
    const g = b.grads.get(p.input);
    if (!g) throw new Error(`no gradient for ${p.input}`);
    const state = update(b, p.input, g, outputs);
    slots.push(...state.map((st) => st.slice(p.input.length + 1)).filter((st) => !slots.includes(st)));
  }
  outputs.push(...b.statOutputs);
  if (opts.gradients) outputs.push(...b.params.map((p) => b.grads.get(p.input)!));
  const stateInputs = b.params.flatMap((p) => slots.map((slot) => floatValueInfo(`${p.input}.${slot}`, p.dims)));
  const dimsOf = new Map<string, number[]>([[lossName, []], ['logits', [N, opts.numClasses]], ...b.stats.map((s) => [`${s.input}.next`, s.dims] as [string, number[]])]);
  for (const p of b.params) {
    dimsOf.set(`${p.input}.next`, p.dims);
    dimsOf.set(`${p.input}.grad`, p.dims);
    for (const slot of slots) dimsOf.set(`${p.input}.${slot}.next`, p.dims);
  }
  const bytes = encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'edgeloom',
    producerVersion: EDGELOOM_VERSION,
    graph: {
      name: 'edgeloom_training_step',
      node: b.g.nodes,
      initializer: b.g.initializerProtos(),
      input: [
        floatValueInfo('x', [N, 784]),
        floatValueInfo('y', [N, opts.numClasses]),
        floatValueInfo('lr', []),
        floatValueInfo('c1', []),
        floatValueInfo('c2', []),
        ...b.params.map((p) => floatValueInfo(p.input, p.dims)),
        ...stateInputs,
        ...b.stats.map((s) => floatValueInfo(s.input, s.dims)),
        ...b.masks.map((m) => floatValueInfo(m.input, m.dims)),
      ],
      output: outputs.map((o) => floatValueInfo(o, dimsOf.get(o) ?? [])),
    },
  });
  return { bytes, params: b.params, stats: b.stats, slots, masks: b.masks };
}
