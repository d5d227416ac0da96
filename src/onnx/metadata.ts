import { IMAGE_SIZE } from '../classes.ts';
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.ts';
import { decodeModel, encodeModel } from './proto.ts';

/**
 * edgeloom metadata lives inside the .onnx file (ModelProto.metadata_props), one JSON-encoded value
 * per key, so a model file carries its class names, preprocessing and provenance wherever it goes.
 * onnxruntime-node cannot read metadata_props, so we parse the ModelProto ourselves.
 */
export const METADATA_KEYS = {
  version: 'edgeloom.version',
  arch: 'edgeloom.arch',
  classes: 'edgeloom.classes',
  preprocessing: 'edgeloom.preprocessing',
  recipe: 'edgeloom.recipe',
  metrics: 'edgeloom.metrics',
  quantization: 'edgeloom.quantization',
  driftReference: 'edgeloom.drift_reference',
  exportedAt: 'edgeloom.exported_at',
  adopted: 'edgeloom.adopted',
} as const;

export interface PreprocessingSpec {
  /** Input layout and size the model expects. */
  layout: 'NCHW';
  height: number;
  width: number;
  channels: number;
  /** value = pixel * scale + offset; the contract says pixel / 255. */
  scale: number;
  offset: number;
  /** Fashion-MNIST polarity: bright garment on a black background. */
  polarity: 'bright-on-dark';
}

export interface QuantizationSettings {
  format: 'QDQ';
  target: 'cpu' | 'tensorrt';
  method: 'minmax' | 'percentile' | 'entropy';
  percentile?: number;
  calibrationSize: number;
  calibrationSeed: number;
  perChannel: boolean;
  reduceRange: boolean;
  activationType: 'uint8' | 'int8';
  weightType: 'int8';
}

/** How `edgeloom adopt` brought a foreign classifier to the contract (training/onnx/adopt.ts). */
export interface AdoptionInfo {
  /** The file it came from. */
  source: string;
  inputName: string;
  inputLayout: 'NCHW' | 'NHWC';
  outputName: string;
  /** What the original output held; `logits` is then its softmax input, or log p. */
  outputKind: 'logits' | 'probabilities';
  /** The tensor exposed as `embedding`, or null. */
  embedding: string | null;
}

export interface EdgeloomModelMetadata {
  version: string;
  arch: string;
  classes: string[];
  preprocessing: PreprocessingSpec;
  /** Training recipe as the trainer reported it (epochs, optimizer, augmentation...). */
  recipe?: Record<string, unknown>;
  /** Test-set metrics at export time (accuracy, macro F1...). */
  metrics?: Record<string, unknown>;
  quantization?: QuantizationSettings;
  /** Reserved for drift monitoring: the reference profile of inputs/embeddings. */
  driftReference?: unknown;
  exportedAt?: string;
  adopted?: AdoptionInfo;
}

export const DEFAULT_PREPROCESSING: PreprocessingSpec = {
  layout: 'NCHW', height: IMAGE_SIZE, width: IMAGE_SIZE, channels: 1, scale: 1 / 255, offset: 0, polarity: 'bright-on-dark',
};

type Field = keyof typeof METADATA_KEYS;

/** Raw key/value pairs of metadata_props (all keys, not only edgeloom's). */
export function readMetadataProps(bytes: Uint8Array): Map<string, string> {
  const model = decodeModel(bytes);
  const out = new Map<string, string>();
  for (const p of model.metadataProps ?? []) if (p.key) out.set(p.key, p.value ?? '');
  return out;
}

/**
 * Reads edgeloom's metadata. Missing keys stay undefined; a value that is not valid JSON is a
 * UserError naming the file and the key. Returns null when the file has no edgeloom keys at all.
 */
export async function readModelMetadata(source: Uint8Array | string): Promise<Partial<EdgeloomModelMetadata> | null> {
  const origin = typeof source === 'string' ? source : 'model';
  let bytes: Uint8Array;
  try {
    bytes = typeof source === 'string' ? await readFile(source) : source;
  } catch (err) {
    throw new UserError(`${origin}: cannot read the model file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseModelMetadata(bytes, origin);
}

export function parseModelMetadata(bytes: Uint8Array, origin = 'model'): Partial<EdgeloomModelMetadata> | null {
  let props: Map<string, string>;
  try {
    props = readMetadataProps(bytes);
  } catch (err) {
    throw new UserError(`${origin}: not an ONNX model (${(err as Error).message})`);
  }
  const meta: Record<string, unknown> = {};
  let found = false;
  for (const [field, key] of Object.entries(METADATA_KEYS) as [Field, string][]) {
    const raw = props.get(key);
    if (raw === undefined) continue;
    found = true;
    try {
      meta[field] = JSON.parse(raw);
    } catch {
      throw new UserError(`${origin}: metadata ${key} is not valid JSON`);
    }
  }
  return found ? (meta as Partial<EdgeloomModelMetadata>) : null;
}

/**
 * Returns a copy of the model with edgeloom's keys set from `meta` (fields left undefined are
 * removed); other producers' metadata_props are kept.
 */
export function writeModelMetadata(modelBytes: Uint8Array, meta: Partial<EdgeloomModelMetadata>): Uint8Array {
  const model = decodeModel(modelBytes);
  const ours = new Set<string>(Object.values(METADATA_KEYS));
  const kept = (model.metadataProps ?? []).filter((p) => !ours.has(p.key ?? ''));
  const added = (Object.entries(METADATA_KEYS) as [Field, string][])
    .filter(([field]) => meta[field] !== undefined)
    .map(([field, key]) => ({ key, value: JSON.stringify(meta[field]) }));
  model.metadataProps = [...kept, ...added] as typeof model.metadataProps;
  return encodeModel(model);
}
