import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { firstLine, UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { redactSecrets } from '../../src/redact.ts';
import { loadModel } from '../model.ts';
import { DEFAULT_MODEL_PATH } from '../../src/defaults.ts';
import { loadDriftReference } from '../features/drift.ts';
import { createFrameSource, parseSourceSpec, type SourceSpec } from '../sources/spec.ts';
import { COLLECT_DEFAULTS, COLLECT_WHEN, guessFrame, requireOodProfile, wanted, type CollectWhen } from './policy.ts';
import { CollectStore } from './store.ts';

export interface CollectOptions {
  source: string;
  out: string;
  model?: string;
  every?: number;
  when?: string;
  threshold?: number;
  maxFiles?: number;
  maxBytes?: number;
  /** Stop after reading this many frames (live sources run until the folder is full or Ctrl-C). */
  maxFrames?: number;
  fps?: number;
  json?: boolean;
}

export interface CollectSummary {
  out: string;
  source: string;
  model: string;
  when: CollectWhen;
  framesRead: number;
  considered: number;
  saved: number;
  skipped: Record<string, number>;
  files: number;
  bytes: number;
  full: boolean;
}

/** Cameras are polled at this rate unless --fps says otherwise; files are read as fast as they decode. */
const CAMERA_DEFAULT_FPS = 2;
const FINITE_KINDS: readonly SourceSpec['kind'][] = ['dir', 'file', 'fashion-mnist'];

function positive(name: string, v: number | undefined, fallback: number, integer = true): number {
  if (v === undefined) return fallback;
  if (!(v > 0) || (integer && !Number.isInteger(v))) throw new UserError(`${name}: expected a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  return v;
}

function parseWhen(v: string | undefined): CollectWhen {
  if (v === undefined) return COLLECT_DEFAULTS.when;
  if (!(COLLECT_WHEN as readonly string[]).includes(v)) throw new UserError(`--when: expected ${COLLECT_WHEN.join(' | ')}, got "${v}"`);
  return v as CollectWhen;
}

/**
 * `edgeloom collect`: frames from any agent source, classified exactly as the agent does, saved with
 * the model's guess into `OUT/unlabelled/` until the source ends, --max-frames, the folder is full, or Ctrl-C.
 */
export async function runCollect(opts: CollectOptions, signal?: AbortSignal): Promise<CollectSummary> {
  const log = createLogger('collect');
  const when = parseWhen(opts.when);
  const every = positive('--every', opts.every, COLLECT_DEFAULTS.every);
  const threshold = opts.threshold ?? COLLECT_DEFAULTS.threshold;
  if (!(threshold > 0 && threshold < 1)) throw new UserError(`--threshold: expected a confidence between 0 and 1, got ${threshold}`);
  const bounds = { maxFiles: positive('--max-files', opts.maxFiles, COLLECT_DEFAULTS.maxFiles), maxBytes: positive('--max-bytes', opts.maxBytes, COLLECT_DEFAULTS.maxBytes) };
  const maxFrames = opts.maxFrames === undefined ? Infinity : positive('--max-frames', opts.maxFrames, 1);
  const spec = parseSourceSpec(opts.source);
  const fps = opts.fps === undefined ? (FINITE_KINDS.includes(spec.kind) ? Infinity : CAMERA_DEFAULT_FPS) : positive('--fps', opts.fps, 1, false);
  const modelPath = opts.model ?? DEFAULT_MODEL_PATH;
  const model = await loadModel(modelPath);
  try {
    const { ref, from } = await loadDriftReference(model);
    requireOodProfile(when, ref, modelPath);
    if (when === 'low-confidence') log.info(ref ? `low-confidence: calibrated confidence < ${threshold} (temperature from ${from})` : `low-confidence: softmax confidence < ` +
      `${threshold} (${from}, so not calibrated)`);
    const store = await CollectStore.open(resolve(opts.out), bounds);
    const summary: CollectSummary = { out: store.dir, source: redactSecrets(opts.source), model: model.ref.id, when, framesRead: 0, considered: 0, saved: 0, skipped: {}, files: store.files,
      bytes: store.bytes, full: store.full };
    const skip = (reason: string) => (summary.skipped[reason] = (summary.skipped[reason] ?? 0) + 1);
    if (store.full) {
      log.warn(`${store.dir} already holds ${store.files} photos / ${store.bytes} bytes (limits ${bounds.maxFiles} / ${bounds.maxBytes}): nothing to do`);
      return summary;
    }
    async function considerFrame(bytes: Buffer, ts: Date, frameNo: number): Promise<'saved' | 'skipped' | 'full'> {
      let pixels: Uint8Array;
      try {
        pixels = (await preprocessImage(bytes)).pixels;
      } catch (err) {
        skip('undecodable');
        log.warn(`frame ${frameNo}: skipped (${firstLine(err)})`);
        return 'skipped';
      }
      const out = await model.session.run(toModelInput(pixels), 1);
      const guess = guessFrame(model.metadata.classes, pixels, out.logits, out.embedding, ref);
      if (!wanted(when, threshold, guess)) {
        skip(`not-${when}`);
        return 'skipped';
      }
      const result = await store.save(bytes, {
        ...guess, ts: ts.toISOString(), source: summary.source, camera: null, frame: frameNo,
        model: { ...model.ref, path: model.path }, when,
      }, spec.kind);
      if (!result.saved) {
        skip(result.reason);
        if (result.reason === 'not-an-image') return 'skipped';
        log.warn(`${store.dir} is full (${store.files} photos, ${store.bytes} bytes; limits ${bounds.maxFiles} / ${bounds.maxBytes})`);
        return 'full';
      }
      summary.saved++;
      log.info(`frame ${frameNo}: ${guess.label} ${(guess.confidence * 100).toFixed(1)}% -> ${result.file} (${store.files}/${bounds.maxFiles} photos)`);
      return store.full ? 'full' : 'saved';
    }

    const source = await createFrameSource(spec, { fps: Number.isFinite(fps) ? fps : undefined });
    const stop = () => void source.close();
    signal?.addEventListener('abort', stop);
    try {
      while (!signal?.aborted && summary.framesRead < maxFrames) {
        const started = performance.now();
        const frame = await source.read().catch((err: Error) => {
          // A source unusable from the start (no such folder, ffmpeg missing) is the user's to fix.
          if (err instanceof UserError && summary.framesRead === 0) throw err;
          skip('source');
          log.warn(`source: ${firstLine(err)}`);
          return undefined;
        });
        if (frame === null || signal?.aborted) break;
        if (frame) {
          summary.framesRead++;
          if ((summary.framesRead - 1) % every === 0) {
            summary.considered++;
            const outcome = await considerFrame(frame.buffer, frame.ts, summary.framesRead);
            if (outcome === 'full') break;
          }
        }
        const wait = 1000 / fps - (performance.now() - started);
        if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      await source.close();
    }
    summary.files = store.files;
    summary.bytes = store.bytes;
    summary.full = store.full;
    return summary;
  } finally {
    await model.session.close();
  }
}
