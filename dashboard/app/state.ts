import type { CommandResult, DriftPayload, InfoPayload, LabelPayload, StatsPayload } from '../../src/mqtt/payloads.ts';
import { COMMAND_NAMES, deviceTopics } from '../../src/mqtt/topics.ts';

/**
 * What the page knows about the fleet, built only from MQTT messages (pure: no DOM, no clock of its
 * own, so Node tests drive it). Everything arriving is untrusted: payloads are size-capped, parsed
 * defensively, and every history is a bounded ring.
 */
export const LIMITS = {
  devices: 500,
  camerasPerDevice: 64,
  /** Snapshots are the largest messages (the agent's maxFrameBytes default is 20 MB, base64 adds a third). */
  commandResultBytes: 28 * 1024 * 1024,
  messageBytes: 1024 * 1024,
  recentLabels: 12,
  samplesS: 60,
  seriesPoints: 300,
  driftPoints: 200,
  classes: 64,
  replies: 8,
};

/** A camera with no label for this long (and at least 5 frame intervals) while its device is online and it is not paused is stalled. */
export const STALLED_AFTER_S = 15;

export interface Sample {
  t: number;
  inferenceMs: number;
}

export interface DriftPoint {
  t: number;
  status: DriftPayload['status'];
  estimatedAccuracy: number;
  /** The worst metric's value as a fraction of its threshold (>1 fails), accuracy inverted. */
  worst: number;
}

export interface CameraState {
  id: string;
  lastLabel: LabelPayload | null;
  lastLabelAt: number | null;
  recent: LabelPayload[];
  classCounts: Map<string, number>;
  samples: Sample[];
  series: { t: number[]; fps: number[]; p50: number[]; p95: number[] };
  drift: DriftPayload | null;
  driftHistory: DriftPoint[];
  driftChangedAt: number | null;
}

export interface DeviceState {
  id: string;
  status: 'online' | 'offline' | 'unknown';
  statusChangedAt: number | null;
  info: InfoPayload | null;
  stats: StatsPayload | null;
  lastSeenAt: number | null;
  cameras: Map<string, CameraState>;
  replies: CommandResult[];
}

export type AlertKind = 'offline' | 'stalled' | 'drift';

export interface Alert {
  device: string;
  camera: string | null;
  kind: AlertKind;
  /** 3 offline or drift alert, 2 stalled, 1 drift warn. */
  severity: number;
  text: string;
  since: number | null;
}

export type Parsed =
  | { kind: 'status' | 'info' | 'stats'; device: string }
  | { kind: 'label' | 'last-label' | 'drift'; device: string; camera: string }
  | { kind: 'result'; device: string; command: string };

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Splits `<prefix>/<device>/...` into what it is, by the topic module's own layout; null for anything else. */
export function parseTopic(prefix: string, topic: string): Parsed | null {
  if (!topic.startsWith(`${prefix}/`)) return null;
  const parts = topic.slice(prefix.length + 1).split('/');
  if (parts.length < 2 || parts.length > 4 || !parts.every((p) => ID.test(p))) return null;
  const device = parts[0];
  const t = deviceTopics(device, prefix);
  for (const kind of ['status', 'info', 'stats'] as const) if (topic === t[kind]) return { kind, device };
  const camera = parts[1];
  if (topic === t.label(camera)) return { kind: 'label', device, camera };
  if (topic === t.lastLabel(camera)) return { kind: 'last-label', device, camera };
  if (topic === t.drift(camera)) return { kind: 'drift', device, camera };
  const command = topic.endsWith('/result') ? t.parseCommand(topic.slice(0, -'/result'.length)) : null;
  if (command && topic === t.commandResult(command)) return { kind: 'result', device, command };
  return null;
}

/** The subscriptions the page needs, for one topic prefix. */
export function subscriptions(prefix: string): string[] {
  const any = deviceTopics('+', prefix);
  return [any.status, any.info, any.stats, any.label('+'), any.lastLabel('+'), any.drift('+'), ...COMMAND_NAMES.map((n) => any.commandResult(n))];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : Number.NaN);

