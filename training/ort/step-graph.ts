import { attr, encodeModel, floatValueInfo } from '../../src/onnx/proto.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';
import { consumers, poolBeforeRelu, type LayerSpec } from './plan.ts';
import { StepBuilder, type Act, type Backward, type MaskSpec, type ParamSpec, type StatSpec, type StepGraphOptions } from './step-builder.ts';
import { add, batchNorm, conv, dense, dropout, flatten, globalAveragePool, pool, relu, type Rule } from './step-layers.ts';

export type { OptimizerSpec, ParamSpec, StatSpec, StepGraphOptions } from './step-builder.ts';

/**
 * One training step (forward, softmax cross-entropy, backward, optimiser update) as one ONNX graph
 * of standard opset-13 operators, for onnxruntime's cpu provider.
 *
 * Layout: activations are [C, H, W, N] (channels outermost, batch innermost), kept as 2-D
 * [C, H*W*N] matrices. Then every convolution is one large GEMM over the whole batch: its patch
 * matrix [Cin*kh*kw, H'*W'*N] is a single Gather of the input (rows of N contiguous floats),
 * the forward pass is W[Cout, Cin*k] x patches, the filter gradient dY x patchesᵀ reuses the same
 * patches, and the input gradient is the same kind of GEMM with the transposed filter over
 * patches of dY. BatchNorm statistics are row reductions, 2x2 pooling is two reductions over
 * a middle axis of size 2, and Dense is Gemm with the batch as columns (step-layers.ts). The model
 * may branch (residual blocks): the gradients reaching a value read by several layers are summed.
 * Weights and optimiser state are graph inputs and come back as outputs named `<input>.next`.
 */
