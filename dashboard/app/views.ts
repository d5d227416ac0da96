import type { CommandName } from '../../src/mqtt/topics.ts';
import type { CommandResult } from '../../src/mqtt/payloads.ts';
import { driftChart, liveChart, type Chart } from './charts.ts';
import { ago, fill, fmt, h, setClass, setText, snapshotUrl } from './dom.ts';
import type { CameraState, DeviceState, FleetState } from './state.ts';

/** Sends a command to a device and resolves with its `cmd/<name>/result` (or a timeout result). */
export type SendCommand = (device: string, name: CommandName, body: Record<string, unknown>) => Promise<CommandResult>;

function describeResult(r: CommandResult): string {
  if (!r.ok) return `${r.command}: failed: ${r.error ?? 'no reason given'}`;
  const d = r.data ?? {};
  if (r.command === 'snapshot') return `snapshot: ${String(d.camera)} frame ${String(d.frame)}, ${String(d.bytes)} bytes`;
  if (r.command === 'switch-model' || r.command === 'reload-model') return `${r.command}: ok, now ${String((d.model as { id?: string } | undefined)?.id ?? '?')}`;
  const cams = Array.isArray(d.cameras) ? ` (${d.cameras.join(', ')})` : '';
  if (r.command === 'set-fps') return `set-fps: ok, ${String(d.fps)} fps${cams}`;
  return `${r.command}: ok${cams}`;
}

class CameraView {
  readonly el: HTMLElement;
  private readonly label = h('div', { class: 'label' });
  private readonly confidence = h('div', { class: 'confidence' });
  private readonly top = h('ol', { class: 'top3' });
  private readonly numbers = h('div', { class: 'numbers' });
  private readonly errors = h('div', { class: 'errors' });
  private readonly counts = h('div', { class: 'counts' });
  private readonly stream = h('ol', { class: 'stream' });
  private readonly driftBadge = h('span', { class: 'badge' });
  private readonly reasons = h('ul', { class: 'reasons' });
  private readonly live: Chart = liveChart();
  private readonly drift: Chart = driftChart();
  private readonly fpsInput = h('input', { type: 'number', min: '0.1', max: '120', step: '0.1', value: '1', 'aria-label': 'frames per second' });
  private readonly snapshot = h('img', { class: 'snapshot', alt: 'snapshot', hidden: true });
  private lastStreamFrame = -1;

  constructor(private readonly device: string, private readonly camera: string, private readonly send: SendCommand, private readonly onReply: (r: CommandResult) => void) {
    const run = (name: CommandName, body: Record<string, unknown>) => () => void this.send(this.device, name, { camera: this.camera, ...body }).then((r) => {
      this.onReply(r);
      if (name === 'snapshot') this.showSnapshot(r);
    });
    this.el = h('div', { class: 'camera', 'data-camera': camera },
      h('h3', {}, camera, ' ', this.driftBadge),
      h('div', { class: 'now' }, this.label, this.confidence),
      this.top,
      this.numbers,
      this.errors,
      h('div', { class: 'controls' },
        h('button', { onclick: run('pause', {}), 'data-cmd': 'pause' }, 'Pause'),
        h('button', { onclick: run('resume', {}), 'data-cmd': 'resume' }, 'Resume'),
        h('label', {}, 'fps ', this.fpsInput),
        h('button', { onclick: () => run('set-fps', { fps: Number(this.fpsInput.value) })(), 'data-cmd': 'set-fps' }, 'Set fps'),
        h('button', { onclick: run('snapshot', {}), 'data-cmd': 'snapshot' }, 'Snapshot')),
      this.snapshot,
      h('details', { class: 'more', open: true }, h('summary', {}, 'Throughput and latency'), this.live.el),
      h('details', { class: 'more', open: true }, h('summary', {}, 'Drift'), this.reasons, this.drift.el),
      h('details', { class: 'more' }, h('summary', {}, 'Per-class counts (sorting bins)'), this.counts),
      h('details', { class: 'more' }, h('summary', {}, 'Label stream'), this.stream));
  }

  private showSnapshot(r: CommandResult): void {
    const url = r.ok ? snapshotUrl(r.data?.imageBase64) : null;
    this.snapshot.hidden = url === null;
    if (url) this.snapshot.src = url;
  }

