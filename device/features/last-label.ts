import type { LabelPayload } from '../../src/mqtt/payloads.ts';
import type { AgentContext, Feature, FeatureDefinition, FrameResult } from '../context.ts';

/**
 * At most one retained `last-label` per camera per second: at 30 fps that is 1/30 of the label
 * traffic, and a dashboard that connects late still shows a label at most a second old. Labels in
 * between are held and the newest is sent when the second is up, so the last one before a pause
 * or the end of a source is always the retained one. Sent live (never queued): a stale copy
 * delivered after an outage would be older than what the label stream already said.
 */
export const LAST_LABEL_INTERVAL_MS = 1000;

interface CameraState {
  sentAt: number;
  pending: LabelPayload | null;
  timer: NodeJS.Timeout | null;
}

class LastLabelFeature implements Feature {
  readonly name = 'last-label';
  private readonly cameras = new Map<string, CameraState>();
  private readonly observer = (f: FrameResult) => this.onLabel(f.camera, f.label);

  constructor(private readonly ctx: AgentContext) {}

  async start(): Promise<void> {
    this.ctx.frameObservers.add(this.observer);
  }

  async stop(): Promise<void> {
    this.ctx.frameObservers.delete(this.observer);
    const last: Promise<void>[] = [];
    for (const [camera, s] of this.cameras) {
      if (s.timer) clearTimeout(s.timer);
      if (s.pending) last.push(this.send(camera, s));
    }
    await Promise.all(last);
  }

  private onLabel(camera: string, label: LabelPayload): void {
    let s = this.cameras.get(camera);
    if (!s) this.cameras.set(camera, (s = { sentAt: 0, pending: null, timer: null }));
    s.pending = label;
    if (s.timer) return;
    const wait = s.sentAt + LAST_LABEL_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      void this.send(camera, s);
      return;
    }
    s.timer = setTimeout(() => {
      s.timer = null;
      void this.send(camera, s);
    }, wait);
    s.timer.unref();
  }

  private async send(camera: string, s: CameraState): Promise<void> {
    const label = s.pending;
    if (!label) return;
    s.pending = null;
    s.sentAt = Date.now();
    await this.ctx.publisher.sendLive(this.ctx.topics.lastLabel(camera), JSON.stringify(label), { qos: this.ctx.config.mqtt.qos.labels, retain: true });
  }
}

export const lastLabelFeature: FeatureDefinition = {
  name: 'last-label',
  enabled: () => true,
  create: async (ctx) => new LastLabelFeature(ctx),
};
