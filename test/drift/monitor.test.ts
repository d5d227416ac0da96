import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../src/random.ts';
import { UserError } from '../../src/errors.ts';
import { DriftMonitor, evaluateWindow, metricNames, nextStatus, observeFrame, type FrameObservation } from '../../src/drift/monitor.ts';
import { parseDriftReference, serializeDriftReference, sidecarPath, type DriftReference } from '../../src/drift/profile.ts';
import { packFloat16, roundToFloat16, unpackFloat16 } from '../../src/drift/float16.ts';
import { mahalanobisMin } from '../../src/drift/math.ts';
import { computeDriftReference } from '../../training/drift/reference.ts';
import { DEFAULT_DRIFT_CONFIG, driftConfigSchema } from '../../src/drift/config.ts';

/** Synthetic garments: a bright rectangle on black; a fixed linear "model" over 4×4 block means. */
function synthImages(n: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const out = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) {
    const w = 8 + Math.floor(rng() * 14);
    const h = 8 + Math.floor(rng() * 14);
    const x0 = Math.floor(rng() * (28 - w));
    const y0 = Math.floor(rng() * (28 - h));
    const level = 120 + rng() * 135;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) out[i * 784 + y * 28 + x] = Math.min(255, Math.round(level + (rng() - 0.5) * 40));
  }
  return out;
}

const K = 4;
const D = 16;
const wRng = createRng(77);
const W = Array.from({ length: K * D }, () => (wRng() - 0.5) * 8);

function embed(img: Uint8Array): Float32Array {
  const e = new Float32Array(D);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) e[Math.floor(y / 7) * 4 + Math.floor(x / 7)] += img[y * 28 + x] / 255 / 49;
  return e;
}

async function fakeRun(input: Float32Array, batch: number) {
  const logits = new Float32Array(batch * K);
  const embedding = new Float32Array(batch * D);
  for (let b = 0; b < batch; b++) {
    const img = Uint8Array.from(input.subarray(b * 784, (b + 1) * 784), (v) => Math.round(v * 255));
    const e = embed(img);
    embedding.set(e, b * D);
    for (let c = 0; c < K; c++) for (let j = 0; j < D; j++) logits[b * K + c] += W[c * D + j] * e[j];
  }
  return { logits, embedding, embeddingSize: D };
}

function argmax(row: ArrayLike<number>): number {
  let p = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[p]) p = i;
  return p;
}

async function labelled(n: number, seed: number): Promise<{ images: Uint8Array; labels: Uint8Array }> {
  const images = synthImages(n, seed);
  const out = await fakeRun(Float32Array.from(images, (v) => v / 255), n);
  const rng = createRng(seed + 1);
  // The "truth" agrees with the model 80% of the time.
  const labels = Uint8Array.from({ length: n }, (_, i) => (rng() < 0.8 ? argmax(out.logits.subarray(i * K, (i + 1) * K)) : Math.floor(rng() * K)));
  return { images, labels };
}

let cached: DriftReference | null = null;
async function reference(): Promise<DriftReference> {
  if (cached) return cached;
  const { images, labels } = await labelled(2000, 1);
  cached = await computeDriftReference(fakeRun, images, labels, { classes: ['a', 'b', 'c', 'd'], source: { split: 'val', count: 2000, seed: 1, note: 'synthetic' } });
  return cached;
}

async function observe(ref: DriftReference, images: Uint8Array): Promise<FrameObservation[]> {
  const n = images.length / 784;
  const out = await fakeRun(Float32Array.from(images, (v) => v / 255), n);
  return Array.from({ length: n }, (_, i) => observeFrame(ref, images.subarray(i * 784, (i + 1) * 784), out.logits.subarray(i * K, (i + 1) * K), out.embedding.subarray(i * D, (i + 1) * D)));
}

