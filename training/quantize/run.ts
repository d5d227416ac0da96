import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { modelForTools, type AdoptOptions } from '../onnx/adopt.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { subset } from '../data/dataset.ts';
import { argmaxRows } from '../eval/metrics.ts';
import { predictOnnx } from '../eval/evaluate.ts';
import type { QuantizationSettings } from '../../src/onnx/metadata.ts';
import type { CalibrationMethod } from './histogram.ts';
import { quantizeModel } from './quantize.ts';
import { stratifiedSample } from '../data/split.ts';
import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';

export interface QuantizeCommandOptions extends AdoptOptions {
  model: string;
  out: string;
  calibrationSize?: number;
  method?: CalibrationMethod;
  percentile?: number;
  target?: 'cpu' | 'tensorrt';
  perTensor?: boolean;
  reduceRange?: boolean;
  seed?: number;
  /** Test images for the quick fp32-vs-int8 check (0 skips it). */
  checkSize?: number;
  /** Data spec (training/data/load.ts); default: the model's recipe's data. */
  data?: string;
}

export interface QuantizeCommandResult {
  out: string;
  settings: QuantizationSettings;
  fp32Bytes: number;
  int8Bytes: number;
  quantizedTensors: number;
  check: { images: number; fp32Accuracy: number; int8Accuracy: number; agreement: number } | null;
  /** The data calibrated on and checked against. */
  data: string;
}

export async function runQuantize(opts: QuantizeCommandOptions): Promise<QuantizeCommandResult> {
  const log = createLogger('quantize');
  if (!existsSync(opts.model)) throw new UserError(`--model ${opts.model}: not found`);
  const { bytes: fp32, info, adopted } = modelForTools(await readFile(opts.model), opts.model, opts, (line) => log.warn(line));
  if (info.metadata.quantization) throw new UserError(`--model ${opts.model}: already quantized (${info.metadata.quantization.target}, ${info.metadata.quantization.method}); quantize the float ` +
    `model from \`edgeloom export\``);
  const calibrationSize = opts.calibrationSize ?? QUANTIZE_DEFAULTS.calibrationSize;
  if (!(calibrationSize > 0)) throw new UserError(`--calibration-size: expected a positive integer, got ${calibrationSize}`);
  const seed = opts.seed ?? QUANTIZE_DEFAULTS.calibrationSeed;
  const { loadModelData } = await import('../data/model-data.ts');
  const { ds, spec } = await loadModelData(`--model ${opts.model}`, { classNames: info.metadata.classes, recipe: info.metadata.recipe }, opts.data, (m) => log.info(m));
  log.info(`data: ${spec.data}${spec.from === 'recipe' ? ' (the model\'s training data, from its recipe)' : spec.from === 'default' ? ' (no recipe in the model: Fashion-MNIST)' : ''}`);
  // Calibrate on training images: the test set stays unseen for the accuracy check.
  const calib = subset(ds.train, stratifiedSample(ds.train.labels, ds.train.classNames.length, calibrationSize, seed));
  log.info(`calibrating on ${calib.count} training images (${opts.method ?? QUANTIZE_DEFAULTS.method}), target ${opts.target ?? QUANTIZE_DEFAULTS.target}`);
  const q = await quantizeModel(fp32, toModelInput(calib.images), {
    target: opts.target ?? QUANTIZE_DEFAULTS.target,
    method: opts.method ?? QUANTIZE_DEFAULTS.method,
    percentile: opts.percentile ?? QUANTIZE_DEFAULTS.percentile,
    perChannel: !opts.perTensor,
    reduceRange: opts.reduceRange ?? QUANTIZE_DEFAULTS.reduceRange,
    calibrationSeed: seed,
  });
  // The fp32 profile describes fp32 outputs: the int8 model gets its own, on the same reference images.
  const { profileOrStrip, writeProfiledModel } = await import('../drift/profile-model.ts');
  // A foreign model has no profile to follow: it gets a first one when it has an embedding to score.
  if (adopted && !adopted.embedding) log.warn(`${opts.model}: no \`embedding\` output, so no drift profile (the agent needs both); name the penultimate tensor with --embedding TENSOR`);
  const wantsProfile = info.metadata.driftReference !== undefined || Boolean(adopted?.embedding);
  const profiled = wantsProfile ? await profileOrStrip(q.bytes, opts.out, info.metadata.driftReference, undefined, opts.data) : null;
  if (profiled) await writeProfiledModel(opts.out, profiled.bytes, profiled.profile);
  else await writeFileAtomic(opts.out, q.bytes);
  let check: QuantizeCommandResult['check'] = null;
  const checkSize = opts.checkSize ?? QUANTIZE_DEFAULTS.checkSize;
  if (checkSize > 0) {
    const test = subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, checkSize, seed + 1));
    const k = ds.test.classNames.length;
    const a = argmaxRows(await predictOnnx(fp32, test), k);
    const b = argmaxRows(await predictOnnx(q.bytes, test), k);
    let ca = 0;
    let cb = 0;
    let same = 0;
    for (let i = 0; i < test.count; i++) {
      if (a[i] === test.labels[i]) ca++;
      if (b[i] === test.labels[i]) cb++;
      if (a[i] === b[i]) same++;
    }
    check = { images: test.count, fp32Accuracy: ca / test.count, int8Accuracy: cb / test.count, agreement: same / test.count };
  }
  return { out: opts.out, settings: q.settings, fp32Bytes: fp32.length, int8Bytes: q.bytes.length, quantizedTensors: q.quantizedTensors, check, data: spec.data };
}

export function formatQuantize(r: QuantizeCommandResult): string {
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const lines = [
    `wrote ${r.out}: ${r.settings.target} ${r.settings.format}, ${r.settings.method}, ` +
      `${r.settings.perChannel ? 'per-channel' : 'per-tensor'} weights${r.settings.reduceRange ? ' (reduce-range)' : ''}, ${r.quantizedTensors} activation tensors`,
    `size: fp32 ${kb(r.fp32Bytes)} -> int8 ${kb(r.int8Bytes)} (${((r.int8Bytes / r.fp32Bytes) * 100).toFixed(0)}%)`,
  ];
  if (r.check) {
    lines.push(`check on ${r.check.images} test images of ${r.data}: fp32 ${(r.check.fp32Accuracy * 100).toFixed(2)}%, int8 ${(r.check.int8Accuracy * 100).toFixed(2)}%, agreement ` +
      `${(r.check.agreement * 100).toFixed(2)}%`);
  }
  return lines.join('\n');
}
