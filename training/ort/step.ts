import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../src/random.ts';
import { createGraphSession, type FloatTensor, type GraphSession, type GraphSessionOptions } from '../../src/onnx/session.ts';
import { convKernelFromOnnx, convKernelToOnnx } from '../onnx/graph.ts';
import { planLayers, type LayerSpec } from './plan.ts';
import { buildStepGraph, type OptimizerSpec, type ParamSpec, type StatSpec, type StepGraph } from './step-graph.ts';

/**
 * A tfjs model's training step run by onnxruntime (`--backend ort`). The weights,
 * the optimiser state and the BatchNorm moving statistics live here as Float32Arrays between steps
 * (in the graph's layouts); `writeTo(model)` puts them back into the tfjs model for checkpoints,
 * evaluation and export.
 */
export interface OrtStepConfig {
  batch: number;
  numClasses: number;
  /** Default: tfjs's Adam (beta1 0.9, beta2 0.999, epsilon 1e-7, tfjs's float32 epsilon). */
  optimizer?: OptimizerSpec;
  /** Seeds the dropout masks the step draws when the caller passes neither masks nor a seed (default 1). */
  seed?: number;
  /** Decoupled weight decay of the conv and dense kernels, as training/trainer/optim.ts (default 0). */
  weightDecay?: number;
  gradients?: boolean;
  session?: GraphSessionOptions;
}

export const TFJS_ADAM: OptimizerSpec = { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
/** tfjs's Adagrad: accumulators start at 0.1; epsilon is the float32 back ends' 1e-7. */
export const TFJS_ADAGRAD: OptimizerSpec = { kind: 'adagrad', initial: 0.1, epsilon: 1e-7 };

/**
 * The graph's optimiser slots as tfjs's optimisers name them in getWeights()/setWeights()
 * (`<variable>/<suffix>`, after one `iter` scalar), so a checkpoint's optimiser state reads the same
 * whichever back end wrote it. tfjs's plain SGD (momentum 0) keeps no slot.
 */
function tfjsSlots(o: OptimizerSpec): { slot: string; suffix: string }[] {
  if (o.kind === 'adam') return [{ slot: 'm', suffix: 'm' }, { slot: 'v', suffix: 'v' }];
  if (o.kind === 'adagrad') return [{ slot: 'g2sum', suffix: 'accumulator' }];
  return o.momentum > 0 ? [{ slot: 'acc', suffix: 'momentum' }] : [];
}

export interface StepResult {
  loss: number;
  /** [N, numClasses] logits of the training forward pass (batch statistics, dropout). */
  logits: Float32Array;
  /** Per parameter, in tfjs layout and keyed `<layer>/<weight>`, when the graph was built with gradients. */
  grads?: Map<string, Float32Array>;
}

function layerWeight(model: tf.LayersModel, layer: string, weight: string): tf.LayerVariable {
  const found = model.getLayer(layer).weights.find((w) => w.originalName.split('/').pop() === weight);
  if (!found) throw new Error(`layer ${layer}: weight ${weight} not found`);
  return found;
}

/** tfjs layout -> graph layout. */
function toGraph(p: ParamSpec, values: Float32Array): Float32Array {
  if (p.conv) return convKernelToOnnx(values, ...p.conv);
  if (p.dense) return moveDenseKernel(p, values, 'to-graph');
  return Float32Array.from(values);
}

/** Graph layout -> tfjs layout. */
export function fromGraph(p: ParamSpec, values: Float32Array): Float32Array {
  if (p.conv) {
    const [kh, kw, cin, cout] = p.conv;
    return convKernelFromOnnx(values, cout, cin, kh, kw);
  }
  if (p.dense) return moveDenseKernel(p, values, 'from-graph');
  return Float32Array.from(values);
}

/**
 * A Dense kernel between tfjs's [features, units] and the graph's [units, features], where graph
 * column j holds tfjs row perm[j]; one index map, read in either direction.
 */
function moveDenseKernel(p: ParamSpec, values: Float32Array, direction: 'to-graph' | 'from-graph'): Float32Array {
  const [units, features] = p.dims;
  const perm = p.dense?.perm;
  const out = new Float32Array(values.length);
  for (let j = 0; j < features; j++) {
    const row = perm ? perm[j] : j;
    for (let u = 0; u < units; u++) {
      const graph = u * features + j;
      const tfjs = row * units + u;
      if (direction === 'to-graph') out[graph] = values[tfjs];
      else out[tfjs] = values[graph];
    }
  }
  return out;
}

/** A dropout mask from a seeded stream: 0 with probability `rate`, else 1/(1-rate). */
function drawMask(rng: () => number, size: number, rate: number): Float32Array {
  const mask = new Float32Array(size);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < size; i++) mask[i] = rng() < rate ? 0 : keep;
  return mask;
}