test('reference profile: binned image statistics, output quantiles, calibration and OOD threshold at 95% TPR', async () => {
  const ref = await reference();
  assert.equal(ref.source.split, 'val');
  for (const s of ['brightness', 'contrast', 'sharpness', 'foreground'] as const) {
    assert.equal(ref.images[s].counts.reduce((a, b) => a + b, 0), 2000);
    assert.equal(ref.images[s].counts.length, ref.images[s].edges.length + 1);
  }
  assert.equal(ref.outputs.confidence.quantiles.length, 201);
  assert.equal(ref.predictedClasses.reduce((a, b) => a + b, 0), 2000);
  assert.ok(ref.calibration.temperature > 0);
  close(ref.calibration.accuracy, 0.8 + 0.2 / K, 0.04);
  assert.equal(ref.ood?.whitening.length, (D * (D + 1)) / 2);
  assert.equal(ref.ood?.tpr, 0.95);
  // Held-out frames from the same distribution exceed the threshold about 5% of the time.
  const fresh = await observe(ref, synthImages(2000, 99));
  const rate = fresh.filter((f) => f.ood > ref.ood!.threshold).length / fresh.length;
  assert.ok(rate > 0.025 && rate < 0.08, `held-out OOD rate ${rate}`);
  // What is stored (OOD arrays as base64 float16) reads back to exactly the in-memory profile.
  const stored = JSON.parse(JSON.stringify(serializeDriftReference(ref)));
  assert.equal(typeof stored.ood.whitening, 'string');
  assert.deepEqual(parseDriftReference(stored, 'x'), ref);
});

test('stored profiles: float16 OOD arrays cost a fraction of JSON numbers and barely move the scores; version 1 still reads', async () => {
  const ref = await reference();
  const { images, labels } = await labelled(2000, 1);
  // The same profile kept at full precision: only the OOD arrays differ from the stored one.
  const full = await computeDriftReference(fakeRun, images, labels, { classes: ['a', 'b', 'c', 'd'], source: ref.source });
  const fresh = await observe(ref, synthImages(500, 7));
  const out = await fakeRun(Float32Array.from(synthImages(500, 7), (v) => v / 255), 500);
  let worst = 0;
  for (let i = 0; i < 500; i++) {
    const exact = mahalanobisMin(out.embedding.subarray(i * D, (i + 1) * D), full.ood!.whitening, full.ood!.whitenedMeans, D);
    worst = Math.max(worst, Math.abs(fresh[i].ood - exact) / exact);
  }
  assert.ok(worst < 2e-3, `largest relative OOD score change ${worst}`);
  const v2 = JSON.stringify((serializeDriftReference(ref) as { ood: unknown }).ood).length;
  const v1 = JSON.stringify(ref.ood).length;
  assert.ok(v2 < v1 * 0.4, `OOD part stored in ${v2} bytes vs ${v1} as JSON numbers`);
  // Models written before the float16 packing still load, and come back in the current shape.
  assert.deepEqual(parseDriftReference(JSON.parse(JSON.stringify({ ...ref, version: 1 })), 'old.onnx'), ref);
});

test('float16 packing: exact round trip of float16 values, bad text or length rejected', () => {
  const values = [0, 1, -2.5, 1 / 3, 65504, -1e-7, 12345.678];
  const rounded = roundToFloat16(values);
  assert.deepEqual(unpackFloat16(packFloat16(values), values.length), rounded);
  assert.deepEqual(roundToFloat16(rounded), rounded);
  assert.equal(rounded[0], 0);
  assert.equal(rounded[1], 1);
  assert.ok(Math.abs(rounded[3] - 1 / 3) < (1 / 3) * 2 ** -11);
  assert.equal(packFloat16(values).length, Math.ceil((values.length * 2) / 3) * 4);
  assert.equal(unpackFloat16(packFloat16(values), values.length + 1), null);
  assert.equal(unpackFloat16('not base64!', 1), null);
  assert.equal(unpackFloat16(packFloat16([1e6]), 1), null, 'overflow to Infinity is rejected');
});

function close(a: number, b: number, tol: number): void {
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
}

