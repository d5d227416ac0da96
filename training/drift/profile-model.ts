import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { firstLine, UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { parseModelMetadata, writeModelMetadata, type EdgeloomModelMetadata } from '../../src/onnx/metadata.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { serializeDriftReference, sidecarPath, type DriftReference } from '../../src/drift/profile.ts';
import type { SplitDataset } from '../data/dataset.ts';
import { heldOutSetFor, type HeldOutChoice } from '../data/held-out.ts';
import { checkModelClasses, modelDataSpec } from '../data/model-data.ts';
import { computeDriftReference, MIN_REFERENCE_IMAGES } from './reference.ts';

export { MIN_REFERENCE_IMAGES };

export type ReferenceChoice = HeldOutChoice;
export const DEFAULT_REFERENCE_SIZE = 5000;

/** Computes a profile with the model's own outputs and returns the model bytes carrying it. */
export async function profileModelBytes(bytes: Uint8Array, origin: string, choice: ReferenceChoice = 'auto', size = DEFAULT_REFERENCE_SIZE, seed = 1, data?: string,
  dataset?: SplitDataset): Promise<{ bytes: Uint8Array; profile: DriftReference }> {
  const meta = parseModelMetadata(bytes, origin);
  if (!meta?.classes) throw new UserError(`${origin}: no edgeloom metadata (export it with \`edgeloom export\`)`);
  // --data replaces the recipe's data (a folder that moved); the split settings stay the recipe's.
  const recipe = data ? { ...meta.recipe, data } : meta.recipe;
  const ref = await heldOutSetFor(recipe, { choice, size, seed, origin: `--reference ${choice}`, fix: 'use --reference train', dataset });
  checkModelClasses(origin, meta.classes, modelDataSpec(meta.recipe, data), ref.set.classNames);
  const session = await createOnnxSession(bytes);
  let profile: DriftReference;
  try {
    profile = await computeDriftReference((input, batch) => session.run(input, batch), ref.set.images, ref.set.labels, { classes: meta.classes, source: ref.source });
  } finally {
    await session.close();
  }
  const next: Partial<EdgeloomModelMetadata> = { ...meta, driftReference: serializeDriftReference(profile) };
  return { bytes: writeModelMetadata(bytes, next), profile };
}

/**
 * Profile for a model derived from one that had `previous` (the int8 model from its fp32 one): the
 * same reference images (split, size, seed), through the new model's own outputs. Without a
 * previous profile, `auto`. Failures leave the model without a profile (never a stale one) and are
 * logged, so export and quantize still write their model. `dataset`: the recipe's data set when the
 * caller has it loaded (a training run), so it is not loaded again.
 */
export async function profileOrStrip(bytes: Uint8Array, origin: string, previous?: unknown, size = DEFAULT_REFERENCE_SIZE, data?: string, dataset?: SplitDataset): Promise<{ bytes: Uint8Array;
  profile: DriftReference | null }> {
  const log = createLogger('drift');
  const prev = previous as DriftReference | undefined;
  try {
    const choice: ReferenceChoice = prev?.source?.split === 'val' ? 'val' : prev?.source?.split === 'train-sample' ? 'train' : 'auto';
    const r = await profileModelBytes(bytes, origin, choice, prev?.source?.count ?? size, prev?.source?.seed ?? 1, data, dataset);
    log.info(`${origin}: drift reference profile on ${r.profile.source.count} ${r.profile.source.split} images (temperature ${r.profile.calibration.temperature.toFixed(3)})`);
    return r;
  } catch (err) {
    log.warn(`${origin}: no drift reference profile (${firstLine(err)}); add one later with \`edgeloom drift profile --model ${origin}\``);
    const meta = parseModelMetadata(bytes, origin);
    return { bytes: meta?.driftReference === undefined ? bytes : writeModelMetadata(bytes, { ...meta, driftReference: undefined }), profile: null };
  }
}

/** Writes the model with its profile and the `<model>.drift.json` sidecar next to it. */
export async function writeProfiledModel(out: string, bytes: Uint8Array, profile: DriftReference | null): Promise<string> {
  await writeFileAtomic(out, bytes);
  const sidecar = sidecarPath(out);
  // A sidecar left from an earlier model would describe the wrong outputs.
  if (profile) await writeFileAtomic(sidecar, `${JSON.stringify(serializeDriftReference(profile))}\n`);
  else await rm(sidecar, { force: true });
  return sidecar;
}

export interface DriftProfileCommandOptions {
  model: string;
  out?: string;
  reference?: ReferenceChoice;
  size?: number;
  seed?: number;
  /** Data spec (training/data/load.ts); default: the model's recipe's data. */
  data?: string;
}

export interface DriftProfileResult {
  model: string;
  sidecar: string;
  source: DriftReference['source'];
  temperature: number;
  referenceAccuracy: number;
  oodThreshold: number | null;
  embeddingSize: number;
  profileBytes: number;
}

/** `edgeloom drift profile`: adds (or replaces) the reference profile of an existing ONNX model. */
export async function runDriftProfile(opts: DriftProfileCommandOptions): Promise<DriftProfileResult> {
  const log = createLogger('drift');
  if (!existsSync(opts.model)) throw new UserError(`--model ${opts.model}: not found`);
  const size = opts.size ?? DEFAULT_REFERENCE_SIZE;
  if (!(Number.isInteger(size) && size >= MIN_REFERENCE_IMAGES)) throw new UserError(`--size: expected an integer >= ${MIN_REFERENCE_IMAGES}, got ${size}`);
  const reference = opts.reference ?? 'auto';
  if (!['auto', 'val', 'train'].includes(reference)) throw new UserError(`--reference: expected val, train or auto, got "${reference}"`);
  const input = await readFile(opts.model);
  const { bytes, profile } = await profileModelBytes(input, opts.model, reference, size, opts.seed ?? 1, opts.data);
  if (profile.source.split === 'train-sample') log.warn(`${opts.model}: no validation split in the recipe; profiling ${profile.source.count} TRAINING images (optimistic confidence)`);
  const out = opts.out ?? opts.model;
  const sidecar = await writeProfiledModel(out, bytes, profile);
  return {
    model: out,
    sidecar,
    source: profile.source,
    temperature: profile.calibration.temperature,
    referenceAccuracy: profile.calibration.accuracy,
    oodThreshold: profile.ood?.threshold ?? null,
    embeddingSize: profile.ood?.embeddingSize ?? 0,
    profileBytes: JSON.stringify(serializeDriftReference(profile)).length,
  };
}
