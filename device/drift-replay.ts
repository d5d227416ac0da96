import { firstLine, UserError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { preprocessImage, toModelInput } from '../src/preprocess.ts';
import { DriftMonitor, observeFrame, type WindowMode, type WindowReport } from '../src/drift/monitor.ts';
import { loadDriftReference } from './features/drift.ts';
import { loadModel } from './model.ts';
import { createFrameSource, FINITE_SOURCE_SPEC_HELP, parseSourceSpec } from './sources/spec.ts';

export interface DriftReplayOptions {
  model: string;
  source: string;
  window?: number;
  mode?: WindowMode;
  stride?: number;
  falseAlarmRate?: number;
  invert?: 'auto' | 'always' | 'never';
}

export interface DriftReplayResult {
  model: string;
  reference: { split: string; count: number; note: string };
  frames: number;
  skipped: number;
  windows: WindowReport[];
  /** Highest status any window reached. */
  worst: 'ok' | 'warn' | 'alert';
}

/**
 * `edgeloom drift`: replays a frame source offline through the agent's own preprocessing, model
 * session and DriftMonitor, one frame at a time in source order (no tfjs, no training code).
 */
export async function runDriftReplay(opts: DriftReplayOptions): Promise<DriftReplayResult> {
  const log = createLogger('drift');
  const spec = parseSourceSpec(opts.source);
  if (spec.kind === 'webcam' || spec.kind === 'mjpeg' || spec.kind === 'rtsp') throw new UserError(`--source ${opts.source}: drift replays finite sources (${FINITE_SOURCE_SPEC_HELP})`);
  const model = await loadModel(opts.model);
  try {
    const { ref, from } = await loadDriftReference(model);
    if (!ref) throw new UserError(from);
    let monitor: DriftMonitor;
    try {
      monitor = new DriftMonitor(ref, { windowSize: opts.window, mode: opts.mode, stride: opts.stride, falseAlarmRate: opts.falseAlarmRate });
    } catch (err) {
      throw new UserError(`--window/--stride/--false-alarm-rate: ${(err as Error).message}`);
    }
    const source = await createFrameSource(spec, { loop: false });
    const windows: WindowReport[] = [];
    let frames = 0;
    let skipped = 0;
    try {
      for (;;) {
        const frame = await source.read();
        if (!frame) break;
        frames++;
        try {
          const pre = await preprocessImage(frame.buffer, { invert: opts.invert ?? 'auto' });
          const out = await model.session.run(toModelInput(pre.pixels), 1);
          const report = monitor.push(observeFrame(ref, pre.pixels, out.logits, out.embedding), frames);
          if (report) windows.push(report);
        } catch (err) {
          skipped++;
          log.warn(`frame ${frames} skipped: ${firstLine(err)}`);
        }
      }
    } finally {
      await source.close();
    }
    if (monitor.frames < monitor.windowSize) log.warn(`only ${monitor.frames} frames: a window needs ${monitor.windowSize} (lower --window)`);
    const rank = { ok: 0, warn: 1, alert: 2 } as const;
    const worst = windows.reduce<'ok' | 'warn' | 'alert'>((w, r) => (rank[r.status] > rank[w] ? r.status : w), 'ok');
    return { model: opts.model, reference: { split: ref.source.split, count: ref.source.count, note: ref.source.note }, frames, skipped, windows, worst };
  } finally {
    await model.session.close();
  }
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

export function formatDriftReplay(r: DriftReplayResult): string {
  const lines = [`${r.model}: ${r.frames} frames (${r.skipped} skipped), ${r.windows.length} window(s) against ${r.reference.count} ${r.reference.split} images; worst status ${r.worst}`];
  if (r.windows.length === 0) return lines.join('\n');
  lines.push('', 'window  frames        status  est.acc  OOD     reasons');
  for (const w of r.windows) {
    const frames = `${w.window.first}-${w.window.last}`;
    const scores = `${pct(w.estimatedAccuracy).padEnd(8)} ${pct(w.oodRate).padEnd(7)}`;
    lines.push(`${String(w.window.index).padEnd(7)} ${frames.padEnd(13)} ${w.status.padEnd(7)} ${scores} ${w.reasons.slice(0, 3).join('; ') || '-'}`);
  }
  return lines.join('\n');
}
