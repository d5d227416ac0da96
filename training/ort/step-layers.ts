import { attr } from '../../src/onnx/proto.ts';
import { flattenPerm, samePads } from '../onnx/graph.ts';
import type { Activation, LayerSpec } from './plan.ts';
import type { Act, Backward, StepBuilder } from './step-builder.ts';

/**
 * The forward rule of each layer kind and its backward rule, as ONNX nodes on the [C, H*W*N]
 * layout (training/ort/step-graph.ts explains the layout). Each returns the layer's output and a
 * Backward that gives the gradients of its inputs, or null when nothing upstream trains.
 */
type Spec<K extends LayerSpec['kind']> = Extract<LayerSpec, { kind: K }>;
export type Rule = [Act, Backward | null];

type Image = Extract<Act, { flat: false }>;

function image(x: Act, layer: string, what: string): Image {
  if (x.flat) throw new Error(`layer ${layer}: ${what} after Flatten`);
  return x;
}

/** A Conv2D's or Dense's own activation, and the gradient through it (tanh' = 1 - tanh²). */
function activate(b: StepBuilder, name: string, y: string, a: Activation): { out: string; back: (dOut: string) => string } {
  if (a === 'linear') return { out: y, back: (d) => d };
  if (a === 'relu') {
    const out = b.n('Relu', [y], `${name}/relu`);
    return { out, back: (d) => b.where(b.n('Greater', [out, b.scalar(0)], `${name}/pos`), d, `${name}/drelu`) };
  }
  const out = b.n('Tanh', [y], `${name}/tanh`);
  return { out, back: (d) => b.n('Mul', [d, b.n('Sub', [b.scalar(1), b.n('Mul', [out, out], `${name}/t2`)], `${name}/dtanh`)], `${name}/dact`) };
}

/** Output size and leading pad of one axis, as TensorFlow pads 'same' (the extra pixel at the end). */
function axis(size: number, k: number, stride: number, same: boolean): { out: number; pad: number } {
  if (!same) return { out: Math.floor((size - k) / stride) + 1, pad: 0 };
  const p = samePads(size, k, stride, 1);
  return { out: p.out, pad: p.begin };
}

/**
 * Convolution as GEMMs over patch matrices. Forward: W [Cout, Cin*k] x patches(x); filter gradient:
 * dY x patches(x)ᵀ (the same patches); input gradient: Wᵀ-by-tap [Cin, Cout*k] x patches(dY), where
 * the patch of input pixel (iy, ix) at tap (ky, kx) is dY at ((iy + pad - ky) / stride), or zero
 * where that is not a whole output pixel: for stride 2, 3/4 of those patch entries are zeros (the
 * strided convolution of edgenet's downsampling block only; the others have stride 1).
 */
export function conv(b: StepBuilder, s: Spec<'conv'>, [input]: Act[]): Rule {
  const x = image(input, s.name, 'convolution');
  const k = s.kh * s.kw;
  const ay = axis(x.h, s.kh, s.sh, s.same);
  const ax = axis(x.w, s.kw, s.sw, s.same);
  const [oh, ow] = [ay.out, ax.out];
  const forward: number[] = [];
  const backward: number[] = [];
  for (let ky = 0; ky < s.kh; ky++) for (let kx = 0; kx < s.kw; kx++) {
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      const [iy, ix] = [oy * s.sh + ky - ay.pad, ox * s.sw + kx - ax.pad];
      forward.push(iy >= 0 && iy < x.h && ix >= 0 && ix < x.w ? iy * x.w + ix : -1);
    }
    for (let iy = 0; iy < x.h; iy++) for (let ix = 0; ix < x.w; ix++) {
      const [ty, tx] = [iy + ay.pad - ky, ix + ax.pad - kx];
      const [oy, ox] = [ty / s.sh, tx / s.sw];
      backward.push(Number.isInteger(oy) && Number.isInteger(ox) && oy >= 0 && oy < oh && ox >= 0 && ox < ow ? oy * ow + ox : -1);
    }
  }
  const W = b.param(s.name, 'kernel', [s.filters, x.c * k], { conv: [s.kh, s.kw, x.c, s.filters] });
  const patches = b.pick(x.name, x.c, x.h * x.w, forward, k, `${s.name}/x`);
  let y = b.n('MatMul', [W, patches], `${s.name}/conv`);
  let bias: string | null = null;
  if (s.bias) {
    bias = b.param(s.name, 'bias', [s.filters]);
    y = b.n('Add', [y, b.reshape(bias, [s.filters, 1])], `${s.name}/biased`);
  }
  const { out, back } = activate(b, s.name, y, s.activation);
  return [{ name: out, c: s.filters, h: oh, w: ow, flat: false, trainable: true, reluOut: s.activation === 'relu' }, (dOut) => {
    const dy = back(dOut);
    b.grads.set(W, b.n('Gemm', [dy, patches], `${W}.grad`, [attr('transB', 1)]));
    if (bias) b.grads.set(bias, b.n('ReduceSum', [dy, b.g.addInt64('axes', [1])], `${bias}.grad`, [attr('keepdims', 0)]));
    if (!x.trainable) return [null];
    // The 180° rotation of the textbook form is in the patch indices (tap by tap); W only transposes.
    const dPatches = b.pick(dy, s.filters, oh * ow, backward, k, `${s.name}/dy`);
    const wt = b.reshape(b.n('Transpose', [b.reshape(W, [s.filters, x.c, k])], `${s.name}/Wt`, [attr('perm', [1, 0, 2])]), [x.c, s.filters * k]);
    return [b.n('MatMul', [wt, dPatches], `${s.name}/dx`)];
  }];
}

