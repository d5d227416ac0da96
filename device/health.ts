import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { CameraStatus } from '../src/mqtt/payloads.ts';
import { redactSecrets } from '../src/redact.ts';
import type { AgentContext } from './context.ts';

/**
 * When `/healthz` turns 503, and when a camera counts as stalled (config section `health`). Tests
 * shrink them; the defaults suit a camera at 0.1-30 fps on a Pi.
 */
export const HEALTH_DEFAULTS = {
  /** A camera that read no frame for this many frame intervals (1/fps) is `stalled`... */
  stallIntervals: 3,
  /** ...but never before this many seconds (network cameras pause for a second or two now and then). */
  minStallS: 30,
  /** While connected, a QoS >= 1 publish still not acknowledged after this long is overdue. */
  ackTimeoutS: 30,
  /** While connected for this whole window, a queue that grew and never emptied is not draining. */
  queueGrowthS: 60,
  /** Event loop delay above this (ms)... */
  eventLoopLagMs: 1000,
  /** ...at any time in this many past seconds. */
  eventLoopWindowS: 10,
};

export type HealthConfig = typeof HEALTH_DEFAULTS;

/** How long a camera at `fps` may go without a frame before it is `stalled`. */
export function stallAfterMs(fps: number, cfg: Pick<HealthConfig, 'stallIntervals' | 'minStallS'>): number {
  return Math.max(cfg.stallIntervals * (1000 / fps), cfg.minStallS * 1000);
}

/** What a camera reports about itself for the status topic, stats and /healthz. */
export interface CameraHealth {
  status: CameraStatus;
  /** Why it is stalled or offline. */
  reason: string | null;
}

interface DepthSample {
  at: number;
  depth: number;
  connected: boolean;
}

/** "The queue is growing while connected": pure, fed with samples, so it can be tested without a broker. */
export class QueueGrowth {
  private samples: DepthSample[] = [];
  constructor(private readonly windowMs: number) {}

  sample(depth: number, connected: boolean, now: number): void {
    this.samples.push({ at: now, depth, connected });
    // Keep one sample at or before the window start, so the window is fully covered.
    while (this.samples.length > 1 && this.samples[1].at <= now - this.windowMs) this.samples.shift();
  }

  /** The reason, or null: connected at every sample of a full window, never empty, and deeper at the end. */
  growing(now: number): string | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || first.at > now - this.windowMs) return null;
    if (!this.samples.every((s) => s.connected && s.depth > 0) || last.depth <= first.depth) return null;
    return `queue growing while connected: ${first.depth} -> ${last.depth} label(s) in ${Math.round((last.at - first.at) / 1000)} s`;
  }
}

/**
 * Event-loop delay (perf_hooks histograms), as the worst value over the recent window. Two
 * histograms, reset in turn: a reset also forgets the histogram's previous tick, so a block whose
 * delay had not been recorded yet when `sample` ran is lost by the histogram reset then (seen in
 * a test: a 400 ms block read as 20 ms), but the other one still records it.
 */
export class EventLoopLag {
  private readonly histograms: IntervalHistogram[] = [monitorEventLoopDelay({ resolution: 20 }), monitorEventLoopDelay({ resolution: 20 })];
  private turn = 0;
  private readonly peaks: { at: number; maxMs: number }[] = [];
  constructor(private readonly windowMs: number) {
    for (const h of this.histograms) h.enable();
  }

  /** Moves one histogram's peak into the window; call about once a second, with how late this call is. */
  sample(now: number, lateMs = 0): void {
    const h = this.histograms[this.turn];
    this.turn = 1 - this.turn;
    this.peaks.push({ at: now, maxMs: Math.max(h.max / 1e6, lateMs) });
    h.reset();
    while (this.peaks.length > 0 && this.peaks[0].at < now - this.windowMs) this.peaks.shift();
  }

  /** Worst delay in the window (up to two sample periods more), including what is not sampled yet. */
  worstMs(): number {
    return Math.max(...this.histograms.map((h) => h.max / 1e6), ...this.peaks.map((p) => p.maxMs));
  }

  stop(): void {
    for (const h of this.histograms) h.disable();
  }
}

export interface HealthReport {
  ok: boolean;
  /** One line per problem, e.g. `camera door stalled: no frame for 42 s (limit 30 s)`. */
  reasons: string[];
  cameras: Record<string, { status: CameraStatus; lastFrameAt: string | null }>;
}

/** The MQTT client's last connection error, when its version exposes one (`lastError`). */
function mqttLastError(mqtt: object): string | null {
  const last = (mqtt as { lastError?: unknown }).lastError;
  if (last instanceof Error) return last.message;
  return typeof last === 'string' && last ? last : null;
}

/** Everything `/healthz` checks; samples the queue depth and event loop about once a second. */
export class HealthMonitor {
  private readonly cfg: HealthConfig;
  private readonly queue: QueueGrowth;
  private readonly lag: EventLoopLag;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ctx: AgentContext) {
    this.cfg = ctx.config.health;
    this.queue = new QueueGrowth(this.cfg.queueGrowthS * 1000);
    this.lag = new EventLoopLag(this.cfg.eventLoopWindowS * 1000);
  }

  start(): void {
    const periodMs = Math.min(1000, (this.cfg.queueGrowthS * 1000) / 4);
    let due = Date.now();
    const sample = () => {
      const now = Date.now();
      this.queue.sample(this.ctx.queue.depth, this.ctx.mqtt.connected, now);
      // The timer's own lateness is a second witness of a blocked loop, besides the histograms.
      this.lag.sample(now, now - due);
      due = now + periodMs;
    };
    sample();
    this.timer = setInterval(sample, periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.lag.stop();
  }

  check(now = Date.now()): HealthReport {
    const { ctx, cfg } = this;
    const reasons: string[] = [];
    const cameras: HealthReport['cameras'] = {};
    for (const cam of ctx.cameras.values()) {
      const h = cam.health(now);
      const last = ctx.stats.camera(cam.id).lastFrameAt;
      cameras[cam.id] = { status: h.status, lastFrameAt: last === null ? null : new Date(last).toISOString() };
      if (h.status === 'stalled') reasons.push(`camera ${cam.id} stalled: ${h.reason ?? 'no frames'}`);
    }
    if (!ctx.mqtt.connected) {
      const why = mqttLastError(ctx.mqtt);
      reasons.push(why ? `mqtt disconnected: ${why}` : 'mqtt disconnected');
    } else {
      const ackAge = ctx.mqtt.oldestUnackedMs(now);
      if (ackAge > cfg.ackTimeoutS * 1000) reasons.push(`mqtt acks overdue: oldest unacknowledged publish sent ${Math.round(ackAge / 1000)} s ago (limit ${cfg.ackTimeoutS} s)`);
      const growing = this.queue.growing(now);
      if (growing) reasons.push(growing);
    }
    const lagMs = this.lag.worstMs();
    if (lagMs > cfg.eventLoopLagMs) reasons.push(`event loop lag ${Math.round(lagMs)} ms (limit ${cfg.eventLoopLagMs} ms) in the last ${cfg.eventLoopWindowS} s`);
    // A reason may quote a source URL or broker error: no password leaves through /healthz.
    return { ok: reasons.length === 0, reasons: reasons.map(redactSecrets), cameras };
  }
}
