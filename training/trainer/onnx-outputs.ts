import type * as tf from '@tensorflow/tfjs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { parseModelMetadata, writeModelMetadata, type EdgeloomModelMetadata } from '../../src/onnx/metadata.ts';
import { sidecarPath } from '../../src/drift/profile.ts';
import { profileOrStrip, writeProfiledModel } from '../drift/profile-model.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { subset, type ImageSet, type SplitDataset } from '../data/dataset.ts';
import { predictOnnx } from '../eval/evaluate.ts';
import { argmaxRows, classificationMetrics } from '../eval/metrics.ts';
import { exportToOnnx } from '../onnx/export.ts';
import { DEFAULT_QUANTIZE_OPTIONS, quantizeModel } from '../quantize/quantize.ts';
import { stratifiedSample } from '../data/split.ts';
import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';

/** Same counts and seeds as `edgeloom export` / `edgeloom quantize` with their defaults. */
export const PARITY_IMAGES = 64;
export const PARITY_SEED = 7;
export const CALIBRATION_IMAGES = QUANTIZE_DEFAULTS.calibrationSize;
/** Test images for the int8 accuracy of a quick `--limit` run (full test set otherwise). */
export const QUICK_INT8_TEST_IMAGES = 2000;
export const INT8_TEST_SEED = 1;

export interface OnnxOutputs {
  fp32: { path: string; bytes: number; parityImages: number; parityMaxAbsDiff: number; parityRelativeError: number; driftProfile: boolean };
  int8: {
    path: string;
    bytes: number;
    /** int8 / fp32 model size, both without the drift profile (`bytes` is the file, profile included). */
    sizeRatio: number;
    calibrationImages: number;
    driftProfile: boolean;
    test: { count: number; accuracy: number; macroF1: number; tfjsAccuracy: number; agreement: number };
  } | null;
}

export const ONNX_FILES = ['model.onnx', 'model.int8.onnx'] as const;

