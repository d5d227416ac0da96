import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../src/errors.ts';
import { createOnnxSession, type ExecutionProviderChoice, type OnnxModelSession } from '../src/onnx/session.ts';
import type { ModelRef, TopClass } from '../src/mqtt/payloads.ts';
import { validateModelContract } from '../src/onnx/contract.ts';
import type { PreprocessingSpec } from '../src/onnx/metadata.ts';

/** Loads a contract-following model for the agent (validated statically, then on a test batch). */
export const DEFAULT_MODEL_PATH = 'models/default.onnx';

export interface ModelMetadata {
  classes: string[];
  arch: string | null;
  metrics: Record<string, unknown> | null;
  preprocessing: PreprocessingSpec | null;
}

export interface LoadedModel {
  path: string;
  ref: ModelRef;
  metadata: ModelMetadata;
  session: OnnxModelSession;
  provider: string;
}

export interface LoadModelOptions {
  ep?: ExecutionProviderChoice;
  threads?: number;
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
  const out = await session.run(new Float32Array(2 * 784), 2);
  if (out.logits.length !== 2 * classes) throw new UserError(`${path}: logits have ${out.logits.length / 2} values per image, metadata lists ${classes} classes`);
}

export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: cannot read the model (${code === 'ENOENT' ? 'no such file; train one or pass --model FILE' : code ?? (err as Error).message})`);
  }
  const metadata = readContract(bytes, path);
  let session: OnnxModelSession;
  try {
    session = await createOnnxSession(bytes, { ep: opts.ep, intraOpThreads: opts.threads });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: onnxruntime cannot load the model (${(err as Error).message.split('\n')[0]})`);
  }
  try {
    await checkSession(session, path, metadata.classes.length);
  } catch (err) {
    await session.close();
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: the model fails on a test batch (${(err as Error).message.split('\n')[0]})`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const id = `${basename(path).replace(/\.onnx$/i, '')}-${sha256.slice(0, 12)}`;
  return { path, ref: { id, sha256 }, metadata, session, provider: session.provider };
}

/** Numerically stable softmax over one row. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** The k most likely classes, most likely first (ties: lower class id first). */
export function topK(probs: ArrayLike<number>, classes: readonly string[], k: number): TopClass[] {
  const ids = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  return ids.slice(0, k).map((classId) => ({ label: classes[classId] ?? `class-${classId}`, classId, confidence: probs[classId] }));
}

/** Plain file names only: they are offered to dashboards and Home Assistant templates as they are. */
const OFFERED_MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.onnx$/;
const MAX_OFFERED_MODELS = 100;

/**
 * The `.onnx` files beside the serving model (names, sorted, at most 100): what dashboards offer
 * for `switch-model` as `join(dir, name)`. Nothing else of the file system is listed.
 */
export function modelsBeside(path: string): { dir: string; files: string[] } {
  const dir = dirname(path);
  try {
    const files = readdirSync(dir).filter((f) => OFFERED_MODEL_NAME.test(f)).sort().slice(0, MAX_OFFERED_MODELS);
    return { dir: join(dir), files };
  } catch {
    return { dir, files: [] };
  }
}
