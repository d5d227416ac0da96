import {
  attr, DataType, decodeModel, floatTensor, getIntAttr, int32Tensor, int8Tensor, makeNode, tensorDims, tensorFloats, uint8Tensor,
  type ModelProto, type NodeProto, type TensorProto,
} from '../../src/onnx/proto.ts';
import { computeScaleZeroPoint, quantRange, quantizeBias, quantizeWeights, type QuantParams } from './math.ts';

/**
 * Rewrites a float model into QDQ form (QuantizeLinear/DequantizeLinear pairs around float ops),
 * laid out so onnxruntime's CPU provider fuses the groups into integer kernels: each quantized
 * op's output feeds exactly one QuantizeLinear, Q and DQ of a tensor share one scale/zero point,
 * every consumer gets its own DequantizeLinear, and graph outputs are produced by a DQ (float).
 * Q/DQ nodes are left unnamed (the name is optional; their output tensor names say what they are):
 * their names were 2.5 KB of edgenet's 282 KB int8 file.
 */
export interface QdqOptions {
  target: 'cpu' | 'tensorrt';
  perChannel: boolean;
  reduceRange: boolean;
}

/** Ops whose activations (inputs and outputs) are quantized on the CPU target. */
const CPU_QUANT_OPS = new Set(['Conv', 'Gemm', 'MatMul', 'Add', 'Mul', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Flatten', 'Concat']);
/** Ops that only move or select values: their output keeps the input's scale/zero point. */
const SHARE_PARAMS_OPS = new Set(['MaxPool', 'GlobalMaxPool', 'Flatten', 'Reshape', 'Transpose']);
const WEIGHTED_OPS = new Set(['Conv', 'Gemm']);

export interface Graph {
  model: ModelProto;
  nodes: NodeProto[];
  inits: Map<string, TensorProto>;
  outputs: Set<string>;
}

export function loadGraph(bytes: Uint8Array): Graph {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  return {
    model,
    nodes: [...(graph.node ?? [])],
    inits: new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t])),
    outputs: new Set((graph.output ?? []).map((o) => o.name ?? '')),
  };
}

function consumersOf(nodes: NodeProto[], tensor: string): NodeProto[] {
  return nodes.filter((n) => (n.input ?? []).includes(tensor));
}

/**
 * CPU target: a Relu (or Clip from 0) right after a Conv/Gemm/Add is dropped and its output
 * quantized instead; with uint8 and a range starting at 0 the zero point is 0 = qmin, so the
 * quantizer's clamp is the ReLU. The tensor keeps the activation's name, so calibration on the
 * original model sees post-activation values.
 */
export function removeQuantizableActivations(g: Graph): string[] {
  const removed: string[] = [];
  for (const act of [...g.nodes]) {
    if (act.opType !== 'Relu' && act.opType !== 'Clip') continue;
    if (act.opType === 'Clip') {
      const lo = act.input?.[1] ? g.inits.get(act.input[1]) : undefined;
      if (!lo || tensorFloats(lo)[0] !== 0) continue;
    }
    const pre = act.input![0];
    const producer = g.nodes.find((n) => (n.output ?? []).includes(pre));
    if (!producer || !['Conv', 'Gemm', 'Add'].includes(producer.opType ?? '')) continue;
    if (g.outputs.has(pre) || consumersOf(g.nodes, pre).length !== 1) continue;
    producer.output = [act.output![0]];
    g.nodes.splice(g.nodes.indexOf(act), 1);
    removed.push(act.output![0]);
  }
  return removed;
}

function isActivation(g: Graph, t: string): boolean {
  return t !== '' && !g.inits.has(t);
}

/** Activation tensors to quantize (and so to calibrate), in graph order. */
export function tensorsToQuantize(g: Graph, target: QdqOptions['target']): string[] {
  const out = new Set<string>();
  for (const n of g.nodes) {
    const op = n.opType ?? '';
    if (target === 'tensorrt') {
      if (WEIGHTED_OPS.has(op) || op === 'MatMul') out.add(n.input![0]);
      continue;
    }
    if (!CPU_QUANT_OPS.has(op)) continue;
    const ins = op === 'Conv' || op === 'Gemm' ? [n.input![0]] : (n.input ?? []).filter((t) => isActivation(g, t));
    for (const t of ins) out.add(t);
    // Outputs nobody reads inside the graph (logits) stay float: no Q only to DQ again.
    for (const t of n.output ?? []) if (consumersOf(g.nodes, t).length > 0) out.add(t);
  }
  return [...out];
}

