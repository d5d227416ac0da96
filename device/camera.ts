import { frameErrorReason, preprocessImage, toModelInput, type PreprocessResult } from '../src/preprocess.ts';
import { firstLine, UserError } from '../src/errors.ts';
import type { LabelPayload } from '../src/mqtt/payloads.ts';
import type { CameraConfig } from './config.ts';
import type { AgentContext } from './context.ts';
import { stallAfterMs, type CameraHealth } from './health.ts';
import { softmax, topK } from '../src/scores.ts';
import { createFrameSource, isLiveSource, parseSourceSpec } from './sources/spec.ts';
import type { Frame, FrameSource } from './sources/types.ts';
import { RateLimitedWarnings } from './rate-limited-warnings.ts';
import { round } from './stats.ts';

/** Why a frame failed, as counted in stats (short, stable keys): the decoder's and converter's codes, else `processing`. */
export function classifyFrameError(err: unknown): string {
  return frameErrorReason(err) ?? 'processing';
}

/**
 * One camera: reads frames at most `fps` per second, classifies them and publishes a label per
 * frame. Any bad frame is counted with its reason and the loop goes on to the next one.
 */
export class CameraRunner {
  fps: number;
  paused = false;
  /** Per-camera frame number, +1 per frame read; the first frame is 1. */
  frameNo = 0;
  lastFrame: Frame | null = null;
  ended = false;
  /** Set when the source is unusable from the start (bad path, ffmpeg missing): the camera ends. */
  fatal: string | null = null;
  private source: FrameSource | null = null;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Since when frames are expected (start, resume, fps change): the stall clock starts here. */
  private activeSince = Date.now();
  private readonly warnings: RateLimitedWarnings;

  constructor(readonly cfg: CameraConfig, private readonly ctx: AgentContext, given?: FrameSource) {
    this.fps = cfg.fps;
    this.source = given ?? null;
    this.warnings = new RateLimitedWarnings((m) => this.ctx.log.warn(m));
  }

  get id(): string {
    return this.cfg.id;
  }

  start(): void {
    this.activeSince = Date.now();
    this.loop = this.run().catch((err: Error) => {
      this.ctx.log.error(`camera ${this.id}: stopped (${err.message})`);
      this.fatal = err.message;
      this.ended = true;
    });
  }

  setFps(fps: number): void {
    this.fps = fps;
    this.activeSince = Date.now();
    this.interrupt();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.activeSince = Date.now();
    this.ctx.stats.camera(this.id).paused = paused;
    this.interrupt();
  }

