import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DriftStatus } from '../../src/drift/monitor.ts';
import type { AgentContext, FrameResult } from '../context.ts';

/** Every Prometheus metric the agent exposes on `/metrics` (names and units: docs/monitoring.md). */
export const METRIC_NAMES = {
  info: 'edgeloom_build_info',
  frames: 'edgeloom_frames_total',
  labels: 'edgeloom_labels_total',
  errors: 'edgeloom_frame_errors_total',
  inference: 'edgeloom_inference_seconds',
  frameLatency: 'edgeloom_frame_latency_seconds',
  queueDepth: 'edgeloom_queue_depth',
  dropped: 'edgeloom_dropped_total',
  mqttConnected: 'edgeloom_mqtt_connected',
  paused: 'edgeloom_camera_paused',
  fpsTarget: 'edgeloom_camera_fps_target',
  drift: 'edgeloom_drift_status',
} as const;

export const DRIFT_STATUSES: readonly DriftStatus[] = ['ok', 'warn', 'alert'];

/**
 * Inference of a 28x28 CNN takes 0.1-2 ms on a Pi 4/x86 core (docs/benchmarks.md) and up to ~20 ms
 * on a loaded Pi Zero; a frame (decode + preprocess + inference) 2-50 ms for 320x240..1280x960 JPEGs.
 * Buckets from 100 µs to 2.5 s cover both with room for a struggling board.
 */
export const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * prom-client's default Node.js gauges that end in `_total` (counts of open handles, requests,
 * resources): Prometheus reserves `_total` for counters and `promtool check metrics` rejects them.
 * The same counts stay available without the suffix (`nodejs_active_handles` etc.).
 */
const NON_COUNTERS_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * The agent's Prometheus registry: counters and gauges read from AgentStats when scraped, latency
 * histograms fed by every labelled frame (a frame observer, removed by `stop`). Process and Node.js
 * metrics keep their standard unprefixed names (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`)
 * so generic Node.js dashboards work next to the edgeloom one.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly inference: Histogram<'camera'>;
  private readonly frameLatency: Histogram<'camera'>;
  private readonly observer = (f: FrameResult) => this.observe(f);

  constructor(private readonly ctx: AgentContext) {
    const registers = [this.registry];
    // Every series carries the device id: in a fleet, `instance` is an address that changes with DHCP.
    this.registry.setDefaultLabels({ device: ctx.config.deviceId });
    collectDefaultMetrics({ register: this.registry });
    for (const name of NON_COUNTERS_NAMED_TOTAL) this.registry.removeSingleMetric(name);
    const s = ctx.stats;
    new Gauge({ name: METRIC_NAMES.info, help: 'Always 1; the labels say which edgeloom version, model and execution provider run', labelNames: ['version', 'model', 'provider'], registers, collect() {
      this.reset();
      const info = ctx.info();
      this.set({ version: info.version, model: info.model.id, provider: info.provider }, 1);
    } });
    new Counter({ name: METRIC_NAMES.frames, help: 'Frames read, per camera', labelNames: ['camera'], registers, collect() {
      this.reset();
      for (const [camera, c] of s.cameras) this.inc({ camera }, c.frames);
    } });
    new Counter({ name: METRIC_NAMES.labels, help: 'Frames classified and published as labels, per camera', labelNames: ['camera'], registers, collect() {
      this.reset();
      for (const [camera, c] of s.cameras) this.inc({ camera }, c.labels);
    } });
    new Counter({ name: METRIC_NAMES.errors, help: 'Frames that failed, per camera and reason (source, undecodable, empty-frame, frame-too-large, roi-outside-frame, processing)',
      labelNames: ['camera', 'reason'], registers, collect() {
      this.reset();
      for (const [camera, c] of s.cameras) for (const [reason, n] of Object.entries(c.errorsByReason)) this.inc({ camera, reason }, n);
    } });
    this.inference = new Histogram({ name: METRIC_NAMES.inference, help: 'Model inference time per frame, per camera', labelNames: ['camera'], buckets: LATENCY_BUCKETS_S, registers });
    this.frameLatency = new Histogram({ name: METRIC_NAMES.frameLatency, help: 'Time from a frame being read to its label being ready (decode, preprocess, inference), per camera',
      labelNames: ['camera'], buckets: LATENCY_BUCKETS_S, registers });
    new Gauge({ name: METRIC_NAMES.queueDepth, help: 'Labels waiting in the store-and-forward queue for the broker', registers, collect() {
      this.set(ctx.queue.depth);
    } });
    const droppedHelp = 'Messages dropped, per reason (queue-max-messages, queue-max-bytes, queue-max-age, offline-qos0, refused)';
    new Counter({ name: METRIC_NAMES.dropped, help: droppedHelp, labelNames: ['reason'], registers, collect() {
      this.reset();
      for (const [reason, n] of Object.entries(s.dropped(ctx.queue).byReason)) this.inc({ reason }, n);
    } });
    new Gauge({ name: METRIC_NAMES.mqttConnected, help: '1 while connected to the broker', registers, collect() {
      this.set(ctx.mqtt.connected ? 1 : 0);
    } });
    new Gauge({ name: METRIC_NAMES.paused, help: '1 while the camera is paused (pause command)', labelNames: ['camera'], registers, collect() {
      this.reset();
      for (const [camera, c] of ctx.cameras) this.set({ camera }, c.paused ? 1 : 0);
    } });
    new Gauge({ name: METRIC_NAMES.fpsTarget, help: 'Maximum frames per second the camera is set to', labelNames: ['camera'], registers, collect() {
      this.reset();
      for (const [camera, c] of ctx.cameras) this.set({ camera }, c.fps);
    } });
    new Gauge({ name: METRIC_NAMES.drift, help: 'Drift status per camera: 1 for the current status (ok, warn, alert), 0 for the others; absent before the first drift window',
      labelNames: ['camera', 'status'], registers, collect() {
      this.reset();
      for (const [camera, d] of Object.entries(s.drift)) for (const status of DRIFT_STATUSES) this.set({ camera, status }, d.status === status ? 1 : 0);
    } });
  }

  start(): void {
    this.ctx.frameObservers.add(this.observer);
  }

  stop(): void {
    this.ctx.frameObservers.delete(this.observer);
  }

  private observe(f: FrameResult): void {
    this.inference.observe({ camera: f.camera }, f.label.latencyMs.inference / 1000);
    this.frameLatency.observe({ camera: f.camera }, f.label.latencyMs.total / 1000);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