test('tumbling and sliding windows report at the right frames with the report shape', async () => {
  const ref = await reference();
  const obs = await observe(ref, synthImages(600, 5));
  const tumbling = new DriftMonitor(ref, { windowSize: 200 });
  const reports = obs.map((o, i) => tumbling.push(o, 1000 + i)).filter((r) => r !== null);
  assert.deepEqual(reports.map((r) => [r.window.first, r.window.last, r.window.size]), [[1000, 1199, 200], [1200, 1399, 200], [1400, 1599, 200]]);
  const r = reports[0];
  assert.deepEqual(Object.keys(r.metrics).sort(), metricNames(ref).sort());
  for (const m of Object.values(r.metrics)) assert.ok(['ok', 'fail'].includes(m.verdict) && Number.isFinite(m.threshold));
  assert.ok(Array.isArray(r.reasons) && ['ok', 'warn', 'alert'].includes(r.status));
  assert.equal(r.alpha.perMetric, r.alpha.family / metricNames(ref).length);
  const sliding = new DriftMonitor(ref, { windowSize: 200, mode: 'sliding', stride: 100 });
  const sReports = obs.map((o) => sliding.push(o)).filter((x) => x !== null);
  assert.deepEqual(sReports.map((x) => [x.window.first, x.window.last]), [[1, 200], [101, 300], [201, 400], [301, 500], [401, 600]]);
  assert.throws(() => new DriftMonitor(ref, { windowSize: 5 }), /window size/);
  assert.throws(() => new DriftMonitor(ref, { mode: 'sliding', stride: 500 }), /stride/);
});

test('thresholds shrink with the window size like sqrt(1/n + 1/m) and 1/n + 1/m', async () => {
  const ref = await reference();
  const obs = await observe(ref, synthImages(1000, 6));
  const a = evaluateWindow(ref, obs.slice(0, 100), 1e-3);
  const b = evaluateWindow(ref, obs, 1e-3);
  const m = ref.source.count;
  close(a['psi.brightness'].threshold / b['psi.brightness'].threshold, (1 / 100 + 1 / m) / (1 / 1000 + 1 / m), 1e-9);
  close(a['ks.entropy'].threshold / b['ks.entropy'].threshold, Math.sqrt((1 / 100 + 1 / m) / (1 / 1000 + 1 / m)), 1e-9);
});

test('clean synthetic stream stays ok; inverted images alert in the first window with reasons', async () => {
  const ref = await reference();
  const clean = await observe(ref, synthImages(4000, 8));
  const mon = new DriftMonitor(ref, { windowSize: 200 });
  const statuses = clean.map((o) => mon.push(o)).filter((r) => r !== null).map((r) => r.status);
  assert.equal(statuses.length, 20);
  assert.ok(statuses.filter((s) => s !== 'ok').length <= 1, statuses.join(','));
  const inverted = synthImages(200, 9).map((v) => 255 - v);
  const drifted = await observe(ref, inverted);
  const report = drifted.map((o) => mon.push(o)).filter((r) => r !== null)[0];
  assert.equal(report.status, 'alert');
  assert.ok(report.reasons.some((r) => r.startsWith('psi.brightness')), report.reasons.join('; '));
  assert.equal(report.metrics['psi.brightness'].verdict, 'fail');
});

test('hysteresis: warn on one failing window, alert on two or one strong, back to ok after clean windows', () => {
  assert.equal(nextStatus('ok', true, false, 1, 0), 'warn');
  assert.equal(nextStatus('warn', true, false, 2, 0), 'alert');
  assert.equal(nextStatus('ok', true, true, 1, 0), 'alert');
  assert.equal(nextStatus('warn', false, false, 0, 1), 'ok');
  assert.equal(nextStatus('alert', false, false, 0, 1), 'alert');
  assert.equal(nextStatus('alert', false, false, 0, 2), 'ok');
  assert.equal(nextStatus('alert', true, false, 1, 0), 'alert');
});