export function batchNorm(b: StepBuilder, s: Spec<'bn'>, [x]: Act[]): Rule {
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
  return [{ ...x, name: y, trainable: true, reluOut: false }, (dy) => {
    // With x^ = xc * invStd: dbeta = sum(dy), dgamma = invStd * sum(dy * xc),
    // dx = scale * (dy - dbeta/M - xc * invStd² * sum(dy * xc)/M).
    const s1 = b.n('ReduceSum', [dy, axes()], `${s.name}/s1`, [attr('keepdims', 1)]);
    const s2 = b.n('ReduceSum', [b.n('Mul', [dy, xc], `${s.name}/dyxc`), axes()], `${s.name}/s2`, [attr('keepdims', 1)]);
    b.grads.set(beta, b.reshape(s1, [c], `${beta}.grad`));
    b.grads.set(gamma, b.reshape(b.n('Mul', [s2, invStd], `${s.name}/dgamma`), [c], `${gamma}.grad`));
    if (!x.trainable) return [null];
    const invM = b.scalar(-1 / count);
    const kx = b.n('Mul', [b.n('Mul', [scale, b.n('Mul', [invStd, invStd], `${s.name}/ivar`)], `${s.name}/sv`), b.n('Mul', [s2, invM], `${s.name}/s2m`)], `${s.name}/kx`);
    const k0 = b.n('Mul', [scale, b.n('Mul', [s1, invM], `${s.name}/s1m`)], `${s.name}/k0`);
    const part = b.n('Add', [b.n('Mul', [dy, scale], `${s.name}/dys`), b.n('Mul', [xc, kx], `${s.name}/xck`)], `${s.name}/dxp`);
    return [b.n('Add', [part, k0], `${s.name}/dx`)];
  }];
}

export function relu(b: StepBuilder, s: { name: string }, [x]: Act[]): Rule {
  const y = b.n('Relu', [x.name], `${s.name}/relu`);
  return [{ ...x, name: y, reluOut: true }, x.trainable ? (dy) => [b.where(b.n('Greater', [y, b.scalar(0)], `${s.name}/pos`), dy, `${s.name}/drelu`)] : null];
}

export function add(b: StepBuilder, s: { name: string }, [x, y]: Act[]): Rule {
  const sum = b.n('Add', [x.name, y.name], `${s.name}/add`);
  const trainable = x.trainable || y.trainable;
  return [{ ...x, name: sum, trainable, reluOut: false }, trainable ? (dy) => [x.trainable ? dy : null, y.trainable ? dy : null] : null];
}

