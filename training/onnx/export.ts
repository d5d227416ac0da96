import * as tf from '@tensorflow/tfjs';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { DEFAULT_PREPROCESSING, writeModelMetadata, type EdgeloomModelMetadata } from '../../src/onnx/metadata.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';
import { convertLayersModel } from './convert.ts';
import { modelDataSpec } from '../data/model-data.ts';
import { loadTfjsModel, readTfjsModelMeta } from '../model/io.ts';

export interface ParityReport {
  images: number;
  maxAbsDiffLogits: number;
  maxAbsDiffEmbedding: number;
  logitScale: number;
  relativeError: number;
  tolerance: number;
  top1Agreement: number;
}

export interface ExportOptions {
  metadata?: Partial<EdgeloomModelMetadata>;
  /** Images (count*784 values in 0..1) for the tfjs-vs-onnxruntime parity check. */
  parityInput?: Float32Array;
  /** Relative tolerance of the parity check (max abs logit difference / max |logit|). */
  tolerance?: number;
}

export interface ExportResult {
  bytes: Uint8Array;
  parity: ParityReport | null;
  numClasses: number;
  embeddingSize: number;
}

export const PARITY_TOLERANCE = 1e-4;

/** Converts, attaches metadata, validates the contract and checks parity with onnxruntime. */
export async function exportToOnnx(model: tf.LayersModel, opts: ExportOptions = {}): Promise<ExportResult> {
  const conv = convertLayersModel(model);
  const meta: Partial<EdgeloomModelMetadata> = {
    version: EDGELOOM_VERSION,
    arch: model.name,
    classes: conv.numClasses === FASHION_MNIST_CLASSES.length ? [...FASHION_MNIST_CLASSES] : Array.from({ length: conv.numClasses }, (_, i) => `class ${i}`),
    preprocessing: DEFAULT_PREPROCESSING,
    exportedAt: new Date().toISOString(),
    ...opts.metadata,
  };
  const bytes = writeModelMetadata(conv.bytes, meta);
  validateModelContract(bytes, `${meta.arch ?? 'model'}.onnx`);
  let parity: ParityReport | null = null;
  if (opts.parityInput) {
    parity = await checkParity(model, bytes, opts.parityInput, conv.logitsLayer, conv.embeddingLayer, opts.tolerance ?? PARITY_TOLERANCE);
  }
  return { bytes, parity, numClasses: conv.numClasses, embeddingSize: conv.embeddingSize };
}

export async function checkParity(model: tf.LayersModel, bytes: Uint8Array, input: Float32Array, logitsLayer: string, embeddingLayer: string, tolerance: number): Promise<ParityReport> {
  const n = input.length / IMAGE_PIXELS;
  const probe = tf.model({ inputs: model.inputs, outputs: [model.getLayer(logitsLayer).output as tf.SymbolicTensor, model.getLayer(embeddingLayer).output as tf.SymbolicTensor] });
  const inShape = model.inputs[0].shape.length === 2 ? [n, IMAGE_PIXELS] : [n, IMAGE_SIZE, IMAGE_SIZE, 1];
  const [tfLogits, tfEmb] = tf.tidy(() => {
    const outs = probe.predict(tf.tensor(input, inShape)) as tf.Tensor[];
    return outs.map((t) => t.dataSync() as Float32Array);
  });
  const session = await createOnnxSession(bytes);
  let out;
  try {
    out = await session.run(input, n);
  } finally {
    await session.close();
  }
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  };
  let scale = 0;
  for (const v of tfLogits) scale = Math.max(scale, Math.abs(v));
  const k = tfLogits.length / n;
  let agree = 0;
  for (let r = 0; r < n; r++) {
    let a = 0;
    let b = 0;
    for (let c = 1; c < k; c++) {
      if (tfLogits[r * k + c] > tfLogits[r * k + a]) a = c;
      if (out.logits[r * k + c] > out.logits[r * k + b]) b = c;
    }
    if (a === b) agree++;
  }
  const dl = maxDiff(tfLogits, out.logits);
  const report: ParityReport = {
    images: n,
    maxAbsDiffLogits: dl,
    maxAbsDiffEmbedding: out.embedding ? maxDiff(tfEmb, out.embedding) : Number.NaN,
    logitScale: scale,
    relativeError: dl / Math.max(scale, 1e-6),
    tolerance,
    top1Agreement: agree / n,
  };
  if (!(report.relativeError <= tolerance)) {
    throw new Error(`export parity check failed: max |logit difference| ${dl.toExponential(3)} is ${report.relativeError.toExponential(3)} of the logit scale ${scale.toFixed(3)} (tolerance ` +
      `${tolerance})`);
  }
  return report;
}