  update(state: FleetState, d: DeviceState, c: CameraState, now: number): void {
    const l = c.lastLabel;
    setText(this.label, l ? l.label : 'no label yet');
    setText(this.confidence, l ? `${fmt(l.confidence * 100)} %` : '');
    fill(this.top, (l?.top ?? []).slice(0, 3).map((t) => h('li', {}, `${String(t.label)} ${fmt(Number(t.confidence) * 100)} %`)));
    const rates = state.liveRates(c, now);
    const stats = d.stats?.cameras?.[c.id];
    const paused = state.paused(d, c.id);
    const target = state.fpsTarget(d, c.id);
    if (target !== null && document.activeElement !== this.fpsInput && this.fpsInput.dataset.shown !== String(target)) {
      this.fpsInput.value = String(target);
      this.fpsInput.dataset.shown = String(target);
    }
    // The label's own time (the agent's clock): a retained last label may be hours old.
    const labelTime = l ? Date.parse(l.ts) : Number.NaN;
    setText(this.numbers,
      `${fmt(rates.fps)} fps${target ? ` (max ${target})` : ''} · inference p50 ${fmt(rates.p50, 2)} ms, p95 ${fmt(rates.p95, 2)} ms${paused ? ' · paused' : ''} · last label ` +
        `${ago(Number.isFinite(labelTime) ? Math.min(labelTime, now) : null, now)}`);
    const byReason = Object.entries(stats?.errorsByReason ?? {});
    setText(this.errors, byReason.length ? `errors: ${byReason.map(([k, v]) => `${k} ${String(v)}`).join(', ')}` : `errors: ${stats ? 'none' : '–'}`);
    const counts = [...c.classCounts].sort((a, b) => b[1] - a[1]);
    const max = Math.max(1, ...counts.map(([, n]) => n));
    fill(this.counts, counts.map(([name, n]) => h('div', { class: 'count' }, h('span', {}, name), h('span', { class: 'bar', style: `width:${(100 * n) / max}%` }), h('span', {}, String(n)))));
    const newest = c.recent.at(-1);
    if (newest && newest.frame !== this.lastStreamFrame) {
      this.lastStreamFrame = newest.frame;
      fill(this.stream, [...c.recent].reverse().map((x) => h('li', {}, `#${String(x.frame)} ${x.label} ${fmt(x.confidence * 100)} %`)));
    }
    const status = c.drift?.status ?? null;
    setText(this.driftBadge, status ? `drift ${status}` : 'drift –');
    this.driftBadge.className = `badge drift-${status ?? 'none'}`;
    fill(this.reasons,
      status && status !== 'ok' ? (c.drift?.reasons ?? []).slice(0, 5).map((r) => h('li', {}, String(r))) : [h('li', { class: 'muted' },
        c.drift ? `last window ok (frames ${c.drift.window?.first}–${c.drift.window?.last})` : 'no drift window yet')]);
    this.live.update([c.series.t, c.series.fps, c.series.p50, c.series.p95]);
    this.drift.update([c.driftHistory.map((p) => p.t / 1000), c.driftHistory.map((p) => p.estimatedAccuracy * 100), c.driftHistory.map((p) => p.worst)]);
  }
}

class DeviceView {
  readonly el: HTMLElement;
  private readonly badge = h('span', { class: 'badge' });
  private readonly meta = h('div', { class: 'meta' });
  private readonly reply = h('div', { class: 'reply', role: 'status' });
  private readonly models = h('select', { 'aria-label': 'model' });
  private readonly cameras = h('div', { class: 'cameras' });
  private readonly views = new Map<string, CameraView>();

  private readonly onReply = (r: CommandResult) => {
    setText(this.reply, describeResult(r));
    setClass(this.reply, 'failed', !r.ok);
  };

