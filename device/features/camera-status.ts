import type { CameraStatusPayload } from '../../src/mqtt/payloads.ts';
import { redactSecrets } from '../../src/redact.ts';
import type { CameraRunner } from '../camera.ts';
import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';
import { stallAfterMs } from '../health.ts';

/**
 * Per-camera state on `<prefix>/<device>/<camera>/status` (retained): re-evaluated about once a
 * second (more often when the stall limit is short), published on every change and every
 * (re)connect, and recorded in stats. On a clean stop each camera is published `offline`; after a
 * crash the device's last will (`<device>/status` = `offline`) is what tells, so consumers read
 * both (documented in docs/mqtt.md).
 */
class CameraStatusFeature implements Feature {
  readonly name = 'camera-status';
  private timer: NodeJS.Timeout | null = null;
  private readonly onConnect = () => this.publishAll();
  constructor(private readonly ctx: AgentContext) {}

  async start(): Promise<void> {
    const shortest = Math.min(...[...this.ctx.cameras.values()].map((c) => stallAfterMs(c.cfg.fps, this.ctx.config.health)));
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, shortest / 4)));
    this.timer.unref();
    this.ctx.mqtt.on('connect', this.onConnect);
    if (this.ctx.mqtt.connected) this.publishAll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.ctx.mqtt.off('connect', this.onConnect);
    // Cameras are stopped before features: each one now reports `offline`.
    this.tick();
    await Promise.all([...this.ctx.cameras.values()].map((c) => this.publish(c)));
  }

  private tick(): void {
    const now = Date.now();
    for (const cam of this.ctx.cameras.values()) {
      const h = cam.health(now);
      if (!this.ctx.stats.setStatus(cam.id, h.status, now)) continue;
      const line = `camera ${cam.id}: ${h.status}${h.reason ? ` (${h.reason})` : ''}`;
      if (h.status === 'stalled') this.ctx.log.warn(line);
      else this.ctx.log.info(line);
      this.publish(cam).catch(() => undefined);
    }
  }

  private publishAll(): void {
    this.tick();
    for (const cam of this.ctx.cameras.values()) this.publish(cam).catch(() => undefined);
  }

  private async publish(cam: CameraRunner): Promise<void> {
    const c = this.ctx.stats.camera(cam.id);
    const reason = cam.health().reason;
    const payload: CameraStatusPayload = {
      status: c.status,
      since: new Date(c.statusSince).toISOString(),
      fps: cam.fps,
      lastFrameAt: c.lastFrameAt === null ? null : new Date(c.lastFrameAt).toISOString(),
      ...(reason && c.status !== 'online' && c.status !== 'paused' ? { reason: redactSecrets(reason) } : {}),
    };
    await this.ctx.publisher.sendLive(this.ctx.topics.cameraStatus(cam.id), JSON.stringify(payload), { qos: this.ctx.config.mqtt.qos.status, retain: true });
  }
}

export const cameraStatusFeature: FeatureDefinition = {
  name: 'camera-status',
  enabled: () => true,
  create: async (ctx) => new CameraStatusFeature(ctx),
};
