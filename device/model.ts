import { readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { IMAGE_PIXELS } from '../src/classes.ts';
import { firstLine, UserError } from '../src/errors.ts';
import { createOnnxSession, type OnnxModelSession } from '../src/onnx/session.ts';
import type { ExecutionProviderChoice } from '../src/onnx/providers.ts';
import type { ModelRef } from '../src/mqtt/payloads.ts';
import { validateModelContract } from '../src/onnx/contract.ts';
import { DataType, decodeModel, tensorFloats } from '../src/onnx/proto.ts';
import type { PreprocessingSpec } from '../src/onnx/metadata.ts';
import type { TrustedKey } from '../src/signing.ts';
import { MODEL_STORE_DEFAULTS, ModelRefusedError, ModelStore, type ModelFile } from './model-store.ts';

export interface ModelMetadata {
  classes: string[];
  arch: string | null;
  metrics: Record<string, unknown> | null;
  preprocessing: PreprocessingSpec | null;
}

/** Where a model came from, so that `reload-model` reads it again the same way. */
export type ModelOrigin = { kind: 'startup'; path: string } | { kind: 'store'; name: string };

export interface LoadedModel {
  /** The path as configured (start-up) or the store path of the named model. */
  path: string;
  origin: ModelOrigin;
  ref: ModelRef;
  metadata: ModelMetadata;
  session: OnnxModelSession;
  provider: string;
  /** File size; re-reads of the same model are bounded by it. */
  sizeBytes: number;
  /** Id of the trusted key whose signature was checked; null when no keys are trusted. */
  signedBy: string | null;
}

export interface LoadModelOptions {
  ep?: ExecutionProviderChoice;
  threads?: number;
  /** Size cap checked before reading (default MODEL_STORE_DEFAULTS.maxBytes). */
  maxBytes?: number;
  /** With keys, a model without a valid `<model>.sig` from one of them is refused. */
  trustedKeys?: readonly TrustedKey[];
}

/** Contract check plus the metadata the agent uses; throws UserError naming the file. */
export function readContract(bytes: Uint8Array, path: string): ModelMetadata {
  const { metadata } = validateModelContract(bytes, path);
  return {
    classes: metadata.classes,
    arch: metadata.arch ?? null,
    metrics: metadata.metrics ?? null,
    preprocessing: metadata.preprocessing ?? null,
  };
}

/** Runtime half of the contract: names, and output sizes on a 2-image batch. */
async function checkSession(session: OnnxModelSession, path: string, classes: number): Promise<void> {
  if (!session.inputNames.includes('input')) throw new UserError(`${path}: model input must be named "input" (found ${session.inputNames.join(', ')})`);
  if (!session.outputNames.includes('logits')) throw new UserError(`${path}: model must have a "logits" output (found ${session.outputNames.join(', ')})`);
  const out = await session.run(new Float32Array(2 * IMAGE_PIXELS), 2);
  if (out.logits.length !== 2 * classes) throw new UserError(`${path}: logits have ${out.logits.length / 2} values per image, metadata lists ${classes} classes`);
}

/** A NaN or infinite weight gives NaN labels (or, behind a Relu, silently wrong ones): refuse the file. */
function checkFiniteWeights(bytes: Uint8Array, path: string): void {
  for (const t of decodeModel(bytes).graph?.initializer ?? []) {
    if (t.dataType === DataType.FLOAT && !tensorFloats(t).every(Number.isFinite)) {
      throw new UserError(`${path}: weight \`${t.name}\` contains NaN or infinite values (a corrupt or diverged model; export or train it again)`);
    }
  }
}

/** Loads the operator's model from a path (start-up, `edgeloom drift`), with the size cap and signature checks. */
export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const store = new ModelStore({ dir: dirname(path), maxBytes: opts.maxBytes ?? MODEL_STORE_DEFAULTS.maxBytes, trustedKeys: opts.trustedKeys ?? [] });
  let file: ModelFile;
  try {
    file = await store.readStartup(path);
  } catch (err) {
    if (err instanceof ModelRefusedError && err.code === 'not-found') throw new ModelRefusedError('not-found', `${path}: cannot read the model (no such file; train one or pass --model FILE)`);
    throw err;
  }
  return sessionFor(file, { kind: 'startup', path }, path, opts);
}

/** Validates a model file that was read and checked (contract, session, test batch). */
export async function sessionFor(file: ModelFile, origin: ModelOrigin, path: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const label = origin.kind === 'store' ? origin.name : path;
  const metadata = readContract(file.bytes, label);
  checkFiniteWeights(file.bytes, label);
  let session: OnnxModelSession;
  try {
    session = await createOnnxSession(file.bytes, { ep: opts.ep, intraOpThreads: opts.threads });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${label}: onnxruntime cannot load the model (${firstLine(err)})`);
  }
  try {
    await checkSession(session, label, metadata.classes.length);
  } catch (err) {
    await session.close();
    if (err instanceof UserError) throw err;
    throw new UserError(`${label}: the model fails on a test batch (${firstLine(err)})`);
  }
  const id = `${basename(path).replace(/\.onnx$/i, '')}-${file.sha256.slice(0, 12)}`;
  return { path, origin, ref: { id, sha256: file.sha256 }, metadata, session, provider: session.provider, sizeBytes: file.bytes.length, signedBy: file.signedBy };
}

/** Plain file names only: they are offered to dashboards and Home Assistant templates as they are. */
const OFFERED_MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.onnx$/;
const MAX_OFFERED_MODELS = 100;

/**
 * The `.onnx` files in the model directory (`models.dir`), names only, sorted, at most 100: what
 * dashboards and Home Assistant offer for `switch-model {model: <name>}`. Nothing else is listed.
 */
export function offeredModels(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => OFFERED_MODEL_NAME.test(f)).sort().slice(0, MAX_OFFERED_MODELS);
  } catch {
    return [];
  }
}
