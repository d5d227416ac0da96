import { readFile, realpath } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { firstLine, UserError } from '../../src/errors.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { parseDriftReference, sidecarPath, type DriftReference } from '../../src/drift/profile.ts';
import { DriftMonitor, observeFrame, type WindowReport } from '../../src/drift/monitor.ts';
import type { DriftPayload } from '../../src/mqtt/payloads.ts';
import type { AgentContext, Feature, FeatureDefinition, FrameResult } from '../context.ts';
import type { LoadedModel } from '../model.ts';
import { readRegularFile } from '../model-store.ts';

/**
 * The serving model's drift reference: from its metadata, else from `<model>.drift.json`. The file
 * is read again (the loader keeps only what labelling needs) and must still be the loaded model.
 */
export async function loadDriftReference(model: LoadedModel): Promise<{ ref: DriftReference | null; from: string }> {
  // Bounded by the loaded size: the file is the one that passed the model store's checks, or it changed.
  const bytes = await readRegularFile(await realpath(model.path), model.sizeBytes, model.path).catch(() => null);
  if (!bytes || createHash('sha256').update(bytes).digest('hex') !== model.ref.sha256) return { ref: null, from: `${model.path} changed on disk since it was loaded` };
  const embedded = parseModelMetadata(bytes, model.path)?.driftReference;
  if (embedded !== undefined) return { ref: matching(parseDriftReference(embedded, model.path), model, model.path), from: 'model metadata' };
  const sidecar = sidecarPath(model.path);
  if (existsSync(sidecar)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(sidecar, 'utf8'));
    } catch {
      throw new UserError(`${sidecar}: not valid JSON`);
    }
    return { ref: matching(parseDriftReference(parsed, sidecar), model, sidecar), from: sidecar };
  }
  return { ref: null, from: `${model.path} has no drift reference (run \`edgeloom drift profile --model ${model.path}\`)` };
}

function matching(ref: DriftReference, model: LoadedModel, origin: string): DriftReference {
  if (ref.classes.length !== model.metadata.classes.length) throw new UserError(`${origin}: drift reference lists ${ref.classes.length} classes, the model ${model.metadata.classes.length}`);
  return ref;
}

/**
 * Per camera, a DriftMonitor over the frames the camera labels; each window report goes to
 * `<prefix>/<device>/<camera>/drift` (retained), status changes to the stats message and the log.
 * A model switch loads the new model's profile and restarts the windows.
 */
class DriftFeature implements Feature {
  readonly name = 'drift';
  private monitors = new Map<string, DriftMonitor>();
  private ref: DriftReference | null = null;
  private modelId: string | null = null;
  private loading: Promise<void> | null = null;
  private readonly observer = (f: FrameResult) => this.onFrame(f);

  constructor(private readonly ctx: AgentContext) {}

  async start(): Promise<void> {
    await this.useModel(this.ctx.model.current);
    this.ctx.frameObservers.add(this.observer);
  }

  async stop(): Promise<void> {
    this.ctx.frameObservers.delete(this.observer);
    await this.loading;
  }

  private async useModel(model: LoadedModel): Promise<void> {
    this.modelId = model.ref.id;
    this.monitors.clear();
    this.ref = null;
    const cfg = this.ctx.config.drift;
    try {
      const { ref, from } = await loadDriftReference(model);
      if (this.modelId !== model.ref.id) return;
      this.ref = ref;
      if (ref) this.ctx.log.info(`drift: monitoring ${model.ref.id} against ${ref.source.count} ${ref.source.split} images (${from}); ${cfg.mode} windows of ${cfg.windowSize} frames`);
      else if (cfg.enabled === true) this.ctx.log.warn(`drift: ${from}; drift monitoring off for this model`);
      else this.ctx.log.info(`drift: ${from}; drift monitoring off for this model`);
    } catch (err) {
      this.ctx.log.warn(`drift: ${firstLine(err)}; drift monitoring off for this model`);
    }
  }

  /** Runs inside the camera's frame loop: never throws, so a drift problem cannot cost a label. */
  private onFrame(f: FrameResult): void {
    try {
      this.observe(f);
    } catch (err) {
      this.ref = null;
      this.ctx.log.warn(`drift: ${firstLine(err)}; drift monitoring off for this model`);
    }
  }

  private observe(f: FrameResult): void {
    if (f.model.ref.id !== this.modelId) {
      this.loading = this.useModel(f.model).catch((err: Error) => this.ctx.log.warn(`drift: ${err.message}`));
      return;
    }
    const ref = this.ref;
    if (!ref) return;
    let monitor = this.monitors.get(f.camera);
    if (!monitor) {
      const cfg = this.ctx.config.drift;
      monitor = new DriftMonitor(ref, { windowSize: cfg.windowSize, mode: cfg.mode, stride: cfg.stride, falseAlarmRate: cfg.falseAlarmRate });
      this.monitors.set(f.camera, monitor);
    }
    const report = monitor.push(observeFrame(ref, f.pixels, f.logits, f.embedding), f.frameNo);
    if (report) this.publish(f, report);
  }

  private publish(f: FrameResult, report: WindowReport): void {
    const payload: DriftPayload = { ...report, camera: f.camera, device: this.ctx.config.deviceId, model: f.model.ref };
    if (report.status !== report.previousStatus || !this.ctx.stats.drift[f.camera]) {
      this.ctx.stats.drift[f.camera] = { status: report.status, since: report.ts, reasons: report.reasons };
    }
    if (report.status !== report.previousStatus) {
      const text = `drift: camera ${f.camera} ${report.previousStatus} -> ${report.status} at frames ` +
        `${report.window.first}-${report.window.last}${report.reasons.length ? `: ${report.reasons.slice(0, 3).join('; ')}` : ''}`;
      if (report.status === 'ok') this.ctx.log.info(text);
      else this.ctx.log.warn(text);
    }
    this.ctx.publisher.send(this.ctx.topics.drift(f.camera), JSON.stringify(payload), { qos: this.ctx.config.drift.qos, retain: true })
      .catch((err: Error) => this.ctx.log.warn(`drift: publish: ${err.message}`));
  }
}

export const driftFeature: FeatureDefinition = {
  name: 'drift',
  enabled: (c) => c.drift.enabled !== false,
  create: async (ctx) => new DriftFeature(ctx),
};
