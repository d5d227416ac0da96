import { readFile } from 'node:fs/promises';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { parseDriftReference, type DriftReference } from '../../src/drift/profile.ts';
import { DriftMonitor, observeFrame, type DriftMonitorOptions, type FrameObservation, type WindowReport } from '../../src/drift/monitor.ts';
import { CORRUPTIONS, MILD_CORRUPTIONS, mnistDigits, shuffledOrder } from './fixture.ts';

/** Observations of a whole image set through a real onnxruntime session (one inference per image). */
export async function observeImages(modelPath: string, images: Uint8Array): Promise<{ ref: DriftReference; obs: FrameObservation[] }> {
  const bytes = await readFile(modelPath);
  const ref = parseDriftReference(parseModelMetadata(bytes, modelPath)?.driftReference, modelPath);
  const session = await createOnnxSession(bytes, { intraOpThreads: 1 });
  const n = images.length / 784;
  const obs: FrameObservation[] = [];
  try {
    for (let s = 0; s < n; s += 500) {
      const b = Math.min(500, n - s);
      const out = await session.run(toModelInput(images.subarray(s * 784, (s + b) * 784)), b);
      const k = out.logits.length / b;
      for (let i = 0; i < b; i++) {
        obs.push(observeFrame(ref, images.subarray((s + i) * 784, (s + i + 1) * 784), out.logits.subarray(i * k, (i + 1) * k),
          out.embedding ? out.embedding.subarray(i * out.embeddingSize, (i + 1) * out.embeddingSize) : null));
      }
    }
  } finally {
    await session.close();
  }
  return { ref, obs };
}

export function replay(ref: DriftReference, stream: readonly FrameObservation[], opts: DriftMonitorOptions = {}): WindowReport[] {
  const m = new DriftMonitor(ref, opts);
  const reports: WindowReport[] = [];
  for (const o of stream) {
    const r = m.push(o);
    if (r) reports.push(r);
  }
  return reports;
}

export interface TestSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface CleanResult {
  mode: string;
  windows: number;
  leftOk: number;
  alerts: number;
  /** Windows with at least one failing metric (before hysteresis). */
  failing: number;
}

/** Clean test-set replays in `replays` shuffled orders: how often the monitor leaves `ok`. */
export function cleanFalseAlarms(ref: DriftReference, obs: readonly FrameObservation[], replays: number, opts: DriftMonitorOptions): CleanResult {
  const res: CleanResult = { mode: `${opts.mode ?? 'tumbling'} n=${opts.windowSize ?? 200}`, windows: 0, leftOk: 0, alerts: 0, failing: 0 };
  for (let r = 0; r < replays; r++) {
    const order = shuffledOrder(obs.length, 100 + r);
    for (const w of replay(ref, order.map((i) => obs[i]), opts)) {
      res.windows++;
      if (w.status !== 'ok') res.leftOk++;
      if (w.status === 'alert') res.alerts++;
      if (w.reasons.length > 0) res.failing++;
    }
  }
  return res;
}

export interface DetectionResult {
  stream: string;
  /** Window (1 = the first window entirely after the onset) whose status is `alert`; null: never. */
  alertWindow: number | null;
  firstNonOkWindow: number | null;
  /** Metrics failing in the first alert window. */
  reasons: string[];
}

/** `clean` windows of clean frames, then drifted frames from the onset on; tumbling windows. */
export function detectionDelay(name: string, ref: DriftReference, cleanObs: readonly FrameObservation[], drifted: readonly FrameObservation[], opts: DriftMonitorOptions,
  cleanWindows = 3): DetectionResult {
  const size = opts.windowSize ?? 200;
  const prefix = shuffledOrder(cleanObs.length, 7).slice(0, cleanWindows * size).map((i) => cleanObs[i]);
  const reports = replay(ref, [...prefix, ...drifted], { ...opts, mode: 'tumbling' }).slice(cleanWindows);
  const alert = reports.findIndex((r) => r.status === 'alert');
  const nonOk = reports.findIndex((r) => r.status !== 'ok');
  return { stream: name, alertWindow: alert < 0 ? null : alert + 1, firstNonOkWindow: nonOk < 0 ? null : nonOk + 1, reasons: alert < 0 ? [] : reports[alert].reasons };
}

/** The drifted image streams of the evidence: corruptions of shuffled test images, MNIST, shirts only. */
export function driftStreams(test: TestSet, count: number, shirtClass = 6): Record<string, Uint8Array> {
  const order = shuffledOrder(test.count, 11).slice(0, count);
  const streams: Record<string, Uint8Array> = {};
  for (const [name, f] of Object.entries(CORRUPTIONS)) {
    const out = new Uint8Array(count * 784);
    order.forEach((idx, i) => out.set(f(test.images.subarray(idx * 784, (idx + 1) * 784), i), i * 784));
    streams[name] = out;
  }
  streams.mnist = mnistDigits(count);
  const shirts = shuffledOrder(test.count, 12).filter((i) => test.labels[i] === shirtClass).slice(0, count);
  const s = new Uint8Array(shirts.length * 784);
  shirts.forEach((idx, i) => s.set(test.images.subarray(idx * 784, (idx + 1) * 784), i * 784));
  streams['label-shift (shirts only)'] = s;
  return streams;
}

/** Milder corruptions and a partial label shift (half of the frames are shirts). */
export function mildStreams(test: TestSet, count: number, shirtClass = 6): Record<string, Uint8Array> {
  const order = shuffledOrder(test.count, 13).slice(0, count);
  const streams: Record<string, Uint8Array> = {};
  for (const [name, f] of Object.entries(MILD_CORRUPTIONS)) {
    const out = new Uint8Array(count * 784);
    order.forEach((idx, i) => out.set(f(test.images.subarray(idx * 784, (idx + 1) * 784), i), i * 784));
    streams[name] = out;
  }
  const shirts = shuffledOrder(test.count, 14).filter((i) => test.labels[i] === shirtClass);
  const others = shuffledOrder(test.count, 15);
  const mixed = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) {
    const idx = i % 2 === 0 ? shirts[(i / 2) % shirts.length] : others[i];
    mixed.set(test.images.subarray(idx * 784, (idx + 1) * 784), i * 784);
  }
  streams['label-shift 50% shirts'] = mixed;
  return streams;
}