/**
 * Stratified, seeded sample of the test split of `data` (default Fashion-MNIST) as model input
 * (count*784 in 0..1). Parity needs images like the model's: a folder model's photos, not garments
 * it never saw, whose logits are small and compare badly.
 */
export async function parityImagesFromTestSet(count: number, seed = 7, data?: { data: string; seed: number }): Promise<Float32Array> {
  const { loadDataset } = await import('../data/load.ts');
  const { stratifiedSample } = await import('../data/split.ts');
  const { subset } = await import('../data/dataset.ts');
  const { toModelInput } = await import('../../src/preprocess.ts');
  const ds = await loadDataset(data ?? {});
  return toModelInput(subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, count, seed)).images);
}

/** The fields of a training run's report.json that go into the model's metadata. */
export interface TrainReportFields {
  arch?: string;
  config?: object;
  classNames?: readonly string[];
  test?: { accuracy?: number; count?: number; macro?: { f1?: number }; weighted?: { f1?: number } };
  createdAt?: string;
}

/**
 * Metadata from a training report (arch, recipe, test metrics, classes), over `own`: model.json's
 * edgeloom metadata (arch, class names). A training run passes its report in memory; `edgeloom
 * export` reads it from report.json (metadataFromModelDir).
 */
export function metadataFromTrainReport(r: TrainReportFields | null, own?: { arch?: string; classNames?: string[] } | null): Partial<EdgeloomModelMetadata> {
  const meta: Partial<EdgeloomModelMetadata> = {};
  if (own?.arch) meta.arch = own.arch;
  if (own?.classNames) meta.classes = own.classNames;
  if (!r) return meta;
  if (typeof r.arch === 'string') meta.arch = r.arch;
  if (r.config && typeof r.config === 'object') meta.recipe = r.config as Record<string, unknown>;
  if (r.test && typeof r.test.accuracy === 'number') {
    meta.metrics = { split: 'test', accuracy: r.test.accuracy, macroF1: r.test.macro?.f1, weightedF1: r.test.weighted?.f1, count: r.test.count, trainedAt: r.createdAt };
  }
  if (Array.isArray(r.classNames) && r.classNames.every((c) => typeof c === 'string')) meta.classes = [...r.classNames];
  return meta;
}

/**
 * Metadata from the trainer's report.json next to model.json (arch, recipe, test metrics), falling
 * back on model.json's own edgeloom metadata (arch, class names).
 */
export async function metadataFromModelDir(dir: string): Promise<Partial<EdgeloomModelMetadata>> {
  const own = await readTfjsModelMeta(dir);
  const path = join(dir, 'report.json');
  if (!existsSync(path)) return metadataFromTrainReport(null, own);
  let r: TrainReportFields;
  try {
    r = JSON.parse(await readFile(path, 'utf8')) as TrainReportFields;
  } catch {
    throw new UserError(`${path}: not valid JSON`);
  }
  return metadataFromTrainReport(r, own);
}

export interface ExportCommandOptions {
  model: string;
  out: string;
  parityImages?: number;
  /** Data spec of the parity images and drift profile; default: the model's recipe's data. */
  data?: string;
}

export interface ExportCommandResult {
  out: string;
  bytes: number;
  arch: string;
  numClasses: number;
  embeddingSize: number;
  parity: ParityReport | null;
}

export async function runExport(opts: ExportCommandOptions): Promise<ExportCommandResult> {
  const log = createLogger('export');
  if (!existsSync(opts.model) || !statSync(opts.model).isDirectory()) throw new UserError(`--model ${opts.model}: not a directory (expected a tfjs model directory with model.json)`);
  const { selectBackend } = await import('../backend/index.ts');
  await selectBackend('auto');
  const model = await loadTfjsModel(opts.model);
  const metadata = await metadataFromModelDir(opts.model);
  const count = opts.parityImages ?? 64;
  const spec = modelDataSpec(metadata.recipe, opts.data);
  log.info(`converting ${opts.model} (${model.layers.length} layers); parity check on ${count} test images of ${spec.data}`);
  const parityInput = count > 0 ? await parityImagesFromTestSet(count, 7, spec) : undefined;
  const result = await exportToOnnx(model, { metadata: { arch: metadata.arch ?? model.name, ...metadata }, parityInput });
  const { profileOrStrip, writeProfiledModel } = await import('../drift/profile-model.ts');
  const profiled = await profileOrStrip(result.bytes, opts.out, undefined, undefined, opts.data);
  await writeProfiledModel(opts.out, profiled.bytes, profiled.profile);
  return { out: opts.out, bytes: profiled.bytes.length, arch: metadata.arch ?? model.name, numClasses: result.numClasses, embeddingSize: result.embeddingSize, parity: result.parity };
}