test('a malformed profile is a one-line UserError naming the field; sidecar path', async () => {
  const ref = JSON.parse(JSON.stringify(await reference())) as Record<string, unknown>;
  assert.throws(() => parseDriftReference({ ...ref, version: 3 }, 'm.onnx'), (e: Error) => e instanceof UserError && /^m\.onnx: drift reference version/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => parseDriftReference({ ...ref, predictedClasses: [1] }, 'm.onnx'), /predictedClasses/);
  assert.throws(() => parseDriftReference({ ...ref, ood: { embeddingSize: 3, whitening: [1] } }, 'm.onnx'), /drift reference ood/);
  assert.equal(sidecarPath('models/cnn.onnx'), 'models/cnn.onnx.drift.json');
});

test('the accuracy estimate fails on a confidence DROP and never on a rise', async () => {
  const ref = await reference();
  const obs = await observe(ref, synthImages(200, 12));
  const cal = ref.calibration;
  const shifted = (by: number) => obs.map((o) => ({ ...o, calibratedConfidence: Math.min(1, Math.max(0, cal.meanConfidence + by)) }));
  const drop = evaluateWindow(ref, shifted(-3 * cal.stdConfidence), 1e-3).accuracy;
  assert.equal(drop.verdict, 'fail', `mean confidence ${drop.value} below ${drop.threshold}`);
  assert.ok(drop.value < drop.threshold && drop.pValue < 1e-6);
  const rise = evaluateWindow(ref, shifted(Math.min(3 * cal.stdConfidence, (1 - cal.meanConfidence) * 0.9)), 1e-3).accuracy;
  assert.equal(rise.verdict, 'ok', `a more confident stream is not an accuracy problem (p=${rise.pValue})`);
  assert.ok(rise.pValue > 0.5);
  const same = evaluateWindow(ref, shifted(0), 1e-3).accuracy;
  assert.equal(same.verdict, 'ok');
  assert.ok(Math.abs(same.pValue - 0.5) < 1e-6, `at the reference mean the one-sided p-value is 1/2, got ${same.pValue}`);
});

/** "name value > threshold (p=1.2e-9)" as docs/drift.md shows it: 3 significant digits, p with 2. */
function parseReason(reason: string): { name: string; value: number; op: string; threshold: number; p: number; valueText: string } {
  const m = /^(\S+) (\S+) ([<>]) (\S+) \(p=(\d\.\de[+-]\d+)\)$/.exec(reason);
  assert.ok(m, `reason "${reason}" has the documented shape`);
  return { name: m[1], valueText: m[2], value: Number(m[2]), op: m[3], threshold: Number(m[4]), p: Number(m[5]) };
}

