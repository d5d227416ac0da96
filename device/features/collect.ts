import { firstLine } from '../../src/errors.ts';
import type { DriftReference } from '../../src/drift/profile.ts';
import type { CollectStats } from '../../src/mqtt/payloads.ts';
import type { AgentContext, Feature, FeatureDefinition, FrameResult } from '../context.ts';
import type { LoadedModel } from '../model.ts';
import { guessFrame, wanted } from '../collect/policy.ts';
import { CollectStore } from '../collect/store.ts';
import { loadDriftReference } from './drift.ts';

/**
 * Saves labelled frames for a human to label later (`collect:` in the agent config, off by default):
 * every `every`-th frame per camera that the policy wants goes to `<dir>/unlabelled/` with a sidecar,
 * until the folder holds `maxFiles` photos or `maxBytes`; after that frames are counted as skipped.
 * Writes happen off the frame loop, one after another, with at most MAX_PENDING frames or
 * MAX_PENDING_BYTES waiting: a slow SD card costs collected frames (counted as `busy`), never labels
 * or memory (a 640x480 JPEG is ~60 KB, so 16 waiting frames are ~1 MB; 20 MB frames stop at 3).
 */
const MAX_PENDING = 16;
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

class CollectFeature implements Feature {
  readonly name = 'collect';
  private store: CollectStore | null = null;
  private ref: DriftReference | null = null;
  private modelId: string | null = null;
  private loading: Promise<void> | null = null;
  private readonly seen = new Map<string, number>();
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private pendingBytes = 0;
  private warnedFull = false;
  readonly stats: CollectStats = { saved: 0, skipped: {}, files: 0, bytes: 0, full: false };
  private readonly observer = (f: FrameResult) => this.onFrame(f);

  constructor(private readonly ctx: AgentContext) {}

  async start(): Promise<void> {
    const cfg = this.ctx.config.collect;
    this.store = await CollectStore.open(cfg.dir!, { maxFiles: cfg.maxFiles, maxBytes: cfg.maxBytes });
    this.sync();
    this.ctx.stats.collect = this.stats;
    await this.useModel(this.ctx.model.current);
    this.ctx.frameObservers.add(this.observer);
    this.ctx.log.info(`collect: ${cfg.when} frames (every ${cfg.every}) into ${this.store.dir}; ${this.store.files}/${cfg.maxFiles} photos, ${this.store.bytes}/${cfg.maxBytes} bytes there`);
  }

  async stop(): Promise<void> {
    this.ctx.frameObservers.delete(this.observer);
    await this.loading;
    await this.tail;
  }

  private async useModel(model: LoadedModel): Promise<void> {
    this.modelId = model.ref.id;
    this.ref = null;
    const { when } = this.ctx.config.collect;
    try {
      const { ref, from } = await loadDriftReference(model);
      if (this.modelId !== model.ref.id) return;
      this.ref = ref;
      if (when === 'ood' && !ref?.ood) this.ctx.log.warn(`collect: when: ood needs a drift profile with OOD statistics (${from}); nothing is collected for ${model.ref.id}`);
    } catch (err) {
      this.ctx.log.warn(`collect: ${firstLine(err)}; ${when === 'all' ? 'sidecars carry no calibrated confidence' : 'confidence is not calibrated'} for this model`);
    }
  }

  private skip(reason: string): void {
    this.stats.skipped[reason] = (this.stats.skipped[reason] ?? 0) + 1;
  }

  private sync(): void {
    this.stats.files = this.store!.files;
    this.stats.bytes = this.store!.bytes;
    this.stats.full = this.store!.full;
  }

  /** Runs inside the camera's frame loop: decides synchronously, writes in the background, never throws. */
  private onFrame(f: FrameResult): void {
    try {
      if (f.model.ref.id !== this.modelId) this.loading = this.useModel(f.model);
      const cfg = this.ctx.config.collect;
      const n = (this.seen.get(f.camera) ?? 0) + 1;
      this.seen.set(f.camera, n);
      if ((n - 1) % cfg.every !== 0) return;
      const guess = guessFrame(f.model.metadata.classes, f.pixels, f.logits, f.embedding, this.ref);
      if (!wanted(cfg.when, cfg.threshold, guess)) return this.skip(`not-${cfg.when}`);
      if (this.store!.full) return this.full();
      const size = f.frame.buffer.length;
      if (this.pending >= MAX_PENDING || this.pendingBytes + size > MAX_PENDING_BYTES) return this.skip('busy');
      const sidecar = {
        ...guess, ts: f.frame.ts.toISOString(), source: f.frame.sourceName, camera: f.camera, frame: f.frameNo,
        model: { ...f.model.ref, path: f.model.path }, when: cfg.when,
      };
      this.pending++;
      this.pendingBytes += size;
      this.tail = this.tail
        .then(() => this.store!.save(f.frame.buffer, sidecar, f.camera))
        .then((r) => {
          if (r.saved) this.stats.saved++;
          else if (r.reason === 'not-an-image') this.skip(r.reason);
          else this.full(r.reason);
        })
        .catch((err: Error) => {
          this.skip('error');
          this.ctx.log.warn(`collect: ${firstLine(err)}`);
        })
        .finally(() => {
          this.pending--;
          this.pendingBytes -= size;
          this.sync();
        });
    } catch (err) {
      this.skip('error');
      this.ctx.log.warn(`collect: ${firstLine(err)}`);
    }
  }

  private full(reason = this.store!.files >= this.store!.bounds.maxFiles ? 'full-files' : 'full-bytes'): void {
    this.skip(reason);
    this.sync();
    if (this.warnedFull) return;
    this.warnedFull = true;
    this.ctx.log.warn(`collect: ${this.store!.dir} is full (${this.store!.files} photos, ${this.store!.bytes} bytes); label or move them, frames are no longer saved`);
  }
}

export const collectFeature: FeatureDefinition = {
  name: 'collect',
  enabled: (c) => c.collect.enabled,
  create: async (ctx) => new CollectFeature(ctx),
};
