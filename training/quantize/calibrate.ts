import { IMAGE_PIXELS } from '../../src/classes.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { attr, decodeModel, encodeModel, floatValueInfo, int64Tensor, floatTensor, makeNode, type ModelProto, type NodeProto } from '../../src/onnx/proto.ts';
import { TensorStats, calibratedRange, type CalibrationMethod } from './histogram.ts';

/**
 * Calibration: runs the float model on sample images and records statistics of every activation
 * tensor that will be quantized. The session API returns only `logits` and `embedding`, so the
 * calibration copy of the model exposes all requested tensors through `embedding`: per row, first
 * each tensor's element count (ReduceSum of ones), then each tensor flattened.
 */
export interface CalibrationOptions {
  method: CalibrationMethod;
  percentile: number;
  /** uint8 activations (cpu target): a non-negative tensor gets all 256 levels. */
  asymmetric?: boolean;
  batchSize?: number;
}

export function buildCalibrationModel(modelBytes: Uint8Array, tensors: readonly string[]): Uint8Array {
  const model: ModelProto = decodeModel(modelBytes);
  const graph = model.graph!;
  const nodes: NodeProto[] = [...(graph.node ?? [])];
  // Free the name `embedding` for the probe output; keep the original tensor under another name.
  const renamed = 'embedding/__orig';
  for (const n of nodes) {
    n.input = (n.input ?? []).map((x) => (x === 'embedding' ? renamed : x));
    n.output = (n.output ?? []).map((x) => (x === 'embedding' ? renamed : x));
  }
  const src = (t: string) => (t === 'embedding' ? renamed : t);
  const inits = [...(graph.initializer ?? [])];
  inits.push(int64Tensor('calib/axes1', [1], [1]), floatTensor('calib/zero', [], new Float32Array([0])), floatTensor('calib/one', [], new Float32Array([1])));
  const sizes: string[] = [];
  const flats: string[] = [];
  tensors.forEach((t, i) => {
    const flat = `calib/${i}/flat`;
    nodes.push(makeNode('Flatten', [src(t)], [flat], `calib/${i}/Flatten`, [attr('axis', 1)]));
    nodes.push(makeNode('Mul', [flat, 'calib/zero'], [`calib/${i}/zeros`], `calib/${i}/Mul`));
    nodes.push(makeNode('Add', [`calib/${i}/zeros`, 'calib/one'], [`calib/${i}/ones`], `calib/${i}/Add`));
    nodes.push(makeNode('ReduceSum', [`calib/${i}/ones`, 'calib/axes1'], [`calib/${i}/size`], `calib/${i}/ReduceSum`, [attr('keepdims', 1)]));
    sizes.push(`calib/${i}/size`);
    flats.push(flat);
  });
  nodes.push(makeNode('Concat', [...sizes, ...flats], ['embedding'], 'calib/Concat', [attr('axis', 1)]));
  graph.node = nodes;
  graph.initializer = inits;
  graph.output = [(graph.output ?? []).find((o) => o.name === 'logits')!, floatValueInfo('embedding', ['N', 'D'])];
  return encodeModel(model);
}

/** Statistics per tensor name, after running `input` (count*784 values in 0..1) through the model. */
export async function collectStats(modelBytes: Uint8Array, tensors: readonly string[], input: Float32Array, method: CalibrationMethod, batchSize = 64): Promise<Map<string, TensorStats>> {
  const stats = new Map<string, TensorStats>(tensors.map((t) => [t, new TensorStats()]));
  const session = await createOnnxSession(buildCalibrationModel(modelBytes, tensors));
  const count = input.length / IMAGE_PIXELS;
  const withHistogram = method !== 'minmax';
  try {
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      const out = await session.run(input.subarray(start * IMAGE_PIXELS, (start + n) * IMAGE_PIXELS), n);
      if (!out.embedding) throw new Error('calibration model returned no probe output');
      const width = out.embeddingSize;
      const k = tensors.length;
      const sizes = Array.from(out.embedding.subarray(0, k), Math.round);
      for (let r = 0; r < n; r++) {
        let off = r * width + k;
        tensors.forEach((t, i) => {
          stats.get(t)!.add(out.embedding!.subarray(off, off + sizes[i]), withHistogram);
          off += sizes[i];
        });
      }
    }
  } finally {
    await session.close();
  }
  return stats;
}

export async function calibrate(modelBytes: Uint8Array, tensors: readonly string[], input: Float32Array, opts: CalibrationOptions): Promise<Map<string, [number, number]>> {
  const stats = await collectStats(modelBytes, tensors, input, opts.method, opts.batchSize);
  return new Map([...stats].map(([t, s]) => [t, calibratedRange(s, opts.method, opts.percentile, opts.asymmetric ?? false)]));
}