test('window reports: status history, window index, reasons strongest first with their numbers, accuracy and OOD rate', async () => {
  const ref = await reference();
  const clean = await observe(ref, synthImages(600, 31));
  const inverted = await observe(ref, synthImages(200, 32).map((v) => 255 - v));
  const mon = new DriftMonitor(ref, { windowSize: 200 });
  const reports = [...clean.slice(0, 200), ...inverted, ...clean.slice(200)].map((o) => mon.push(o)).filter((r) => r !== null);
  // A strong failure alerts at once; alert needs two clean windows to clear (docs/drift.md).
  assert.deepEqual(reports.map((r) => [r.window.index, r.previousStatus, r.status]), [[1, 'ok', 'ok'], [2, 'ok', 'alert'], [3, 'alert', 'alert'], [4, 'alert', 'ok']]);
  assert.deepEqual(reports.map((r) => r.reasons.length === 0), [true, false, true, true]);
  assert.equal(mon.frames, 800);
  const r = reports[1];
  assert.deepEqual(r.window, { index: 2, first: 201, last: 400, size: 200, mode: 'tumbling' });
  assert.ok(!Number.isNaN(Date.parse(r.ts)));
  const failing = Object.entries(r.metrics).filter(([, m]) => m.verdict === 'fail');
  assert.equal(r.reasons.length, failing.length);
  const parsed = r.reasons.map(parseReason);
  assert.deepEqual(parsed.map((x) => x.name).sort(), failing.map(([n]) => n).sort());
  for (let i = 1; i < parsed.length; i++) assert.ok(r.metrics[parsed[i - 1].name].pValue <= r.metrics[parsed[i].name].pValue, 'smallest p first');
  for (const x of parsed) {
    const m = r.metrics[x.name];
    assert.equal(x.op, '>');
    assert.ok(Math.abs(x.value - m.value) <= 5e-3 * Math.abs(m.value), `${x.name}: ${x.value} vs ${m.value}`);
    assert.ok(Math.abs(x.threshold - m.threshold) <= 5e-3 * Math.abs(m.threshold), `${x.name}: ${x.threshold} vs ${m.threshold}`);
    assert.ok(Math.abs(x.p - m.pValue) <= 0.05 * m.pValue, `${x.name}: p ${x.p} vs ${m.pValue}`);
    if (Math.abs(m.value) >= 1e-3 && Math.abs(m.value) < 1000) assert.ok(!x.valueText.includes('e'), `${x.name}: plain number ${x.valueText}`);
    else assert.match(x.valueText, /^-?\d\.\d\de[+-]\d+$/);
  }
  assert.equal(r.estimatedAccuracy, r.metrics.accuracy.value);
  assert.equal(r.oodRate, r.metrics['ood.rate'].value);
  assert.ok(r.oodRate! > 0.5, `inverted frames are out of distribution (${r.oodRate})`);
  assert.ok(reports[0].oodRate! < 0.2);
});

test('an accuracy reason reads "<"; a profile without OOD statistics has no ood.rate and a null OOD rate', async () => {
  const ref = await reference();
  const obs = await observe(ref, synthImages(200, 33));
  const cal = ref.calibration;
  const low = obs.map((o) => ({ ...o, calibratedConfidence: Math.max(0, cal.meanConfidence - 4 * cal.stdConfidence) }));
  const mon = new DriftMonitor(ref, { windowSize: 200 });
  const r = low.map((o) => mon.push(o)).at(-1)!;
  const acc = r.reasons.map(parseReason).find((x) => x.name === 'accuracy');
  assert.ok(acc, r.reasons.join('; '));
  assert.equal(acc.op, '<');
  assert.ok(acc.value < acc.threshold);

  const noOod = { ...ref, ood: null };
  assert.ok(!metricNames(noOod).includes('ood.rate'));
  assert.equal(metricNames(noOod).length, metricNames(ref).length - 1);
  const plain = new DriftMonitor(noOod, { windowSize: 200 });
  const p = obs.map((o) => plain.push({ ...o, ood: Number.NaN })).at(-1)!;
  assert.equal(p.oodRate, null);
  assert.equal(p.metrics['ood.rate'], undefined);
  assert.equal(p.alpha.perMetric, p.alpha.family / 13, '13 metrics without the OOD rate');
  // Frames without an embedding score: no OOD verdict for the window, rather than a rate of 0.
  const unscored = new DriftMonitor(ref, { windowSize: 200 });
  assert.equal(obs.map((o) => unscored.push({ ...o, ood: Number.NaN })).at(-1)!.oodRate, null);
  assert.ok(Number.isNaN(observeFrame(ref, synthImages(1, 1), [0, 1, 0, 0], null).ood));
});

