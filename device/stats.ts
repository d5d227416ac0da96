import type { CameraStats, CameraStatus, CollectStats, DriftStatusSummary, StatsPayload } from '../src/mqtt/payloads.ts';

/** Nearest-rank percentile of unsorted samples (pure, for tests); 0 for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

interface CameraCounters {
  frames: number;
  labels: number;
  errors: number;
  errorsByReason: Record<string, number>;
  framesAtLastReport: number;
  paused: boolean;
  /** Date.now() of the last frame read, null before the first. */
  lastFrameAt: number | null;
  status: CameraStatus;
  /** Date.now() when `status` last changed. */
  statusSince: number;
  /** Recent inference latencies (ms) of this camera, a sliding window for its p50/p95. */
  inference: number[];
}

/**
 * Why a message was dropped outside the store-and-forward queue: `offline-qos0` a QoS 0 message while
 * disconnected, `refused` a queued message the broker refused for good (MQTT 5 PUBACK >= 0x80 but
 * the transient ones, device/mqtt/publish-outcome.ts), e.g. 0x87 Not authorized from a topic ACL.
 */
export type PublishDropReason = 'offline-qos0' | 'refused';

/** Counters the agent updates and the stats/metrics features read. Never reset except the fps window. */
export class AgentStats {
  readonly startedAt = Date.now();
  readonly cameras = new Map<string, CameraCounters>();
  readonly errorsByReason: Record<string, number> = {};
  errorsTotal = 0;
  /** Labelled frames with a preprocessing quality warning, by issue. */
  readonly qualityByIssue: Record<string, number> = {};
  qualityFlagged = 0;
  /** Messages dropped outside the queue (QoS 0 while offline, refused by the broker). */
  readonly droppedByReason: Record<string, number> = {};
  /** Recent inference latencies (ms), a sliding window for p50/p95. */
  private readonly inference: number[] = [];
  inferenceCount = 0;
  labelsPublished = 0;
  /** Latest drift status per camera (set by the drift feature on every status change). */
  readonly drift: Record<string, DriftStatusSummary> = {};
  /** Set by the collect feature when it runs. */
  collect: CollectStats | null = null;
  private lastReportAt = Date.now();
  private lastCpu = process.cpuUsage();

  constructor(private readonly windowSize = 1000) {}

  camera(id: string): CameraCounters {
    let c = this.cameras.get(id);
    if (!c) {
      c = { frames: 0, labels: 0, errors: 0, errorsByReason: {}, framesAtLastReport: 0, paused: false, inference: [], lastFrameAt: null, status: 'online', statusSince: Date.now() };
      this.cameras.set(id, c);
    }
    return c;
  }

  frameRead(camera: string): void {
    const c = this.camera(camera);
    c.frames++;
    c.lastFrameAt = Date.now();
  }

  /** Records a camera's status; true when it changed (then `statusSince` is now). */
  setStatus(camera: string, status: CameraStatus, now = Date.now()): boolean {
    const c = this.camera(camera);
    if (c.status === status) return false;
    c.status = status;
    c.statusSince = now;
    return true;
  }

  labelled(camera: string, inferenceMs: number): void {
    const c = this.camera(camera);
    c.labels++;
    this.inferenceCount++;
    for (const window of [this.inference, c.inference]) {
      window.push(inferenceMs);
      if (window.length > this.windowSize) window.shift();
    }
  }

  error(camera: string | null, reason: string): void {
    this.errorsTotal++;
    this.errorsByReason[reason] = (this.errorsByReason[reason] ?? 0) + 1;
    if (camera) {
      const c = this.camera(camera);
      c.errors++;
      c.errorsByReason[reason] = (c.errorsByReason[reason] ?? 0) + 1;
    }
  }

  /** A labelled frame whose preprocessing found these issues (the label carries `quality`). */
  qualityWarning(_camera: string, issues: readonly string[]): void {
    this.qualityFlagged++;
    for (const issue of issues) this.qualityByIssue[issue] = (this.qualityByIssue[issue] ?? 0) + 1;
  }

  drop(reason: PublishDropReason): void {
    this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + 1;
  }

  inferenceMs(): { p50: number; p95: number; count: number } {
    return { p50: percentile(this.inference, 50), p95: percentile(this.inference, 95), count: this.inferenceCount };
  }

  /** Every dropped message by reason: outside the queue as counted here, the queue's bounds as `queue-<bound>`. */
  dropped(queue: { dropped: { total: number; byReason: Record<string, number> } }): { total: number; byReason: Record<string, number> } {
    const byReason: Record<string, number> = { ...this.droppedByReason };
    for (const [k, v] of Object.entries(queue.dropped.byReason)) if (v > 0) byReason[`queue-${k}`] = v;
    const droppedOutside = Object.values(this.droppedByReason).reduce((a, b) => a + b, 0);
    return { total: queue.dropped.total + droppedOutside, byReason };
  }

  uptimeS(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  /** Builds the stats message; fps and cpu cover the time since the previous call. */
  report(queue: { depth: number; dropped: { total: number; byReason: Record<string, number> } }): StatsPayload {
    const now = Date.now();
    const elapsedS = Math.max(1e-3, (now - this.lastReportAt) / 1000);
    const cpu = process.cpuUsage(this.lastCpu);
    this.lastCpu = process.cpuUsage();
    this.lastReportAt = now;
    const cameras: Record<string, CameraStats> = {};
    for (const [id, c] of this.cameras) {
      cameras[id] = {
        fps: round((c.frames - c.framesAtLastReport) / elapsedS),
        frames: c.frames,
        errors: c.errors,
        paused: c.paused,
        errorsByReason: { ...c.errorsByReason },
        inferenceMs: { p50: round(percentile(c.inference, 50)), p95: round(percentile(c.inference, 95)) },
        status: c.status,
        statusSince: new Date(c.statusSince).toISOString(),
      };
      c.framesAtLastReport = c.frames;
    }
    const inf = this.inferenceMs();
    return {
      ts: new Date(now).toISOString(),
      uptimeS: round(this.uptimeS()),
      cameras,
      inferenceMs: { p50: round(inf.p50), p95: round(inf.p95), count: inf.count },
      errors: { total: this.errorsTotal, byReason: { ...this.errorsByReason } },
      quality: { total: this.qualityFlagged, byIssue: { ...this.qualityByIssue } },
      queueDepth: queue.depth,
      dropped: this.dropped(queue),
      rssBytes: process.memoryUsage().rss,
      cpuPercent: round(((cpu.user + cpu.system) / 1000 / (elapsedS * 1000)) * 100),
      ...(Object.keys(this.drift).length > 0 ? { drift: { ...this.drift } } : {}),
      ...(this.collect ? { collect: { ...this.collect, skipped: { ...this.collect.skipped } } } : {}),
    };
  }
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