/** Removes ONNX files (and drift sidecars) of an earlier run in `out`: they would not match the new tfjs model. */
export async function removeStaleOnnx(out: string): Promise<string[]> {
  const removed: string[] = [];
  for (const path of ONNX_FILES.flatMap((f) => [join(out, f), sidecarPath(join(out, f))])) {
    try {
      await rm(path);
      removed.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

export interface OnnxOutputInput {
  model: tf.LayersModel;
  out: string;
  arch: string;
  train: ImageSet;
  test: ImageSet;
  /** tfjs predictions on every test image (for the same-images comparison with int8). */
  tfjsPredicted: ArrayLike<number>;
  /** The run used --limit: the int8 model is evaluated on a stratified subset of the test set. */
  quick: boolean;
  quantize: boolean;
  /** Reference images of the drift profiles (DEFAULT_REFERENCE_SIZE unless set). */
  referenceSize?: number;
  log: Logger;
  /** The model's metadata: arch, recipe, test metrics (metadataFromTrainReport); default: `arch` and the test set's classes. */
  metadata?: Partial<EdgeloomModelMetadata>;
  /** The recipe's data set, already loaded: the drift profiles' reference images come from it (else they are loaded). */
  dataset?: SplitDataset;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, '; ');
}

/**
 * Writes OUT/model.onnx (with `metadata`, parity-checked against tfjs) and, unless `quantize` is
 * false, OUT/model.int8.onnx (default static quantization, calibrated on training images) with its
 * own test metrics in the metadata. Failures are one-line UserErrors; files already written stay.
 */
export async function writeOnnxOutputs(input: OnnxOutputInput): Promise<OnnxOutputs> {
  const { model, out, log, test } = input;
  const fp32Path = join(out, 'model.onnx');
  let fp32: Awaited<ReturnType<typeof exportToOnnx>>;
  try {
    const metadata = input.metadata ?? { arch: input.arch, classes: [...test.classNames] };
    const parityIdx = stratifiedSample(test.labels, test.classNames.length, Math.min(PARITY_IMAGES, test.count), PARITY_SEED);
    log.info(`exporting ONNX to ${fp32Path}; parity check on ${parityIdx.length} test images`);
    fp32 = await exportToOnnx(model, { metadata: { ...metadata, arch: metadata.arch ?? input.arch }, parityInput: toModelInput(subset(test, parityIdx).images) });
  } catch (err) {
    throw new UserError(`ONNX export failed (${oneLine(err)}); the tfjs model and report in ${out} are kept`);
  }
  // As `edgeloom export` does: a drift reference profile inside the model and beside it (a failure
  // there is only logged: the model is still written, without a profile).
  const fp32Profiled = await profileOrStrip(fp32.bytes, fp32Path, undefined, input.referenceSize, undefined, input.dataset);
  await writeProfiledModel(fp32Path, fp32Profiled.bytes, fp32Profiled.profile);
  const parity = fp32.parity!;
  log.info(`wrote ${fp32Path} (${(fp32Profiled.bytes.length / 1024).toFixed(1)} KiB); parity max |logit diff| ${parity.maxAbsDiffLogits.toExponential(2)}`);
  const result: OnnxOutputs = {
    fp32: { path: fp32Path, bytes: fp32Profiled.bytes.length, parityImages: parity.images, parityMaxAbsDiff: parity.maxAbsDiffLogits, parityRelativeError: parity.relativeError,
      driftProfile: fp32Profiled.profile !== null },
    int8: null,
  };
  if (!input.quantize) return result;

  const int8Path = join(out, 'model.int8.onnx');
  try {
    // Calibration on training images, as `edgeloom quantize` does: the test set stays unseen.
    const calib = subset(input.train, stratifiedSample(input.train.labels, input.train.classNames.length, Math.min(CALIBRATION_IMAGES, input.train.count), DEFAULT_QUANTIZE_OPTIONS.calibrationSeed));
    log.info(`quantizing to ${int8Path}: calibrating on ${calib.count} training images (${DEFAULT_QUANTIZE_OPTIONS.method}, ${DEFAULT_QUANTIZE_OPTIONS.target})`);
    const q = await quantizeModel(fp32.bytes, toModelInput(calib.images), DEFAULT_QUANTIZE_OPTIONS);

    const evalIdx = input.quick && test.count > QUICK_INT8_TEST_IMAGES
      ? stratifiedSample(test.labels, test.classNames.length, QUICK_INT8_TEST_IMAGES, INT8_TEST_SEED)
      : Int32Array.from({ length: test.count }, (_, i) => i);
    const evalSet = subset(test, evalIdx);
    log.info(`evaluating the int8 model on ${evalSet.count} test images`);
    const predicted = argmaxRows(await predictOnnx(q.bytes, evalSet), test.classNames.length);
    const metrics = classificationMetrics(evalSet.labels, predicted, test.classNames);
    let tfjsCorrect = 0;
    let agree = 0;
    for (let i = 0; i < evalIdx.length; i++) {
      const t = input.tfjsPredicted[evalIdx[i]];
      if (t === evalSet.labels[i]) tfjsCorrect++;
      if (t === predicted[i]) agree++;
    }
    // The float model's metrics would misdescribe the int8 file; it carries its own.
    const meta = parseModelMetadata(q.bytes) ?? {};
    const withMetrics = writeModelMetadata(q.bytes,
      { ...meta, driftReference: undefined,
        metrics: { ...(meta.metrics ?? {}), split: 'test', accuracy: metrics.accuracy, macroF1: metrics.macro.f1, weightedF1: metrics.weighted.f1, count: metrics.count, model: 'int8' } });
    // As `edgeloom quantize` does: its own profile (int8 outputs) on the fp32 profile's reference images.
    const profiled = await profileOrStrip(withMetrics, int8Path, fp32Profiled.profile ?? undefined, undefined, undefined, input.dataset);
    await writeProfiledModel(int8Path, profiled.bytes, profiled.profile);
    const bytes = profiled.bytes;
    result.int8 = {
      path: int8Path,
      bytes: bytes.length,
      // Models without their drift profiles (tens of KiB of JSON in both, whatever the weights).
      sizeRatio: q.bytes.length / fp32.bytes.length,
      calibrationImages: calib.count,
      driftProfile: profiled.profile !== null,
      test: { count: metrics.count, accuracy: metrics.accuracy, macroF1: metrics.macro.f1, tfjsAccuracy: tfjsCorrect / evalIdx.length, agreement: agree / evalIdx.length },
    };
  } catch (err) {
    throw new UserError(`int8 quantization failed (${oneLine(err)}); ${fp32Path}, the tfjs model and report in ${out} are kept`);
  }
  log.info(`wrote ${int8Path} (${(result.int8.bytes / 1024).toFixed(1)} KiB, ${(result.int8.sizeRatio * 100).toFixed(0)}% of fp32); int8 test accuracy ` +
    `${(result.int8.test.accuracy * 100).toFixed(2)}% on ${result.int8.test.count} images (tfjs ${(result.int8.test.tfjsAccuracy * 100).toFixed(2)}% on the same)`);
  return result;
}

/** The ONNX section appended to report.md. */
export function onnxMarkdown(o: OnnxOutputs): string {
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const lines = [
    '## ONNX',
    '',
    '| file | size | check |',
    '|---|---|---|',
    `| model.onnx | ${kib(o.fp32.bytes)} | parity with tfjs on ${o.fp32.parityImages} test images: max abs logit diff ` +
      `${o.fp32.parityMaxAbsDiff.toExponential(2)} (${o.fp32.parityRelativeError.toExponential(2)} of the logit scale) |`,
  ];
  if (o.int8) {
    const t = o.int8.test;
    lines.push(`| model.int8.onnx | ${kib(o.int8.bytes)} (${(o.int8.sizeRatio * 100).toFixed(0)}% of fp32) | test accuracy ${pct(t.accuracy)} on ${t.count} images (tfjs ` +
      `${pct(t.tfjsAccuracy)} on the same images, ${pct(t.agreement)} agreement); calibrated on ${o.int8.calibrationImages} training images |`);
  }
  return `${lines.join('\n')}\n`;
}