  constructor(private readonly id: string, private readonly send: SendCommand) {
    const onReply = this.onReply;
    const switchModel = () => {
      if (this.models.value) void this.send(this.id, 'switch-model', { model: this.models.value }).then(onReply);
    };
    this.el = h('section', { class: 'device', 'data-device': id },
      h('header', {}, h('h2', {}, id), this.badge),
      this.meta,
      h('div', { class: 'controls' },
        h('label', {}, 'Model ', this.models),
        h('button', { onclick: switchModel, 'data-cmd': 'switch-model' }, 'Switch model'),
        h('button', { onclick: () => void this.send(this.id, 'reload-model', {}).then(onReply), 'data-cmd': 'reload-model' }, 'Reload')),
      this.reply,
      this.cameras);
  }

  update(state: FleetState, d: DeviceState, now: number, worst: number): void {
    setText(this.badge, d.status);
    this.badge.className = `badge status-${d.status}`;
    setClass(this.el, 'problem', worst >= 2);
    setClass(this.el, 'warning', worst === 1);
    const info = d.info;
    const accuracy = Number((info?.model.metrics as { accuracy?: unknown } | null | undefined)?.accuracy);
    const since = d.status === 'online' ? (d.statusChangedAt ?? (info ? Date.parse(info.startedAt) : null)) : d.statusChangedAt ?? d.lastSeenAt;
    setText(this.meta, info
      ? `${d.status} ${since === null ? 'since before this page opened' : `since ${ago(since, now)}`} · model ` +
        `${info.model.id}${Number.isFinite(accuracy) ? ` (${fmt(accuracy * 100, 2)} % test accuracy)` : ''} · ${info.provider} · edgeloom ${info.version}`
      : `${d.status} · waiting for info`);
    const files = Array.isArray(info?.availableModels) ? info.availableModels.filter((f): f is string => typeof f === 'string') : [];
    const key = files.join('\n');
    if (this.models.dataset.key !== key) {
      this.models.dataset.key = key;
      fill(this.models, files.map((f) => h('option', { value: f }, f)));
    }
    const current = info?.model.path.split(/[\\/]/).pop();
    if (current && files.includes(current) && document.activeElement !== this.models && this.models.dataset.shown !== current) {
      this.models.value = current;
      this.models.dataset.shown = current;
    }
    for (const c of d.cameras.values()) {
      let v = this.views.get(c.id);
      if (!v) {
        v = new CameraView(this.id, c.id, this.send, this.onReply);
        this.views.set(c.id, v);
        this.cameras.append(v.el);
      }
      v.update(state, d, c, now);
    }
  }
}

/** The fleet: alerts on top, then one card per device, problems first. */
export class FleetView {
  readonly el: HTMLElement;
  private readonly alerts = h('ul', { class: 'alerts', 'aria-live': 'polite' });
  private readonly list = h('div', { class: 'devices' });
  private readonly empty = h('p', { class: 'muted' }, 'No device yet: waiting for retained status/info messages on the broker.');
  private readonly views = new Map<string, DeviceView>();

  constructor(private readonly state: FleetState, private readonly send: SendCommand) {
    this.el = h('main', {}, h('h2', { class: 'section' }, 'Alerts'), this.alerts, h('h2', { class: 'section' }, 'Devices'), this.empty, this.list);
  }

  render(now: number): void {
    const alerts = this.state.alerts(now);
    fill(this.alerts, alerts.length
      ? alerts.map((a) => h('li', { class: `alert sev-${a.severity} kind-${a.kind}`, 'data-device': a.device, 'data-kind': a.kind }, a.text,
        a.since !== null ? h('span', { class: 'muted' }, ` · since ${ago(a.since, now)}`) : null))
      : [h('li', { class: 'muted ok' }, 'No alerts')]);
    const worst = new Map<string, number>();
    for (const a of alerts) worst.set(a.device, Math.max(worst.get(a.device) ?? 0, a.severity));
    this.empty.hidden = this.state.devices.size > 0;
    const sorted = this.state.sortedDevices(now);
    const views = sorted.map((d) => {
      let v = this.views.get(d.id);
      if (!v) {
        v = new DeviceView(d.id, this.send);
        this.views.set(d.id, v);
      }
      return v;
    });
    // Cards move only when the order changed: moving a card would take the focus out of its inputs.
    if (views.some((v, i) => this.list.children[i] !== v.el)) this.list.replaceChildren(...views.map((v) => v.el));
    sorted.forEach((d, i) => views[i].update(this.state, d, now, worst.get(d.id) ?? 0));
  }
}
