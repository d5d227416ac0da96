import { encodeModel } from '../../src/onnx/proto.ts';
import { parseModelMetadata, writeModelMetadata, type QuantizationSettings } from '../../src/onnx/metadata.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { calibrate } from './calibrate.ts';
import type { CalibrationMethod } from './histogram.ts';
import { insertQdq, loadGraph, removeQuantizableActivations, tensorsToQuantize } from './qdq.ts';
import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';
import { IMAGE_PIXELS } from '../../src/classes.ts';

/**
 * Static post-training quantization, QDQ format, in two explicit steps as onnxruntime's tool does
 * it: calibrate (float model + sample images -> a range per activation tensor), then quantize
 * (weights offline to int8, activations through Q/DQ pairs with the calibrated ranges).
 */
export interface QuantizeOptions {
  target: 'cpu' | 'tensorrt';
  method: CalibrationMethod;
  percentile: number;
  perChannel: boolean;
  reduceRange: boolean;
  /** Recorded in the metadata: how the calibration images were drawn. */
  calibrationSeed: number;
}

const { target, method, percentile, perChannel, reduceRange, calibrationSeed } = QUANTIZE_DEFAULTS;
export const DEFAULT_QUANTIZE_OPTIONS: QuantizeOptions = { target, method, percentile, perChannel, reduceRange, calibrationSeed };

export interface QuantizeResult {
  bytes: Uint8Array;
  settings: QuantizationSettings;
  quantizedTensors: number;
  ranges: Map<string, [number, number]>;
}

/** `calibrationInput`: count*784 values in 0..1 (training images, never the test set). */
export async function quantizeModel(fp32: Uint8Array, calibrationInput: Float32Array, options: Partial<QuantizeOptions> = {}): Promise<QuantizeResult> {
  const opts = { ...DEFAULT_QUANTIZE_OPTIONS, ...options };
  const meta = parseModelMetadata(fp32);
  if (meta?.quantization) throw new Error('the model is already quantized');
  const g = loadGraph(fp32);
  if (opts.target === 'cpu') removeQuantizableActivations(g);
  const tensors = tensorsToQuantize(g, opts.target);
  const ranges = await calibrate(fp32, tensors, calibrationInput, { method: opts.method, percentile: opts.percentile, asymmetric: opts.target === 'cpu' });
  const q = insertQdq(g, ranges, opts);
  const graph = g.model.graph!;
  graph.node = q.nodes;
  graph.initializer = q.initializers;
  // Shapes recorded for the float tensors would now be stale or name-mismatched.
  graph.valueInfo = [];
  const settings: QuantizationSettings = {
    format: 'QDQ',
    target: opts.target,
    method: opts.method,
    ...(opts.method === 'percentile' ? { percentile: opts.percentile } : {}),
    calibrationSize: calibrationInput.length / IMAGE_PIXELS,
    calibrationSeed: opts.calibrationSeed,
    perChannel: opts.perChannel,
    reduceRange: opts.reduceRange,
    activationType: opts.target === 'tensorrt' ? 'int8' : 'uint8',
    weightType: 'int8',
  };
  const bytes = writeModelMetadata(encodeModel(g.model), { ...(meta ?? {}), quantization: settings });
  validateModelContract(bytes, 'quantized.onnx', { requireEmbedding: g.outputs.has('embedding') });
  return { bytes, settings, quantizedTensors: tensors.length, ranges };
}