export interface QdqResult {
  nodes: NodeProto[];
  initializers: TensorProto[];
  activationParams: Map<string, QuantParams>;
}

export function insertQdq(g: Graph, ranges: Map<string, [number, number]>, opts: QdqOptions): QdqResult {
  const actType = opts.target === 'tensorrt' ? 'int8' : 'uint8';
  const actSymmetric = opts.target === 'tensorrt';
  const [aqmin, aqmax] = quantRange(actType, actSymmetric);
  const [wqmin, wqmax] = quantRange('int8', true, opts.reduceRange);
  const inits = new Map(g.inits);
  const newNodes: NodeProto[] = [];
  // Every name this pass adds is checked against the model's: a BN's `X/scale` initializer and the
  // quantization scale of tensor X must never be the same tensor.
  const taken = new Set<string>([...inits.keys(), 'input', ...g.nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])]);
  const names = new Map<string, string>();
  const nameFor = (key: string): string => {
    let name = names.get(key);
    if (name) return name;
    name = key;
    for (let i = 1; taken.has(name); i++) name = `${key}_${i}`;
    taken.add(name);
    names.set(key, name);
    return name;
  };
  const sc = (t: string) => nameFor(`${t}/q_scale`);
  const zp = (t: string) => nameFor(`${t}/q_zero_point`);
  const qn = (t: string) => nameFor(`${t}/q`);
  const producer = new Map<string, NodeProto>();
  for (const n of g.nodes) for (const o of n.output ?? []) producer.set(o, n);

  // Scale/zero point per activation tensor, following shared-parameter ops back to their source.
  const params = new Map<string, QuantParams>();
  const paramsOf = (t: string): QuantParams => {
    const known = params.get(t);
    if (known) return known;
    const p = producer.get(t);
    let result: QuantParams;
    if (opts.target === 'cpu' && p && SHARE_PARAMS_OPS.has(p.opType ?? '') && ranges.has(p.input![0])) result = paramsOf(p.input![0]);
    else {
      const r = ranges.get(t);
      if (!r) throw new Error(`no calibration range for tensor ${t}`);
      result = computeScaleZeroPoint(r[0], r[1], aqmin, aqmax, actSymmetric);
    }
    params.set(t, result);
    return result;
  };
  const zpTensor = (name: string, dims: number[], values: number[], type: 'uint8' | 'int8') =>
    type === 'uint8' ? uint8Tensor(name, dims, Uint8Array.from(values)) : int8Tensor(name, dims, Int8Array.from(values));

  const quantized = new Set(ranges.keys());
  for (const t of quantized) {
    const p = paramsOf(t);
    inits.set(sc(t), floatTensor(sc(t), [], new Float32Array([p.scale])));
    inits.set(zp(t), zpTensor(zp(t), [], [p.zeroPoint], actType));
  }
  // Producer output `t` becomes `t/float` -> Q -> `t/q`; each reader (and a graph output) gets a DQ.
  const rename = (t: string) => (quantized.has(t) ? nameFor(`${t}/float`) : t);
  let dqCount = 0;
  const dqFor = (t: string): string => {
    const out = nameFor(`${t}/dq${dqCount++}`);
    newNodes.push(makeNode('DequantizeLinear', [qn(t), sc(t), zp(t)], [out], ''));
    return out;
  };
  const emitQ = (t: string, source = rename(t)) => newNodes.push(makeNode('QuantizeLinear', [source, sc(t), zp(t)], [qn(t)], ''));
  // The graph input has no producer to rename: quantize it where it enters.
  if (quantized.has('input')) emitQ('input', 'input');

  const weightDq = new Map<string, string>();
  for (const n of g.nodes) {
    const op = n.opType ?? '';
    const inputs = [...(n.input ?? [])];
    for (let i = 0; i < inputs.length; i++) if (quantized.has(inputs[i])) inputs[i] = dqFor(inputs[i]);
    if (WEIGHTED_OPS.has(op) && inits.has(n.input![1])) {
      const wName = n.input![1];
      const w = inits.get(wName)!;
      const axis = op === 'Conv' ? 0 : getIntAttr(n, 'transB', 0) === 1 ? 0 : 1;
      const key = `${wName}@${axis}`;
      if (!weightDq.has(key)) weightDq.set(key, quantizeWeightInit(inits, newNodes, nameFor, wName, w, axis, opts.perChannel, wqmin, wqmax));
      inputs[1] = weightDq.get(key)!;
      const biasName = n.input![2];
      if (opts.target === 'cpu' && biasName && inits.has(biasName) && quantized.has(n.input![0])) {
        const wScales = tensorFloats(inits.get(nameFor(`${wName}/w_scale`))!);
        const q = quantizeBias(tensorFloats(inits.get(biasName)!), paramsOf(n.input![0]).scale, Array.from(wScales));
        const qb = nameFor(`${biasName}/quantized`);
        const qbScale = nameFor(`${biasName}/b_scale`);
        // One bias scale per weight scale: per output channel exactly when the weights are.
        const perAxis = wScales.length > 1;
        inits.set(qb, int32Tensor(qb, [q.values.length], q.values));
        inits.set(qbScale, floatTensor(qbScale, perAxis ? [q.scales.length] : [], perAxis ? q.scales : q.scales.subarray(0, 1)));
        // No zero-point input: ONNX defaults it to 0, and an all-zero int32 vector per channel would
        // add 4 bytes per channel to the file for nothing (edgenet: 3.7 KB, 1.3% of the int8 file).
        const out = nameFor(`${biasName}/dequantized`);
        newNodes.push(makeNode('DequantizeLinear', [qb, qbScale], [out], '', perAxis ? [attr('axis', 0)] : []));
        inputs[2] = out;
      }
    }
    const outputs = (n.output ?? []).map(rename);
    newNodes.push({ ...n, input: inputs, output: outputs });
    for (const o of n.output ?? []) if (quantized.has(o)) emitQ(o);
  }
  // Graph outputs that were quantized are produced by their own DQ, under their original name.
  for (const o of g.outputs) {
    if (!quantized.has(o)) continue;
    newNodes.push(makeNode('DequantizeLinear', [qn(o), sc(o), zp(o)], [o], ''));
  }
  // Drop float initializers nothing reads any more (the weights now stored as int8).
  const used = new Set(newNodes.flatMap((n) => n.input ?? []));
  const initializers = [...inits.values()].filter((t) => used.has(t.name ?? ''));
  return { nodes: newNodes, initializers, activationParams: params };
}

function quantizeWeightInit(inits: Map<string, TensorProto>, nodes: NodeProto[], nameFor: (key: string) => string, name: string, w: TensorProto, axis: number, perChannel: boolean, qmin: number,
  qmax: number): string {
  if (w.dataType !== DataType.FLOAT) throw new Error(`weight ${name} is not float32`);
  const dims = tensorDims(w);
  const q = quantizeWeights(tensorFloats(w), dims, axis, perChannel, qmin, qmax, true);
  const qName = nameFor(`${name}/quantized`);
  const scale = nameFor(`${name}/w_scale`);
  const zero = nameFor(`${name}/w_zero_point`);
  const n = q.params.length;
  inits.set(qName, int8Tensor(qName, dims, Int8Array.from(q.values)));
  inits.set(scale, floatTensor(scale, perChannel ? [n] : [], Float32Array.from(q.params, (p) => p.scale)));
  inits.set(zero, int8Tensor(zero, perChannel ? [n] : [], Int8Array.from(q.params, (p) => p.zeroPoint)));
  const out = nameFor(`${name}/dequantized`);
  nodes.push(makeNode('DequantizeLinear', [qName, scale, zero], [out], '', perChannel ? [attr('axis', axis)] : []));
  return out;
}