  private interrupt(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * online / stalled / paused / offline at `now`: stalled once no frame was read for
   * 3 frame intervals (min 30 s; config `health`) or when the source is unusable.
   */
  health(now = Date.now()): CameraHealth {
    if (this.fatal) return { status: 'stalled', reason: this.fatal };
    if (this.ended) return { status: 'offline', reason: this.stopping ? 'stopped' : 'source ended' };
    if (this.paused) return { status: 'paused', reason: null };
    const last = Math.max(this.ctx.stats.camera(this.id).lastFrameAt ?? 0, this.activeSince);
    const limit = stallAfterMs(this.fps, this.ctx.config.health);
    if (now - last <= limit) return { status: 'online', reason: null };
    return { status: 'stalled', reason: `no frame for ${Math.round((now - last) / 1000)} s (limit ${Math.round(limit / 1000)} s)` };
  }

  private async openSource(): Promise<FrameSource> {
    return createFrameSource(parseSourceSpec(this.cfg.source), { loop: this.cfg.loop, maxFrameBytes: this.ctx.config.maxFrameBytes, ...this.ctx.config.sources, fps: this.fps });
  }

  private async run(): Promise<void> {
    const live = this.source === null && isLiveSource(parseSourceSpec(this.cfg.source));
    const maxFrames = this.ctx.config.maxFrames;
    let backoffMs = 500;
    // The previous frame's inference and publish: the next frame is read and decoded meanwhile.
    let inFlight: Promise<void> = Promise.resolve();
    let decoding: Promise<unknown> = Promise.resolve();
    while (!this.stopping) {
      if (this.paused) {
        await this.sleep(60_000);
        continue;
      }
      const started = performance.now();
      let frame: Frame | null;
      try {
        this.source ??= await this.openSource();
        frame = await this.source.read();
        // Only a frame ends the backoff: a stream that opens and ends at once is retried ever later.
        if (frame) backoffMs = 500;
      } catch (err) {
        if (err instanceof UserError && this.frameNo === 0) {
          this.fatal = err.message;
          this.ctx.log.error(`camera ${this.id}: ${err.message}`);
          break;
        }
        // Closing the source at shutdown ends a read in flight: that is no source error.
        if (this.stopping) break;
        this.ctx.stats.error(this.id, 'source');
        this.warnings.warn('source', `camera ${this.id}: source error: ${firstLine(err)}`);
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 30_000);
        continue;
      }
      if (this.stopping) break;
      if (!frame) {
        if (!live) break;
        this.warnings.warn('stream-ended', `camera ${this.id}: stream ended; reopening in ${backoffMs} ms`);
        await this.source?.close();
        this.source = null;
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 30_000);
        continue;
      }
      this.frameNo++;
      this.ctx.stats.frameRead(this.id);
      this.lastFrame = frame;
      // One decode at a time: it overlaps the previous frame's inference, not another decode.
      await decoding;
      const prepared = this.prepare(frame);
      decoding = prepared;
      await inFlight;
      inFlight = this.finish(frame, this.frameNo, prepared);
      if (maxFrames !== null && this.frameNo >= maxFrames) break;
      const wait = 1000 / this.fps - (performance.now() - started);
      if (wait > 0 && !this.stopping) await this.sleep(wait);
    }
    await inFlight;
    this.ended = true;
    await this.source?.close();
  }

  /**
   * Decode and preprocess (sharp's thread pool), started once the frame is read and the previous
   * decode is done, so that it overlaps the previous frame's inference and publish. Never rejects:
   * a failure is handed to finish(), which counts it in order.
   */
  private prepare(frame: Frame): Promise<Prepared> {
    const t0 = performance.now();
    const work = async () => {
      if (frame.buffer.length === 0) throw new FrameError('empty-frame', 'empty frame');
      if (frame.buffer.length > this.ctx.config.maxFrameBytes) throw new FrameError('frame-too-large', `${frame.buffer.length} bytes`);
      return preprocessImage(frame.buffer, { roi: this.cfg.roi ?? undefined, invert: this.cfg.invert });
    };
    return work().then((pre) => ({ t0, pre }), (error: unknown) => ({ t0, error }));
  }

  /** Inference and publish of a prepared frame, one frame at a time and in frame order. */
  private async finish(frame: Frame, frameNo: number, prepared: Promise<Prepared>): Promise<void> {
    const p = await prepared;
    const t0 = p.t0;
    try {
      if (!('pre' in p)) throw p.error;
      const { pre } = p;
      const input = toModelInput(pre.pixels);
      const t1 = performance.now();
      const { model, out } = await this.ctx.model.run(input, 1);
      const inferenceMs = performance.now() - t1;
      const classes = model.metadata.classes;
      const logits = out.logits.subarray(0, classes.length);
      if (!logits.every(Number.isFinite)) throw new FrameError('model-output-nan', 'the model output NaN or infinite logits');
      const probs = softmax(logits);
      const top = topK(probs, classes, 3).map((t) => ({ ...t, confidence: round(t.confidence, 5) }));
      const payload: LabelPayload = {
        ts: frame.ts.toISOString(),
        frame: frameNo,
        label: top[0].label,
        classId: top[0].classId,
        confidence: top[0].confidence,
        top,
        latencyMs: { decode: round(pre.decodeMs), preprocess: round(pre.preprocessMs), inference: round(inferenceMs), total: round(performance.now() - t0) },
        model: model.ref,
        ...(frame.file !== undefined ? { file: frame.file } : {}),
        ...qualityField(pre),
        device: this.ctx.config.deviceId,
        camera: this.id,
      };
      this.ctx.stats.labelled(this.id, inferenceMs);
      if (pre.quality.issues.length > 0) {
        this.ctx.stats.qualityWarning(this.id, pre.quality.issues);
        const issues = pre.quality.issues.join(', ');
        this.warnings.warn(`quality ${issues}`, `camera ${this.id}: frame ${frameNo} labelled with a quality warning (${issues}; the garment fills ${Math.round(pre.quality.fill * 100)}% of the ` +
          `image)`);
      }
      for (const observe of this.ctx.frameObservers) observe({ camera: this.id, frameNo, pixels: pre.pixels, logits: out.logits, embedding: out.embedding, model, frame, label: payload });
      await this.ctx.publisher.send(this.ctx.topics.label(this.id), JSON.stringify(payload), { qos: this.ctx.config.mqtt.qos.labels });
    } catch (err) {
      const reason = err instanceof FrameError ? err.reason : classifyFrameError(err);
      this.ctx.stats.error(this.id, reason);
      this.warnings.warn(reason, `camera ${this.id}: frame ${frameNo} skipped (${reason}: ${firstLine(err)})`);
    }
  }

  /** Finishes the frame in flight, then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.interrupt();
    if (this.source && !this.ended) {
      // Push-style sources may be waiting for the next frame: closing ends that wait.
      const src = this.source;
      await src.close();
    }
    await this.loop;
  }

  /** Resolves once the camera has no more frames (finite sources, --max-frames). */
  async finished(): Promise<void> {
    await this.loop;
  }
}

type Prepared = { t0: number; pre: PreprocessResult } | { t0: number; error: unknown };

/** The label's `quality` field: present only when preprocessing found something wrong. */
function qualityField(pre: PreprocessResult): Pick<LabelPayload, 'quality'> {
  const { fill, blobs, issues } = pre.quality;
  return issues.length > 0 ? { quality: { fill, blobs, issues: [...issues] } } : {};
}

class FrameError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}