export interface StepGraph {
  bytes: Uint8Array;
  params: ParamSpec[];
  stats: StatSpec[];
  /** Names of optimiser-state inputs per parameter, in order (Adam: m, v; momentum: accumulator). */
  slots: string[];
  /** Dropout masks, inputs of values 0 or 1/(1-rate). */
  masks: MaskSpec[];
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

/**
 * Optimiser update of one parameter, as tfjs's optimisers do it; returns the state input names.
 * `decay`: decoupled weight decay after the step, w <- w * (1 - lr * wd), as
 * training/trainer/optim.ts applies it to the kernels (the `decay` factor is computed once per step).
 */
function update(b: StepBuilder, p: string, g: string, outputs: string[], decay: boolean): string[] {
  const o = b.opts.optimizer;
  const next = (delta: string) => {
    if (!decay) return b.n('Sub', [p, delta], `${p}.next`);
    return b.n('Mul', [b.n('Sub', [p, delta], `${p}/stepped`), 'decay'], `${p}.next`);
  };
  if (o.kind === 'momentum') {
    const acc = `${p}.acc`;
    const accNext = b.n('Add', [b.n('Mul', [acc, b.scalar(o.momentum)], `${p}/accm`), g], `${acc}.next`);
    outputs.push(next(b.n('Mul', [accNext, 'lr'], `${p}/delta`)), accNext);
    return [acc];
  }
  if (o.kind === 'adagrad') {
    // tfjs's Adagrad: acc += g²; w -= lr * g / sqrt(acc + eps), acc starting at `initial`.
    const acc = `${p}.g2sum`;
    const accNext = b.n('Add', [acc, b.n('Mul', [g, g], `${p}/g2`)], `${acc}.next`);
    const denom = b.n('Sqrt', [b.n('Add', [accNext, b.scalar(o.epsilon)], `${p}/acceps`)], `${p}/denom`);
    outputs.push(next(b.n('Mul', [b.n('Div', [g, denom], `${p}/scaled`), 'lr'], `${p}/delta`)), accNext);
    return [acc];
  }
  // tfjs's Adam: w -= lr * (m/(1-beta1^t)) / (sqrt(v/(1-beta2^t)) + eps); c1, c2 are those 1/(1-beta^t).
  const [m, v] = [`${p}.m`, `${p}.v`];
  const mNext = b.n('Add', [b.n('Mul', [m, b.scalar(o.beta1)], `${p}/mb`), b.n('Mul', [g, b.scalar(1 - o.beta1)], `${p}/gb`)], `${m}.next`);
  const g2 = b.n('Mul', [g, g], `${p}/g2`);
  const vNext = b.n('Add', [b.n('Mul', [v, b.scalar(o.beta2)], `${p}/vb`), b.n('Mul', [g2, b.scalar(1 - o.beta2)], `${p}/g2b`)], `${v}.next`);
  const denom = b.n('Add', [b.n('Sqrt', [b.n('Mul', [vNext, 'c2'], `${p}/vhat`)], `${p}/sqrtv`), b.scalar(o.epsilon)], `${p}/denom`);
  const delta = b.n('Div', [b.n('Mul', [mNext, 'lr_c1'], `${p}/mhat`), denom], `${p}/delta`);
  outputs.push(next(delta), mNext, vNext);
  return [m, v];
}

interface TapeEntry {
  out: string;
  inputs: string[];
  back: Backward;
}

/** The forward pass in spec order; returns the logits and the tape of backward rules. */
function forward(b: StepBuilder, specs: readonly LayerSpec[]): { logits: Act; output: string; tape: TapeEntry[] } {
  const N = b.opts.batch;
  const acts = new Map<string, Act>();
  const tape: TapeEntry[] = [];
  const ordered = poolBeforeRelu(specs);
  const readers = consumers(ordered);
  let last: { act: Act; out: string } | null = null;
  for (let i = 0; i < ordered.length; i++) {
    const s = ordered[i];
    const xs = s.inputs.map((name) => acts.get(name)!);
    let out = s.name;
    let rule: Rule;
    switch (s.kind) {
      case 'input':
        // x arrives as [N, 784] (tfjs's NHWC with one channel): [1, 28*28*N] is its transpose.
        rule = [{ name: b.reshape(b.n('Transpose', ['x'], 'x_t', [attr('perm', [1, 0])]), [1, 784 * N], 'x_chwn'), c: 1, h: 28, w: 28, flat: false, trainable: false, reluOut: false }, null];
        break;
      case 'conv': rule = conv(b, s, xs); break;
      case 'bn': rule = batchNorm(b, s, xs); break;
      case 'relu': rule = relu(b, s, xs); break;
      case 'add': rule = add(b, s, xs); break;
      case 'maxpool': {
        const next = ordered[i + 1];
        const fuse = next?.kind === 'relu' && next.inputs[0] === s.name && readers.get(s.name) === 1;
        rule = pool(b, s, 'max', xs, fuse);
        if (fuse) {
          out = next.name;
          i++;
        }
        break;
      }
      case 'avgpool': rule = pool(b, s, 'avg', xs, false); break;
      case 'gap': rule = globalAveragePool(b, s, xs); break;
      case 'flatten': rule = flatten(b, s, xs); break;
      case 'dropout': rule = dropout(b, s, xs); break;
      case 'dense': rule = dense(b, s, xs); break;
    }
    const [act, back] = rule;
    acts.set(out, act);
    if (back) tape.push({ out, inputs: s.inputs, back });
    last = { act, out };
  }
  return { logits: last!.act, output: last!.out, tape };
}

/** Runs the tape backwards from the logits' gradient, summing the gradients of values read twice. */
function backward(b: StepBuilder, tape: readonly TapeEntry[], output: string, dLogits: string): void {
  const pending = new Map<string, string[]>([[output, [dLogits]]]);
  for (let i = tape.length - 1; i >= 0; i--) {
    const { out, inputs, back } = tape[i];
    const parts = pending.get(out);
    if (!parts) continue;
    const dInputs = back(b.sum(parts, `${out}/dsum`));
    inputs.forEach((name, k) => {
      const d = dInputs[k];
      if (d) pending.set(name, [...(pending.get(name) ?? []), d]);
    });
  }
}

export function buildStepGraph(specs: readonly LayerSpec[], opts: StepGraphOptions): StepGraph {
  const b = new StepBuilder(opts);
  const N = opts.batch;
  for (const name of ['x', 'y', 'lr', 'c1', 'c2', 'lr_c1', 'decay']) b.g.reserve(name);
  const { logits, output, tape } = forward(b, specs);
  if (!logits.flat || logits.f !== opts.numClasses) throw new Error(`the model must end in Dense(${opts.numClasses}) logits`);
  b.g.nodes.push({ opType: 'Mul', input: ['lr', 'c1'], output: ['lr_c1'], name: 'lr_c1/Mul', attribute: [] });
  const weightDecay = opts.weightDecay ?? 0;
  if (weightDecay > 0) {
    const lrWd = b.n('Mul', ['lr', b.scalar(weightDecay)], 'lr_wd');
    b.g.nodes.push({ opType: 'Sub', input: [b.scalar(1), lrWd], output: ['decay'], name: 'decay/Sub', attribute: [] });
  }
  const { loss: lossName, dLogitsT } = loss(b, logits.name);
  backward(b, tape, output, dLogitsT);
  // The logits come out too (a [N, K] transpose the loss needs anyway): training accuracy.
  const outputs: string[] = [lossName, 'logits'];
  const slots: string[] = [];
  for (const p of b.params) {
    const g = b.grads.get(p.input);
    if (!g) throw new Error(`no gradient for ${p.input}`);
    const state = update(b, p.input, g, outputs, weightDecay > 0 && p.weight === 'kernel');
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