test('monitor options: false-alarm budget bounds, strong level, default sliding stride', async () => {
  const ref = await reference();
  for (const bad of [0, 1, -0.1, Number.NaN]) assert.throws(() => new DriftMonitor(ref, { falseAlarmRate: bad }), /false-alarm rate: expected 0 < rate < 1/);
  assert.throws(() => new DriftMonitor(ref, { windowSize: 20.5 }), /window size: expected an integer >= 20, got 20\.5/);
  assert.throws(() => new DriftMonitor(ref, { windowSize: 19 }), /window size/);
  assert.throws(() => new DriftMonitor(ref, { mode: 'sliding', stride: 0 }), /stride: expected an integer in 1\.\.200, got 0/);
  assert.throws(() => new DriftMonitor(ref, { mode: 'sliding', stride: 2.5 }), /stride/);
  const edge = new DriftMonitor(ref, { windowSize: 20, mode: 'sliding', stride: 20 });
  assert.equal(edge.stride, 20);
  const defaults = new DriftMonitor(ref);
  assert.deepEqual([defaults.windowSize, defaults.mode, defaults.stride], [200, 'tumbling', 200]);
  assert.equal(defaults.alpha.family, 0.002);
  assert.equal(defaults.alpha.strong, defaults.alpha.perMetric * 1e-3);
  assert.equal(new DriftMonitor(ref, { strongFactor: 0.5 }).alpha.strong, defaults.alpha.perMetric * 0.5);
  const sliding = new DriftMonitor(ref, { windowSize: 100, mode: 'sliding' });
  assert.equal(sliding.stride, 25);
  const obs = await observe(ref, synthImages(200, 34));
  const at = obs.map((o, i) => (sliding.push(o) ? i + 1 : 0)).filter((i) => i > 0);
  assert.deepEqual(at, [100, 125, 150, 175, 200]);
  assert.equal(new DriftMonitor(ref, { windowSize: 21, mode: 'sliding' }).stride, 5);
  assert.equal(new DriftMonitor(ref, { windowSize: 20, mode: 'sliding' }).stride, 5);
});

test('per-frame observation: the predicted class is the largest logit, the calibrated confidence uses the profile temperature', async () => {
  const ref = await reference();
  const img = synthImages(1, 35);
  const o = observeFrame(ref, img, [0.5, 3, 3.5, -1], new Float32Array(D));
  assert.equal(o.predicted, 2);
  assert.equal(observeFrame(ref, img, [9, 3, 3.5, -1], null).predicted, 0);
  assert.equal(observeFrame(ref, img, [1, 1, 1, 1], null).predicted, 0, 'ties go to the first class');
  const t = ref.calibration.temperature;
  const e = [0.5, 3, 3.5, -1].map((v) => Math.exp(v / t));
  close(o.calibratedConfidence, e[2] / e.reduce((a, b) => a + b, 0), 1e-12);
  const p = [0.5, 3, 3.5, -1].map((v) => Math.exp(v));
  const sum = p.reduce((a, b) => a + b, 0);
  close(o.confidence, -Math.log(1 - p[2] / sum), 1e-9);
  close(o.entropy, -p.reduce((a, v) => a + (v / sum) * Math.log(v / sum), 0), 1e-9);
  close(o.energy, -Math.log(sum), 1e-9);
  assert.ok(Number.isFinite(o.ood) && o.ood >= 0);
  assert.ok(Number.isNaN(observeFrame(ref, img, [0, 1, 0, 0], new Float32Array(D + 1)).ood), 'an embedding of another width gets no score');
});

test('agent drift config: the documented defaults (docs/drift.md) and bounds, unknown keys refused', () => {
  assert.deepEqual(DEFAULT_DRIFT_CONFIG, { enabled: 'auto', windowSize: 200, mode: 'tumbling', falseAlarmRate: 0.002, qos: 1 });
  const edges = { enabled: false, windowSize: 20, mode: 'sliding', stride: 5, falseAlarmRate: 0.49, qos: 0 };
  assert.deepEqual(driftConfigSchema.parse(edges), edges);
  assert.equal(driftConfigSchema.parse({ enabled: true }).enabled, true);
  const bads = [{ windowSize: 19 }, { windowSize: 20.5 }, { stride: 0 }, { stride: 1.5 }, { falseAlarmRate: 0 }, { falseAlarmRate: 0.5 }];
  for (const bad of [...bads, { qos: 3 }, { mode: 'hopping' }, { enabled: 'yes' }, { window: 200 }]) {
    assert.equal(driftConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