/** An optimiser weight as tfjs's Optimizer.getWeights() returns it. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

interface BatchSession {
  session: GraphSession;
  graph: StepGraph;
}

export class OrtTrainingStep {
  private readonly values = new Map<string, Float32Array>();
  /** One graph per batch size (the last batch of an epoch is smaller); every graph names its inputs alike. */
  private readonly sessions = new Map<number, Promise<BatchSession>>();
  private t = 0;
  private readonly rng: () => number;

  private constructor(
    private readonly specs: LayerSpec[],
    readonly graph: StepGraph,
    private readonly cfg: OrtStepConfig & { optimizer: OptimizerSpec },
  ) {
    this.rng = createRng(cfg.seed ?? 1);
  }

  static async create(model: tf.LayersModel, cfg: OrtStepConfig): Promise<OrtTrainingStep> {
    const specs = planLayers(model);
    const full = { ...cfg, optimizer: cfg.optimizer ?? TFJS_ADAM };
    const first = OrtTrainingStep.open(specs, full, cfg.batch);
    const step = new OrtTrainingStep(specs, (await first).graph, full);
    step.sessions.set(cfg.batch, first);
    step.readFrom(model);
    return step;
  }

  private static async open(specs: LayerSpec[], cfg: OrtStepConfig & { optimizer: OptimizerSpec }, batch: number): Promise<BatchSession> {
    const graph = buildStepGraph(specs, { batch, numClasses: cfg.numClasses, optimizer: cfg.optimizer, weightDecay: cfg.weightDecay, gradients: cfg.gradients });
    return { graph, session: await createGraphSession(graph.bytes, cfg.session) };
  }

  private sessionFor(batch: number): Promise<BatchSession> {
    let s = this.sessions.get(batch);
    if (!s) {
      s = OrtTrainingStep.open(this.specs, this.cfg, batch);
      this.sessions.set(batch, s);
    }
    return s;
  }

  /** Loads weights and moving statistics from the tfjs model and resets the optimiser state. */
  readFrom(model: tf.LayersModel): void {
    const o = this.cfg.optimizer;
    const initial = o.kind === 'adagrad' ? o.initial : 0;
    for (const p of this.graph.params) {
      this.values.set(p.input, toGraph(p, layerWeight(model, p.layer, p.weight).read().dataSync() as Float32Array));
      for (const slot of this.graph.slots) this.values.set(`${p.input}.${slot}`, new Float32Array(this.values.get(p.input)!.length).fill(initial));
    }
    for (const s of this.graph.stats) this.values.set(s.input, Float32Array.from(layerWeight(model, s.layer, s.weight).read().dataSync()));
    this.t = 0;
  }

  /** Current parameters and moving statistics in tfjs layout, keyed `<layer>/<weight>`. */
  weights(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const p of this.graph.params) out.set(`${p.layer}/${p.weight}`, fromGraph(p, this.values.get(p.input)!));
    for (const s of this.graph.stats) out.set(`${s.layer}/${s.weight}`, Float32Array.from(this.values.get(s.input)!));
    return out;
  }

  /** The graph parameter of each of the model's trainable weights, in the model's order (the order tfjs's optimisers keep their slots in). */
  private paramsInModelOrder(model: tf.LayersModel): { param: ParamSpec; variable: string; shape: number[] }[] {
    const byKey = new Map(this.graph.params.map((p) => [`${p.layer}/${p.weight}`, p]));
    return model.layers.flatMap((layer) => layer.trainableWeights.map((w) => {
      const param = byKey.get(`${layer.name}/${w.originalName.split('/').pop()}`);
      if (!param) throw new Error(`weight ${w.name} has no parameter in the training step`);
      return { param, variable: w.name, shape: w.shape as number[] };
    }));
  }

  /** The optimiser state as tfjs's optimiser of the same kind returns it from getWeights() (for checkpoints). */
  optimizerWeights(model: tf.LayersModel): NamedTensor[] {
    const params = this.paramsInModelOrder(model);
    const out: NamedTensor[] = [{ name: 'iter', tensor: tf.scalar(this.t, 'int32') }];
    for (const { slot, suffix } of tfjsSlots(this.cfg.optimizer)) {
      for (const { param, variable, shape } of params) {
        out.push({ name: `${variable}/${suffix}`, tensor: tf.tensor(fromGraph(param, this.values.get(`${param.input}.${slot}`)!), shape) });
      }
    }
    return out;
  }

  /** Restores optimiser state saved by optimizerWeights() or by tfjs's optimiser of the same kind (a resumed run). */
  async setOptimizerWeights(model: tf.LayersModel, weights: readonly NamedTensor[]): Promise<void> {
    const params = this.paramsInModelOrder(model);
    const slots = tfjsSlots(this.cfg.optimizer);
    if (weights.length !== 1 + slots.length * params.length) {
      throw new Error(`optimiser state: ${weights.length} tensors, expected ${1 + slots.length * params.length} for ${this.cfg.optimizer.kind} over ${params.length} weights`);
    }
    this.t = (await weights[0].tensor.data())[0];
    slots.forEach(({ slot }, s) => params.forEach(({ param }, i) => {
      this.values.set(`${param.input}.${slot}`, toGraph(param, weights[1 + s * params.length + i].tensor.dataSync() as Float32Array));
    }));
  }

  /** Writes the current weights and moving statistics into the tfjs model. */
  writeTo(model: tf.LayersModel): void {
    const write = (spec: ParamSpec | StatSpec, values: Float32Array) => {
      const v = layerWeight(model, spec.layer, spec.weight);
      v.write(tf.tensor(values, v.shape as number[]));
    };
    for (const p of this.graph.params) write(p, fromGraph(p, this.values.get(p.input)!));
    for (const s of this.graph.stats) write(s, this.values.get(s.input)!);
  }

  /**
   * One step on `x` (batch*784 pixel/255 values) and `y` (batch*numClasses, rows summing to 1).
   * `masks` overrides the dropout masks (by input name, graph layout); the others are drawn from a
   * stream seeded with `dropoutSeed` (the trainer's per-batch seed, so a resumed run draws the same
   * masks) or, without one, from the step's own stream seeded with `seed`.
   */
  async step(x: Float32Array, y: Float32Array, lr: number, masks: Record<string, Float32Array> = {}, dropoutSeed?: number): Promise<StepResult> {
    const { numClasses } = this.cfg;
    const batch = y.length / numClasses;
    if (!Number.isInteger(batch) || x.length !== batch * 784) {
      throw new Error(`training step: ${x.length} pixels and ${y.length} targets do not make a batch of 28x28 images and ${numClasses} classes`);
    }
    const { session, graph } = await this.sessionFor(batch);
    this.t++;
    const o = this.cfg.optimizer;
    const [c1, c2] = o.kind === 'adam' ? [1 / (1 - o.beta1 ** this.t), 1 / (1 - o.beta2 ** this.t)] : [1, 1];
    const feeds: Record<string, FloatTensor> = {
      x: { data: x, dims: [batch, 784] },
      y: { data: y, dims: [batch, numClasses] },
      lr: { data: Float32Array.of(lr), dims: [] },
      c1: { data: Float32Array.of(c1), dims: [] },
      c2: { data: Float32Array.of(c2), dims: [] },
    };
    for (const p of this.graph.params) {
      feeds[p.input] = { data: this.values.get(p.input)!, dims: p.dims };
      for (const slot of this.graph.slots) feeds[`${p.input}.${slot}`] = { data: this.values.get(`${p.input}.${slot}`)!, dims: p.dims };
    }
    for (const s of this.graph.stats) feeds[s.input] = { data: this.values.get(s.input)!, dims: s.dims };
    const rng = dropoutSeed === undefined ? this.rng : createRng(dropoutSeed);
    for (const m of graph.masks) feeds[m.input] = { data: masks[m.input] ?? drawMask(rng, m.dims[0] * m.dims[1], m.rate), dims: m.dims };
    const out = await session.run(feeds);
    for (const name of this.values.keys()) this.values.set(name, out[`${name}.next`].data);
    const result: StepResult = { loss: out.loss.data[0], logits: out.logits.data };
    if (this.cfg.gradients) {
      result.grads = new Map(this.graph.params.map((p) => [`${p.layer}/${p.weight}`, fromGraph(p, out[`${p.input}.grad`].data)]));
    }
    return result;
  }

  /** Flushes the profile of the first batch size's session (profiling on in `session`). */
  async endProfiling(): Promise<void> {
    (await this.sessionFor(this.cfg.batch)).session.endProfiling();
  }

  async close(): Promise<void> {
    const open = await Promise.allSettled(this.sessions.values());
    this.sessions.clear();
    for (const s of open) if (s.status === 'fulfilled') await s.value.session.close();
  }
}
