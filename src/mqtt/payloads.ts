import type { DriftStatus, WindowReport } from '../drift/monitor.ts';

/**
 * Typed payloads, one per topic (see docs/mqtt.md). All are JSON except `status`, which is the
 * plain string `online` or `offline` so that the last will stays readable by any MQTT tool.
 */
export type StatusPayload = 'online' | 'offline';

export interface ModelRef {
  id: string;
  sha256: string;
}

export interface TopClass {
  label: string;
  classId: number;
  confidence: number;
}

/** `<prefix>/<device>/<camera>/label`, one per processed frame. */
export interface LabelPayload {
  /** ISO 8601 time the frame was read. */
  ts: string;
  /** Per-camera frame number, +1 per frame read (gaps mean frames that failed). */
  frame: number;
  label: string;
  classId: number;
  confidence: number;
  /** The three most likely classes, most likely first. */
  top: TopClass[];
  latencyMs: { decode: number; preprocess: number; inference: number; total: number };
  model: ModelRef;
  /** The device and camera ids of the topic, so a message stands alone (wildcard subscribers, stores). */
  device: string;
  camera: string;
  /** File sources only (`dir:`, `file:`): which image, relative to the `dir:` directory (a `file:` source: its base name). */
  file?: string;
  /** Present only when preprocessing found the frame doubtful (docs/preprocessing.md, "Quality"). */
  quality?: LabelQuality;
}

export interface LabelQuality {
  /** Fraction of the 28x28 image the garment covers, 0..1. */
  fill: number;
  /** Separate blobs that stood out from the table (detached ones are left out of the trim). */
  blobs: number;
  /** `no-garment`, `small-garment`, `several-blobs`. */
  issues: string[];
}

export interface CameraInfo {
  id: string;
  source: string;
  fps: number;
  roi: { left: number; top: number; width: number; height: number } | null;
}

/** `<prefix>/<device>/info`, retained. */
export interface InfoPayload {
  version: string;
  deviceId: string;
  startedAt: string;
  model: ModelRef & { path: string; arch: string | null; metrics: Record<string, unknown> | null; classes: string[] };
  provider: string;
  /** `.onnx` file names in the model directory (models.dir; plain names, at most 100): what `switch-model {model}` can load. */
  availableModels: string[];
  cameras: CameraInfo[];
}

export interface CameraStats {
  fps: number;
  frames: number;
  errors: number;
  paused: boolean;
  /** This camera's share of `errors.byReason`. */
  errorsByReason: Record<string, number>;
  /** This camera's inference latency over its last 1,000 frames. */
  inferenceMs: { p50: number; p95: number };
  /** As on the camera's `status` topic, with the ISO time it entered that status. */
  status: CameraStatus;
  statusSince: string;
}

/**
 * A camera's state: `online` (frames arrive), `stalled` (no frame for 3 frame intervals, at least
 * 30 s, or the source is unusable), `paused` (by command), `offline` (stopped: agent shutdown or a
 * finite source that ended). Read it together with the device `status`: after a crash only the
 * device's last will says `offline`.
 */
export type CameraStatus = 'online' | 'stalled' | 'paused' | 'offline';

/** `<prefix>/<device>/<camera>/status`, retained, on every change and every (re)connect. */
export interface CameraStatusPayload {
  status: CameraStatus;
  /** ISO time the camera entered this status. */
  since: string;
  /** The camera's target frame rate. */
  fps: number;
  /** ISO time of the last frame read, null before the first. */
  lastFrameAt: string | null;
  /** Why it is stalled or offline; absent otherwise. */
  reason?: string;
}

/** `<prefix>/<device>/stats`, every `statsInterval` seconds. */
export interface StatsPayload {
  ts: string;
  uptimeS: number;
  cameras: Record<string, CameraStats>;
  inferenceMs: { p50: number; p95: number; count: number };
  errors: { total: number; byReason: Record<string, number> };
  /** Labelled frames whose label carries a `quality` warning, by issue (a frame may count under several). */
  quality: { total: number; byIssue: Record<string, number> };
  /** Labels waiting in the store-and-forward queue. */
  queueDepth: number;
  /** Messages dropped because a queue bound (messages, bytes, age) was exceeded, the broker was down for QoS 0 or refused a queued message for good (`refused`). */
  dropped: { total: number; byReason: Record<string, number> };
  rssBytes: number;
  /** Process CPU use since the previous stats message, percent of one core. */
  cpuPercent: number;
  /** Drift status per camera, when the drift monitor runs. */
  drift?: Record<string, DriftStatusSummary>;
  /** Frames the `collect` feature saved for labelling, and why others were not (when it is enabled). */
  collect?: CollectStats;
}

/** `collect` in the stats message: totals since start, and what `collect.dir`/unlabelled now holds. */
export interface CollectStats {
  saved: number;
  /** Frames not saved, by reason: not-low-confidence, not-ood, full-files, full-bytes, busy, error... */
  skipped: Record<string, number>;
  files: number;
  bytes: number;
  full: boolean;
}

/**
 * `<prefix>/<device>/<camera>/drift`, retained: one drift window report (see docs/drift.md) with
 * the camera and the model it was measured against.
 */
export type DriftPayload = WindowReport & { camera: string; device: string; model: ModelRef };

/** Per-camera drift state in the stats message (present once a camera has a drift monitor). */
export interface DriftStatusSummary {
  status: DriftStatus;
  /** ISO time of the last status change. */
  since: string;
  reasons: string[];
}

/** Command request bodies (`<prefix>/<device>/cmd/<name>`); every field optional unless noted. */
export interface CommandRequests {
  'set-fps': { camera?: string; fps: number; requestId?: string };
  pause: { camera?: string; requestId?: string };
  resume: { camera?: string; requestId?: string };
  snapshot: { camera?: string; requestId?: string };
  'reload-model': { sha256?: string; requestId?: string };
  /** `model`: a file name in the agent's model directory (models.dir), never a path. */
  'switch-model': { model: string; sha256?: string; requestId?: string };
}

/** `<prefix>/<device>/cmd/<name>/result`. */
export interface CommandResult {
  ok: boolean;
  command: string;
  requestId: string | null;
  /** Why it failed, for programs: rate-limited, busy, disabled, too-large, bad-body, not-found, unsigned, ... (docs/mqtt.md). */
  code?: string;
  error?: string;
  /** Command-specific data (e.g. the new model ref, a base64 snapshot). */
  data?: Record<string, unknown>;
}
