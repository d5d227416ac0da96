import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { writeDirAtomic } from '../../src/fs-atomic.ts';
import { loadTfjsModel, saveTfjsModel } from '../model/io.ts';
import type { OrtTrainingStep } from '../ort/step.ts';
import type { TrainConfig, EpochRecord } from './types.ts';

export const CHECKPOINT_DIR = 'checkpoint';
const STATE_JSON = 'state.json';
const OPTIMIZER_BIN = 'optimizer.bin';
const BEST_BIN = 'best-weights.bin';

/** Everything besides tensors that a resumed run needs; RNG streams are derived from (seed, epoch, batch). */
export interface CheckpointState {
  version: 1;
  config: TrainConfig;
  /** Next epoch to run (0-based) and next batch within it (non-zero after a Ctrl-C mid-epoch). */
  epoch: number;
  batch: number;
  /** Running sums of the interrupted epoch, so its reported loss/accuracy stay right. */
  partial: { lossSum: number; correct: number; seen: number; seconds: number };
  history: EpochRecord[];
  best: { valAcc: number; epoch: number; bad: number } | null;
  elapsedMs: number;
  samplesSeen: number;
  optimizerSpecs: tf.io.WeightsManifestEntry[];
  bestSpecs: tf.io.WeightsManifestEntry[] | null;
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  model: tf.LayersModel;
  optimizerWeights: Array<{ name: string; tensor: tf.Tensor }>;
  bestWeights: tf.Tensor[] | null;
}

function bytes(data: ArrayBuffer): Uint8Array {
  return new Uint8Array(data);
}

/** Writes OUT/checkpoint as a whole (temp dir, then rename), so a crash never leaves half of one; `optimizerWeights` as tfjs's Optimizer.getWeights() gives them. */
export async function saveCheckpoint(outDir: string, model: tf.LayersModel, optimizerWeights: Array<{ name: string; tensor: tf.Tensor }>, bestWeights: tf.Tensor[] | null,
  state: Omit<CheckpointState, 'optimizerSpecs' | 'bestSpecs' | 'version'>): Promise<string> {
  const dir = join(outDir, CHECKPOINT_DIR);
  const opt = await tf.io.encodeWeights(optimizerWeights);
  const best = bestWeights ? await tf.io.encodeWeights(bestWeights.map((t, i) => ({ name: `w${i}`, tensor: t }))) : null;
  await writeDirAtomic(dir, async (tmp) => {
    await saveTfjsModel(model, tmp, { arch: state.config.arch, classNames: state.config.classNames });
    await writeFile(join(tmp, OPTIMIZER_BIN), bytes(opt.data));
    if (best) await writeFile(join(tmp, BEST_BIN), bytes(best.data));
    const full: CheckpointState = { version: 1, ...state, optimizerSpecs: opt.specs, bestSpecs: best?.specs ?? null };
    await writeFile(join(tmp, STATE_JSON), JSON.stringify(full, null, 1));
  });
  return dir;
}

/**
 * A training run's checkpoint with the optimiser state of whatever ran the steps: the onnxruntime
 * step's (in tfjs's optimiser format, so the run resumes on either back end) or the tfjs optimiser's.
 */
export async function saveRunCheckpoint(outDir: string, model: tf.LayersModel, optimizer: tf.Optimizer, ort: OrtTrainingStep | null,
  bestWeights: tf.Tensor[] | null, state: Omit<CheckpointState, 'optimizerSpecs' | 'bestSpecs' | 'version'>): Promise<string> {
  const weights = ort ? ort.optimizerWeights(model) : await optimizer.getWeights();
  try {
    return await saveCheckpoint(outDir, model, weights, bestWeights, state);
  } finally {
    // The onnxruntime step's copies are made for this call; tfjs's are the optimiser's own variables.
    if (ort) tf.dispose(weights.map((w) => w.tensor));
  }
}

/** Accepts the run's --out dir or its checkpoint/ dir. */
export function resolveCheckpointDir(dir: string): string {
  if (existsSync(join(dir, STATE_JSON))) return dir;
  if (existsSync(join(dir, CHECKPOINT_DIR, STATE_JSON))) return join(dir, CHECKPOINT_DIR);
  throw new UserError(`--resume ${dir}: no checkpoint found (expected ${join(dir, CHECKPOINT_DIR, STATE_JSON)})`);
}

export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const cdir = resolveCheckpointDir(dir);
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(cdir, STATE_JSON), 'utf8')) as CheckpointState;
  } catch (err) {
    throw new UserError(`${join(cdir, STATE_JSON)}: unreadable checkpoint state (${(err as Error).message})`);
  }
  if (state.version !== 1 || !state.config) throw new UserError(`${join(cdir, STATE_JSON)}: unsupported checkpoint version ${String(state.version)}`);
  const model = await loadTfjsModel(cdir);
  const optBuf = await readFile(join(cdir, OPTIMIZER_BIN));
  const optMap = tf.io.decodeWeights(optBuf.buffer.slice(optBuf.byteOffset, optBuf.byteOffset + optBuf.byteLength), state.optimizerSpecs);
  const optimizerWeights = state.optimizerSpecs.map((s) => ({ name: s.name, tensor: optMap[s.name] }));
  let bestWeights: tf.Tensor[] | null = null;
  if (state.bestSpecs) {
    const b = await readFile(join(cdir, BEST_BIN));
    const m = tf.io.decodeWeights(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), state.bestSpecs);
    bestWeights = state.bestSpecs.map((s) => m[s.name]);
  }
  return { state, model, optimizerWeights, bestWeights };
}