/**
 * 2x2/2 pooling of x [C, H*W*N] as reductions over two middle axes of size 2 (an odd last row or
 * column is dropped, as 'valid' pooling drops it). Average pooling: the gradient is a quarter of dy
 * in each of its window's four entries. Max pooling sends the gradient to the window's first
 * maximum, as tfjs does; ties are common where the input repeats a value (BatchNorm of a ReLU's
 * zeros, lenet5-bn). Where the input is a ReLU's output the tie-free route is exact and cheaper:
 * every entry equal to the max gets the gradient (one Equal and one masked multiply), since a tie
 * at 0 carries no gradient through the ReLU and ties at positive values have probability zero.
 * With `fusedRelu` (a ReLU that poolBeforeRelu moved after the pool), entries equal to relu(max)
 * are exactly those of a positive max, so the same route gives both gradients.
 */
export function pool(b: StepBuilder, s: { name: string }, kind: 'max' | 'avg', [input]: Act[], fusedRelu: boolean): Rule {
  const x = image(input, s.name, 'pooling');
  const N = b.opts.batch;
  const [c, h2, w2] = [x.c, Math.floor(x.h / 2), Math.floor(x.w / 2)];
  const odd = x.h % 2 !== 0 || x.w % 2 !== 0;
  const cropped = odd
    ? b.n('Slice', [b.reshape(x.name, [c, x.h, x.w, N]), b.g.addInt64('starts', [0, 0]), b.g.addInt64('ends', [2 * h2, 2 * w2]), b.g.addInt64('axes', [1, 2])], `${s.name}/crop`)
    : x.name;
  const windows = [c * h2, 2, w2, 2, N];
  const one = [c * h2, 1, w2, 1, N];
  const firstMax = kind === 'max' && !fusedRelu && !x.reluOut;
  // The first-maximum route needs each window's four entries on one axis, in tfjs's row-major order.
  const grouped = firstMax ? b.reshape(b.n('Transpose', [b.reshape(cropped, windows)], `${s.name}/group`, [attr('perm', [0, 2, 1, 3, 4])]), [c * h2 * w2, 4, N]) : null;
  let pooled: string;
  if (grouped) {
    pooled = b.n('ReduceMax', [grouped], `${s.name}/pool`, [attr('axes', [1]), attr('keepdims', 0)]);
  } else {
    // ReduceMean of two means is the mean of four; ReduceSum takes its axes as an input in opset 13.
    const op = kind === 'max' ? 'ReduceMax' : 'ReduceMean';
    const rows = b.n(op, [b.reshape(cropped, [c * h2, 2, 2 * w2 * N])], `${s.name}/rows`, [attr('axes', [1]), attr('keepdims', 0)]);
    pooled = b.n(op, [b.reshape(rows, [c * h2 * w2, 2, N])], `${s.name}/pool`, [attr('axes', [1]), attr('keepdims', 0)]);
  }
  const y = b.reshape(fusedRelu ? b.n('Relu', [pooled], `${s.name}/relu`) : pooled, [c, h2 * w2 * N], `${s.name}/y`);
  const out: Act = { name: y, c, h: h2, w: w2, flat: false, trainable: x.trainable, reluOut: fusedRelu || (kind === 'max' && x.reluOut) };
  if (!x.trainable) return [out, null];
  return [out, (dy) => {
    let dWin: string;
    if (grouped) {
      const first = b.n('ArgMax', [grouped], `${s.name}/argmax`, [attr('axis', 1), attr('keepdims', 1)]);
      const hit = b.n('Equal', [first, b.int64(`${s.name}/taps`, [1, 4, 1], [0, 1, 2, 3])], `${s.name}/first`);
      const dGrouped = b.reshape(b.where(hit, b.reshape(dy, [c * h2 * w2, 1, N]), `${s.name}/dgroup`), [c * h2, w2, 2, 2, N]);
      dWin = b.n('Transpose', [dGrouped], `${s.name}/dwin`, [attr('perm', [0, 2, 1, 3, 4])]);
    } else if (kind === 'max') {
      const hit = b.n('Equal', [b.reshape(cropped, windows), b.reshape(y, one)], `${s.name}/argmax`);
      dWin = b.where(hit, b.reshape(dy, one), `${s.name}/dwin`);
    } else {
      dWin = b.n('Expand', [b.n('Mul', [b.reshape(dy, one), b.scalar(0.25)], `${s.name}/dq`), b.shape(windows)], `${s.name}/dwin`);
    }
    if (!odd) return [b.reshape(dWin, [c, x.h * x.w * N], `${s.name}/dx`)];
    const pads = b.g.addInt64(`${s.name}/pads`, [0, 0, 0, 0, 0, x.h - 2 * h2, x.w - 2 * w2, 0]);
    return [b.reshape(b.n('Pad', [b.reshape(dWin, [c, 2 * h2, 2 * w2, N]), pads], `${s.name}/dpad`), [c, x.h * x.w * N], `${s.name}/dx`)];
  }];
}

