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

const LATENESS_TICK_MS = 100;

/**
 * Event-loop delay, as the worst value over the recent window, from two witnesses: perf_hooks
 * histograms, and a 100 ms timer measuring its own lateness. The histograms alone missed blocks
 * now and then in tests on a loaded machine (a 600 ms block never showed), and a reset forgets the
 * histogram's previous tick, so one whose delay was still pending loses it; hence two histograms
 * reset in turn, and the timer, which is certain to be late after any block longer than its tick.
 */
export class EventLoopLag {
  private readonly histograms: IntervalHistogram[] = [monitorEventLoopDelay({ resolution: 20 }), monitorEventLoopDelay({ resolution: 20 })];
  private turn = 0;
  private readonly peaks: { at: number; maxMs: number }[] = [];
  private lateMs = 0;
  private lastTick = performance.now();
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly windowMs: number) {
    for (const h of this.histograms) h.enable();
    this.ticker = setInterval(() => {
      const now = performance.now();
      this.lateMs = Math.max(this.lateMs, now - this.lastTick - LATENESS_TICK_MS);
      this.lastTick = now;
    }, LATENESS_TICK_MS);
    this.ticker.unref();
  }

  /** Moves the current peak into the window; call about once a second. */
  sample(now: number): void {
    const h = this.histograms[this.turn];
    this.turn = 1 - this.turn;
    this.peaks.push({ at: now, maxMs: Math.max(h.max / 1e6, this.lateMs) });
    h.reset();
    this.lateMs = 0;
    while (this.peaks.length > 0 && this.peaks[0].at < now - this.windowMs) this.peaks.shift();
  }

  /** Worst delay in the window (up to two sample periods more), including what is not sampled yet. */
  worstMs(): number {
    return Math.max(this.lateMs, ...this.histograms.map((h) => h.max / 1e6), ...this.peaks.map((p) => p.maxMs));
  }

  stop(): void {
    clearInterval(this.ticker);
    for (const h of this.histograms) h.disable();
  }
}

export interface HealthReport {
  ok: boolean;
  /** One line per problem, e.g. `camera door stalled: no frame for 42 s (limit 30 s)`. */
  reasons: string[];
  cameras: Record<string, { status: CameraStatus; lastFrameAt: string | null }>;
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
    const sample = () => {
      const now = Date.now();
      this.queue.sample(this.ctx.queue.depth, this.ctx.mqtt.connected, now);
      this.lag.sample(now);
    };
    sample();
    this.timer = setInterval(sample, Math.min(1000, (this.cfg.queueGrowthS * 1000) / 4));
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
      const why = ctx.mqtt.lastError;
      reasons.push(why ? `mqtt disconnected: ${why.message} (${why.code})` : 'mqtt disconnected');
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