function parseJson(bytes: Uint8Array, max: number): Record<string, unknown> | null {
  if (bytes.length > max) return null;
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

function validLabel(p: Record<string, unknown>): LabelPayload | null {
  if (typeof p.label !== 'string' || !Number.isFinite(num(p.confidence)) || !Array.isArray(p.top) || !isObject(p.latencyMs)) return null;
  if (p.label.length > 64 || p.top.length > 10) return null;
  return p as unknown as LabelPayload;
}

export function percentileOf(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function worstMetric(d: DriftPayload): number {
  let worst = 0;
  for (const [name, m] of Object.entries(d.metrics ?? {})) {
    if (!isObject(m)) continue;
    const value = num(m.value);
    const threshold = num(m.threshold);
    if (!(threshold > 0) || !Number.isFinite(value)) continue;
    worst = Math.max(worst, name === 'accuracy' ? threshold / Math.max(value, 1e-6) : value / threshold);
  }
  return worst;
}

const push = <T>(list: T[], item: T, max: number) => {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
};

export class FleetState {
  readonly devices = new Map<string, DeviceState>();

  constructor(readonly prefix: string) {}

  device(id: string): DeviceState | null {
    let d = this.devices.get(id);
    if (!d) {
      if (this.devices.size >= LIMITS.devices) return null;
      d = { id, status: 'unknown', statusChangedAt: null, info: null, stats: null, lastSeenAt: null, cameras: new Map(), replies: [] };
      this.devices.set(id, d);
    }
    return d;
  }

  camera(d: DeviceState, id: string): CameraState | null {
    let c = d.cameras.get(id);
    if (!c) {
      if (d.cameras.size >= LIMITS.camerasPerDevice) return null;
      c = { id, lastLabel: null, lastLabelAt: null, recent: [], classCounts: new Map(), samples: [], series: { t: [], fps: [], p50: [], p95: [] }, drift: null, driftHistory: [],
        driftChangedAt: null };
      d.cameras.set(id, c);
    }
    return c;
  }

  /** Applies one MQTT message; false when it was ignored (unknown topic, malformed, too large). */
  handle(topic: string, payload: Uint8Array, now: number, retained = false): boolean {
    const t = parseTopic(this.prefix, topic);
    if (!t) return false;
    if (t.kind === 'status') {
      const d = this.device(t.device);
      if (!d || payload.length > 16) return false;
      const text = new TextDecoder().decode(payload);
      if (text !== 'online' && text !== 'offline') return false;
      // A retained status says nothing about when it changed.
      if (d.status !== text) d.statusChangedAt = retained ? null : now;
      d.status = text;
      return true;
    }
    const p = parseJson(payload, t.kind === 'result' ? LIMITS.commandResultBytes : LIMITS.messageBytes);
    if (!p) return false;
    const d = this.device(t.device);
    if (!d) return false;
    switch (t.kind) {
      case 'info':
        if (!isObject(p.model) || !Array.isArray(p.cameras)) return false;
        d.info = p as unknown as InfoPayload;
        for (const cam of d.info.cameras) if (isObject(cam) && typeof cam.id === 'string' && ID.test(cam.id)) this.camera(d, cam.id);
        return true;
      case 'stats':
        if (!isObject(p.cameras)) return false;
        d.stats = p as unknown as StatsPayload;
        d.lastSeenAt = now;
        return true;
      case 'result': {
        if (typeof p.ok !== 'boolean') return false;
        push(d.replies, { ...(p as unknown as CommandResult), command: t.command }, LIMITS.replies);
        return true;
      }
      case 'label':
      case 'last-label':
      case 'drift':
        return this.cameraMessage(d, t.kind, t.camera, p, now, retained);
      default:
        return false;
    }
  }

  private cameraMessage(d: DeviceState, kind: 'label' | 'last-label' | 'drift', camera: string, p: Record<string, unknown>, now: number, retained: boolean): boolean {
    const c = this.camera(d, camera);
    if (!c) return false;
    if (kind === 'drift') {
      if (p.status !== 'ok' && p.status !== 'warn' && p.status !== 'alert') return false;
      const drift = p as unknown as DriftPayload;
      if (c.drift?.status !== drift.status) c.driftChangedAt = now;
      c.drift = drift;
      push(c.driftHistory, { t: now, status: drift.status, estimatedAccuracy: num(drift.estimatedAccuracy), worst: worstMetric(drift) }, LIMITS.driftPoints);
      return true;
    }
    const label = validLabel(p);
    if (!label) return false;
    c.lastLabel = label;
    // Stall detection counts from when the page heard of the camera, even for a retained label.
    c.lastLabelAt = now;
    if (!retained) d.lastSeenAt = now;
    if (kind === 'last-label') return true;
    push(c.recent, label, LIMITS.recentLabels);
    if (c.classCounts.has(label.label) || c.classCounts.size < LIMITS.classes) c.classCounts.set(label.label, (c.classCounts.get(label.label) ?? 0) + 1);
    c.samples.push({ t: now, inferenceMs: num(label.latencyMs.inference) });
    while (c.samples.length > 0 && c.samples[0].t < now - LIMITS.samplesS * 1000) c.samples.shift();
    return true;
  }

  /** Live numbers of a camera from the labels of the last `windowS` seconds. */
  liveRates(c: CameraState, now: number, windowS = 5): { fps: number; p50: number; p95: number } {
    const recent = c.samples.filter((s) => s.t > now - windowS * 1000);
    const ms = recent.map((s) => s.inferenceMs).filter(Number.isFinite);
    return { fps: recent.length / windowS, p50: percentileOf(ms, 50), p95: percentileOf(ms, 95) };
  }

  /** Adds one point per camera to the fps/latency series (the page calls it once a second). */
  tick(now: number): void {
    for (const d of this.devices.values()) {
      for (const c of d.cameras.values()) {
        const r = this.liveRates(c, now);
        const s = c.series;
        s.t.push(now / 1000);
        s.fps.push(r.fps);
        s.p50.push(r.p50);
        s.p95.push(r.p95);
        if (s.t.length > LIMITS.seriesPoints) for (const k of ['t', 'fps', 'p50', 'p95'] as const) s[k].shift();
      }
    }
  }

  paused(d: DeviceState, camera: string): boolean {
    return d.stats?.cameras?.[camera]?.paused === true;
  }

  fpsTarget(d: DeviceState, camera: string): number | null {
    const cam = d.info?.cameras.find((c) => c.id === camera);
    return cam && Number.isFinite(cam.fps) && cam.fps > 0 ? cam.fps : null;
  }

  alerts(now: number): Alert[] {
    const out: Alert[] = [];
    for (const d of this.devices.values()) {
      if (d.status === 'offline') {
        out.push({ device: d.id, camera: null, kind: 'offline', severity: 3, text: `${d.id} is offline`, since: d.statusChangedAt });
        continue;
      }
      for (const c of d.cameras.values()) {
        if (d.status === 'online' && !this.paused(d, c.id)) {
          const fps = this.fpsTarget(d, c.id);
          const limitMs = Math.max(STALLED_AFTER_S, fps ? 5 / fps : 0) * 1000;
          const since = c.lastLabelAt ?? d.statusChangedAt;
          if (since !== null && now - since > limitMs) out.push({ device: d.id, camera: c.id, kind: 'stalled', severity: 2, text: `${d.id}/${c.id}: no label for ` +
            `${Math.round((now - since) / 1000)} s`, since });
        }
        if (c.drift && c.drift.status !== 'ok') {
          const reason = Array.isArray(c.drift.reasons) && typeof c.drift.reasons[0] === 'string' ? `: ${c.drift.reasons[0]}` : '';
          out.push({ device: d.id, camera: c.id, kind: 'drift', severity: c.drift.status === 'alert' ? 3 : 1, text: `${d.id}/${c.id}: drift ${c.drift.status}${reason}`, since: c.driftChangedAt });
        }
      }
    }
    return out.sort((a, b) => b.severity - a.severity || a.device.localeCompare(b.device));
  }

  /** Devices with problems first (worst alert first), then by id. */
  sortedDevices(now: number): DeviceState[] {
    const worst = new Map<string, number>();
    for (const a of this.alerts(now)) worst.set(a.device, Math.max(worst.get(a.device) ?? 0, a.severity));
    return [...this.devices.values()].sort((a, b) => (worst.get(b.id) ?? 0) - (worst.get(a.id) ?? 0) || a.id.localeCompare(b.id));
  }
}