/** Global average pooling: [C, H*W*N] -> [C, N] features (channel order, as tfjs's [N, C]). */
export function globalAveragePool(b: StepBuilder, s: { name: string }, [input]: Act[]): Rule {
  const x = image(input, s.name, 'global pooling');
  const N = b.opts.batch;
  const hw = x.h * x.w;
  const y = b.n('ReduceMean', [b.reshape(x.name, [x.c, hw, N])], `${s.name}/gap`, [attr('axes', [1]), attr('keepdims', 0)]);
  const out: Act = { name: y, f: x.c, perm: null, flat: true, trainable: x.trainable, reluOut: false };
  if (!x.trainable) return [out, null];
  return [out, (dy) => {
    const spread = b.n('Expand', [b.n('Mul', [b.reshape(dy, [x.c, 1, N]), b.scalar(1 / hw)], `${s.name}/dmean`), b.shape([x.c, hw, N])], `${s.name}/dspread`);
    return [b.reshape(spread, [x.c, hw * N], `${s.name}/dx`)];
  }];
}

export function flatten(b: StepBuilder, s: { name: string }, [x]: Act[]): Rule {
  if (x.flat) return [x, (dy) => [dy]];
  const N = b.opts.batch;
  const f = x.c * x.h * x.w;
  const out: Act = { name: b.reshape(x.name, [f, N], `${s.name}/flat`), f, perm: flattenPerm(x.c, x.h, x.w), flat: true, trainable: x.trainable, reluOut: x.reluOut };
  return [out, x.trainable ? (dy) => [b.reshape(dy, [x.c, x.h * x.w * N], `${s.name}/dx`)] : null];
}

export function dropout(b: StepBuilder, s: Spec<'dropout'>, [x]: Act[]): Rule {
  if (s.rate <= 0) return [x, (dy) => [dy]];
  const dims = x.flat ? [x.f, b.opts.batch] : [x.c, x.h * x.w * b.opts.batch];
  // RandomUniformLike took 6.8 of 275 ms (a Mersenne twister per value); the caller draws the mask.
  const mask = b.g.uniqueName(`${s.name}/mask`);
  b.masks.push({ input: mask, dims, rate: s.rate, perm: x.flat ? x.perm : null });
  const y = b.n('Mul', [x.name, mask], `${s.name}/y`);
  return [{ ...x, name: y }, x.trainable ? (dy) => [b.n('Mul', [dy, mask], `${s.name}/dx`)] : null];
}

export function dense(b: StepBuilder, s: Spec<'dense'>, [x]: Act[]): Rule {
  if (!x.flat) throw new Error(`layer ${s.name}: Dense on an image (add Flatten)`);
  const W = b.param(s.name, 'kernel', [s.units, x.f], { dense: { perm: x.perm } });
  const bias = b.param(s.name, 'bias', [s.units]);
  const pre = b.n('Gemm', [W, x.name, b.reshape(bias, [s.units, 1])], `${s.name}/gemm`);
  const { out, back } = activate(b, s.name, pre, s.activation);
  return [{ name: out, f: s.units, perm: null, flat: true, trainable: true, reluOut: s.activation === 'relu' }, (dOut) => {
    const dy = back(dOut);
    b.grads.set(W, b.n('Gemm', [dy, x.name], `${W}.grad`, [attr('transB', 1)]));
    b.grads.set(bias, b.n('ReduceSum', [dy, b.g.addInt64('axes', [1])], `${bias}.grad`, [attr('keepdims', 0)]));
    return [x.trainable ? b.n('MatMul', [b.n('Transpose', [W], `${s.name}/Wt`, [attr('perm', [1, 0])]), dy], `${s.name}/dx`) : null];
  }];
}
