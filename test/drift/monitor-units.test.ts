import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriftMonitor, evaluateWindow, fmt, metricNames, nextStatus, observeFrame, type FrameObservation, type WindowReport } from '../../src/drift/monitor.ts';
import { projectionPlan } from '../../src/drift/projection.ts';
import { cleanWindow, handmadeReference } from './handmade.ts';

/**
 * The monitor against a hand-made reference profile (test/drift/handmade.ts: no profile build, no
 * model, milliseconds), so every threshold and p-value can be worked out here from its formula.
 * Three bins per image statistic and three classes make every χ² test one with 2 degrees of
 * freedom, whose tail is exp(-x/2) and whose 95% quantile is -2 ln 0.05.
 */
const M = 1000;
const reference = handmadeReference;

const N = 20;
/** se of the mean calibrated confidence in a window of N against the reference (std 0.1). */
const SE = 0.1 * Math.sqrt(1 / N + 1 / M);
const Z95 = 1.959964; // normal upper tail 0.025
const Z90 = 1.644854; // normal upper tail 0.05

/** The clean window with every calibrated confidence z standard errors below the reference mean. */
const confidenceDrop = (z: number) => cleanWindow().map((f) => ({ ...f, calibratedConfidence: 0.7 - z * SE }));

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
const smoothed = (counts: number[]) => counts.map((c) => (c + 0.5) / (counts.reduce((s, x) => s + x, 0) + 0.5 * counts.length));
const kolmogorov = (l: number) => {
  let s = 0;
  for (let k = 1; k <= 100; k++) s += (k % 2 ? 2 : -2) * Math.exp(-2 * k * k * l * l);
  return Math.min(1, s);
};
const binomialTail = (k: number, n: number, p: number) => {
  let s = 0;
  for (let j = k; j <= n; j++) {
    let c = 1;
    for (let i = 0; i < j; i++) c = (c * (n - i)) / (i + 1);
    s += c * p ** j * (1 - p) ** (n - j);
  }
  return s;
};

test('metric names: psi and hellinger per image statistic, KS per output score, classes, accuracy, ood.rate only with OOD statistics', () => {
  const all = ['psi.brightness', 'hellinger.brightness', 'psi.contrast', 'hellinger.contrast', 'psi.sharpness', 'hellinger.sharpness', 'psi.foreground', 'hellinger.foreground',
    'ks.confidence', 'ks.entropy', 'ks.energy', 'chi2.classes', 'accuracy'];
  assert.deepEqual(metricNames(reference({ ood: null })), all);
  assert.deepEqual(metricNames(reference()), [...all, 'ood.rate']);
});

test('evaluateWindow: every value, threshold and p-value from its formula at window n and reference m', () => {
  const alpha = 0.05;
  const scale = 1 / N + 1 / M;
  const crit2 = -2 * Math.log(alpha); // χ²(2) quantile at 1 - alpha
  // Image statistics chosen per bin; 0.2 and 0.4 sit on the edges and count in the bin above.
  const levels: Record<string, number[]> = {
    brightness: [...Array(10).fill(0.1), ...Array(6).fill(0.2), ...Array(4).fill(0.5)],
    contrast: Array(20).fill(0.3),
    sharpness: [...Array(5).fill(0.1), ...Array(10).fill(0.3), ...Array(5).fill(0.5)],
    foreground: Array(20).fill(0.4),
  };
  const counts: Record<string, number[]> = { brightness: [10, 6, 4], contrast: [0, 20, 0], sharpness: [5, 10, 5], foreground: [0, 0, 20] };
  const oodScores = [Number.NaN, Number.NaN, 5, 5, 5, 5, 4, ...Array(13).fill(1)];
  const frames: FrameObservation[] = Array.from({ length: N }, (_, i) => ({
    image: { brightness: levels.brightness[i], contrast: levels.contrast[i], sharpness: levels.sharpness[i], foreground: levels.foreground[i] },
    confidence: 2, // a point mass in the middle of U(0,4): D = 1/2
    entropy: (i + 1) * 0.2, // the reference's own quantiles shifted up half a step: D = 1/20
    energy: 5, // above the reference's maximum: D = 1
    predicted: i < 4 ? 0 : i < 10 ? 1 : 2,
    calibratedConfidence: 0.7 - Z95 * SE,
    ood: oodScores[i],
  }));
  const ref = reference();
  const out = evaluateWindow(ref, frames, alpha);
  assert.deepEqual(Object.keys(out), metricNames(ref));
  const q = smoothed([250, 500, 250]);
  for (const s of ['brightness', 'contrast', 'sharpness', 'foreground']) {
    const p = smoothed(counts[s]);
    const v = p.reduce((a, pi, i) => a + (pi - q[i]) * Math.log(pi / q[i]), 0);
    const h = Math.sqrt(1 - p.reduce((a, pi, i) => a + Math.sqrt(pi * q[i]), 0));
    const psiP = Math.exp(-v / scale / 2);
    const helP = Math.exp(-(8 * h * h) / scale / 2);
    assert.deepEqual(Object.keys(out[`psi.${s}`]), ['value', 'threshold', 'pValue', 'verdict']);
    assert.equal(out[`psi.${s}`].verdict, psiP < alpha ? 'fail' : 'ok', `psi.${s} verdict`);
    close(out[`psi.${s}`].value, v, 1e-12, `psi.${s}`);
    close(out[`psi.${s}`].threshold, crit2 * scale, 1e-9, `psi.${s} threshold`);
    close(out[`psi.${s}`].pValue, psiP, 1e-9, `psi.${s} p`);
    close(out[`hellinger.${s}`].value, h, 1e-12, `hellinger.${s}`);
    close(out[`hellinger.${s}`].threshold, Math.sqrt((crit2 * scale) / 8), 1e-9, `hellinger.${s} threshold`);
    close(out[`hellinger.${s}`].pValue, helP, 1e-9, `hellinger.${s} p`);
    assert.equal(out[`hellinger.${s}`].verdict, helP < alpha ? 'fail' : 'ok');
  }
  // The window holds both verdicts, so the verdict is not a constant.
  assert.equal(out['psi.sharpness'].verdict, 'ok');
  assert.equal(out['psi.contrast'].verdict, 'fail');

  const ksCrit = Math.sqrt(-Math.log(alpha / 2) / 2) * Math.sqrt(scale);
  for (const [k, d] of [['confidence', 0.5], ['entropy', 0.05], ['energy', 1]] as const) {
    close(out[`ks.${k}`].value, d, 1e-12, `ks.${k}`);
    close(out[`ks.${k}`].threshold, ksCrit, 1e-12, `ks.${k} threshold`);
    close(out[`ks.${k}`].pValue, kolmogorov(d / Math.sqrt(scale)), 1e-9, `ks.${k} p`);
  }
  assert.equal(out['ks.entropy'].verdict, 'ok');
  assert.equal(out['ks.energy'].verdict, 'fail');

  const expected = smoothed([500, 300, 200]).map((e) => e * N);
  const x2 = [4, 6, 10].reduce((a, o, i) => a + (o - expected[i]) ** 2 / expected[i], 0) / (N * scale);
  close(out['chi2.classes'].value, x2, 1e-9, 'chi2');
  close(out['chi2.classes'].threshold, crit2, 1e-9, 'chi2 threshold');
  close(out['chi2.classes'].pValue, Math.exp(-x2 / 2), 1e-12, 'chi2 p');

  // Accuracy: one-sided, the mean sits 1.96 standard errors below the reference mean.
  close(out.accuracy.value, 0.7 - Z95 * SE, 1e-12, 'accuracy');
  close(out.accuracy.threshold, 0.7 - Z90 * SE, 1e-7, 'accuracy threshold');
  close(out.accuracy.pValue, 0.025, 1e-6, 'accuracy p');
  assert.equal(out.accuracy.verdict, 'fail');

  // OOD: 18 scored frames (NaN left out), 4 strictly above the threshold (a score equal to it is in).
  const p0 = 0.05;
  let kCrit = Math.ceil(18 * p0);
  while (binomialTail(kCrit, 18, p0) >= alpha) kCrit++;
  assert.equal(kCrit, 4);
  close(out['ood.rate'].value, 4 / 18, 1e-12, 'ood rate');
  close(out['ood.rate'].threshold, 4 / 18, 1e-12, 'ood threshold');
  close(out['ood.rate'].pValue, binomialTail(4, 18, p0), 1e-12, 'ood p');
  assert.equal(out['ood.rate'].verdict, 'fail');
});

test('evaluateWindow: a one-bin statistic never fails; OOD needs scored frames; the critical count is the first with tail < alpha', () => {
  const ref = reference({ images: { ...reference().images, brightness: { edges: [], counts: [M] } } });
  const frames = cleanWindow();
  const out = evaluateWindow(ref, frames, 0.05);
  for (const name of ['psi.brightness', 'hellinger.brightness']) assert.deepEqual({ ...out[name], value: 0 }, { value: 0, threshold: Infinity, pValue: 1, verdict: 'ok' }, name);
  assert.equal(evaluateWindow(ref, frames.map((f) => ({ ...f, ood: Number.NaN })), 0.05)['ood.rate'], undefined);
  assert.equal(evaluateWindow(reference({ ood: null }), frames, 0.05)['ood.rate'], undefined);
  // 20 scored frames at p0 = 0.05, none out: rate 0 with p 1; P(X >= 3) = 0.075, P(X >= 4) = 0.016.
  const ood = out['ood.rate'];
  assert.deepEqual(ood, { value: 0, threshold: 4 / 20, pValue: 1, verdict: 'ok' });
  close(evaluateWindow(ref, frames, 0.1)['ood.rate'].threshold, 3 / 20, 1e-12, 'alpha 0.1');
  // At alpha 0.99 the critical count is its starting point, ceil(n·p0) = ceil(9.6) = 10.
  const loose = reference({ ood: { ...reference().ood!, tpr: 0.52 } });
  close(evaluateWindow(loose, frames, 0.99)['ood.rate'].threshold, 10 / 20, 1e-12, 'p0 = 0.48');
  // No frame can reach the count: the threshold ends one past the window (the rate can never fail).
  assert.equal(evaluateWindow(reference({ ood: { ...reference().ood!, tpr: 0.05 } }), frames, 1e-15)['ood.rate'].threshold, 21 / 20);
});

test('evaluateWindow: a clean window passes every metric at the monitor\'s level', () => {
  const out = evaluateWindow(reference(), cleanWindow(), 0.002 / 14);
  assert.deepEqual(Object.entries(out).filter(([, m]) => m.verdict === 'fail').map(([n]) => n), []);
  close(out.accuracy.pValue, 0.5, 1e-6, 'mean exactly at the reference');
  close(out['ks.confidence'].value, 0.025, 1e-12, 'half a step off the reference quantiles');
});

test('the accuracy metric fails on a drop in mean calibrated confidence, not on a rise', () => {
  const drop = evaluateWindow(reference(), confidenceDrop(4), 1e-3).accuracy;
  assert.equal(drop.verdict, 'fail');
  const rise = evaluateWindow(reference(), confidenceDrop(-4), 1e-3).accuracy;
  assert.equal(rise.verdict, 'ok');
  assert.ok(rise.pValue > 0.99, `p ${rise.pValue}`);
  // A zero spread in the reference still gives a finite standard error.
  const flat = reference({ calibration: { temperature: 1, accuracy: 1, meanConfidence: 0.7, stdConfidence: 0 } });
  const a = evaluateWindow(flat, cleanWindow().map((f) => ({ ...f, calibratedConfidence: 0.7 - 1e-6 * Math.sqrt(1 / N + 1 / M) })), 0.05).accuracy;
  close(a.pValue, 0.5 - 0.3413447, 1e-6, 'one standard error of 1e-6 below');
});

test('hysteresis of nextStatus: warn, alert on two or one strong, alert clears after two clean windows', () => {
  assert.equal(nextStatus('ok', true, false, 1, 0), 'warn');
  assert.equal(nextStatus('warn', true, false, 1, 0), 'warn');
  assert.equal(nextStatus('warn', true, false, 2, 0), 'alert');
  assert.equal(nextStatus('ok', true, true, 1, 0), 'alert');
  assert.equal(nextStatus('alert', true, false, 1, 0), 'alert');
  assert.equal(nextStatus('warn', false, false, 0, 1), 'ok');
  assert.equal(nextStatus('ok', false, true, 0, 1), 'ok');
  assert.equal(nextStatus('alert', false, false, 0, 1), 'alert');
  assert.equal(nextStatus('alert', false, false, 0, 2), 'ok');
  assert.equal(nextStatus('alert', false, false, 0, 3), 'ok');
});

test('numbers in reasons: three significant digits, exponent form from 1000 up and below 1e-3', () => {
  assert.deepEqual([0, 0.12345, 12, 999.4, 0.001, -0.5].map(fmt), ['0', '0.123', '12', '999', '0.001', '-0.5']);
  assert.deepEqual([1000, -1000, 123456, 0.000999, -0.0005, 1.5e-7].map(fmt), ['1.00e+3', '-1.00e+3', '1.23e+5', '9.99e-4', '-5.00e-4', '1.50e-7']);
});

test('monitor options: defaults, bounds with their messages, Bonferroni split and strong level', () => {
  const ref = reference();
  const d = new DriftMonitor(ref);
  assert.deepEqual([d.windowSize, d.mode, d.stride, d.status, d.frames], [200, 'tumbling', 200, 'ok', 0]);
  assert.deepEqual(d.alpha, { family: 0.002, perMetric: 0.002 / 14, strong: (0.002 / 14) * 1e-3 });
  assert.equal(new DriftMonitor(reference({ ood: null })).alpha.perMetric, 0.002 / 13);
  assert.deepEqual(new DriftMonitor(ref, { falseAlarmRate: 0.01, strongFactor: 0.5 }).alpha, { family: 0.01, perMetric: 0.01 / 14, strong: (0.01 / 14) * 0.5 });
  assert.equal(new DriftMonitor(ref, { windowSize: 20, stride: 3 }).stride, 20, 'tumbling windows ignore the stride');
  assert.equal(new DriftMonitor(ref, { windowSize: 20, mode: 'sliding' }).stride, 5);
  assert.equal(new DriftMonitor(ref, { windowSize: 22, mode: 'sliding' }).stride, 6, 'a quarter of the window, rounded');
  assert.equal(new DriftMonitor(ref, { windowSize: 21, mode: 'sliding' }).stride, 5);
  assert.equal(new DriftMonitor(ref, { windowSize: 20, mode: 'sliding', stride: 20 }).stride, 20);
  assert.equal(new DriftMonitor(ref, { windowSize: 20, mode: 'sliding', stride: 1 }).stride, 1);
  assert.equal(new DriftMonitor(ref, { falseAlarmRate: 0.999 }).alpha.family, 0.999);
  const refuses = (opts: object, message: string) => assert.throws(() => new DriftMonitor(ref, opts), (e: Error) => e instanceof RangeError && e.message === message);
  refuses({ windowSize: 19 }, 'drift window size: expected an integer >= 20, got 19');
  refuses({ windowSize: 20.5 }, 'drift window size: expected an integer >= 20, got 20.5');
  refuses({ windowSize: 20, mode: 'sliding', stride: 21 }, 'drift stride: expected an integer in 1..20, got 21');
  refuses({ windowSize: 20, mode: 'sliding', stride: 0 }, 'drift stride: expected an integer in 1..20, got 0');
  refuses({ windowSize: 20, mode: 'sliding', stride: 2.5 }, 'drift stride: expected an integer in 1..20, got 2.5');
  for (const bad of [0, 1, -0.1, Number.NaN]) refuses({ falseAlarmRate: bad }, `drift false-alarm rate: expected 0 < rate < 1, got ${bad}`);
});

function pushAll(mon: DriftMonitor, frames: FrameObservation[], firstNo?: number): (WindowReport | null)[] {
  return frames.map((f, i) => (firstNo === undefined ? mon.push(f) : mon.push(f, firstNo + i)));
}

test('tumbling windows: a report every windowSize frames, numbered from the frames pushed; the buffer starts over', () => {
  const mon = new DriftMonitor(reference(), { windowSize: N });
  const results = pushAll(mon, [...cleanWindow(), ...cleanWindow(), ...cleanWindow().slice(0, 5)]);
  assert.deepEqual(results.map((r, i) => (r ? i + 1 : 0)).filter((i) => i > 0), [20, 40]);
  const reports = results.filter((r) => r !== null);
  assert.deepEqual(reports.map((r) => r.window), [{ index: 1, first: 1, last: 20, size: 20, mode: 'tumbling' }, { index: 2, first: 21, last: 40, size: 20, mode: 'tumbling' }]);
  assert.equal(mon.frames, 45);
  const r = reports[0];
  assert.deepEqual([r.status, r.previousStatus, r.reasons, r.oodRate], ['ok', 'ok', [], 0]);
  close(r.estimatedAccuracy, 0.7, 1e-12, 'estimated accuracy');
  assert.deepEqual(r.alpha, mon.alpha);
  assert.deepEqual(Object.keys(r.metrics), metricNames(reference()));
  assert.ok(Math.abs(Date.parse(r.ts) - Date.now()) < 60_000, r.ts);
  assert.equal(new Date(r.ts).toISOString(), r.ts);
  // Caller-supplied frame numbers are what the report names.
  const numbered = pushAll(new DriftMonitor(reference(), { windowSize: N }), cleanWindow(), 500).at(-1)!;
  assert.deepEqual([numbered.window.first, numbered.window.last], [500, 519]);
});

test('sliding windows: the last windowSize frames every stride frames', () => {
  const mon = new DriftMonitor(reference(), { windowSize: N, mode: 'sliding', stride: 5 });
  const frames = [...cleanWindow(), ...cleanWindow()].slice(0, 32);
  const reports = pushAll(mon, frames, 100).filter((r) => r !== null);
  assert.deepEqual(reports.map((r) => r.window), [
    { index: 1, first: 100, last: 119, size: 20, mode: 'sliding' },
    { index: 2, first: 105, last: 124, size: 20, mode: 'sliding' },
    { index: 3, first: 110, last: 129, size: 20, mode: 'sliding' },
  ]);
  // A window of the first frames: the first report waits for a full window even with a short stride.
  const early = pushAll(new DriftMonitor(reference(), { windowSize: N, mode: 'sliding', stride: 1 }), cleanWindow().slice(0, 19));
  assert.ok(early.every((r) => r === null));
});

test('status over windows: one weak failure warns, two alert, a strong one alerts at once; streaks reset', () => {
  // Accuracy alone fails: p = normalSf(4) = 3.2e-5 is below the per-metric level 0.002/14 = 1.4e-4
  // but above the strong level 1.4e-7; normalSf(6) = 9.9e-10 is strong.
  const clean = cleanWindow();
  const weak = confidenceDrop(4);
  const strong = confidenceDrop(6);
  const run = (windows: FrameObservation[][]) => {
    const mon = new DriftMonitor(reference(), { windowSize: N });
    return windows.flatMap((w) => pushAll(mon, w)).filter((r) => r !== null).map((r) => `${r.previousStatus}>${r.status}`);
  };
  assert.deepEqual(run([clean, weak, weak, clean, clean]), ['ok>ok', 'ok>warn', 'warn>alert', 'alert>alert', 'alert>ok']);
  assert.deepEqual(run([weak, clean, weak]), ['ok>warn', 'warn>ok', 'ok>warn'], 'a clean window resets the failure streak');
  assert.deepEqual(run([strong, clean, weak, clean, clean]), ['ok>alert', 'alert>alert', 'alert>alert', 'alert>alert', 'alert>ok'], 'a failure resets the clean streak');
  assert.deepEqual(run([weak, weak, weak]), ['ok>warn', 'warn>alert', 'alert>alert']);
});

test('reasons: the failing metrics, smallest p first, as "name value op threshold (p=...)"', () => {
  const mon = new DriftMonitor(reference(), { windowSize: N });
  const weak = pushAll(mon, confidenceDrop(4)).at(-1)!;
  assert.equal(weak.status, 'warn');
  // mean 0.7 - 4·SE = 0.6097; threshold 0.7 - z(1.43e-4)·SE = 0.7 - 3.63·0.02258 = 0.618; p = normalSf(4) = 3.17e-5
  assert.deepEqual(weak.reasons, ['accuracy 0.61 < 0.618 (p=3.2e-5)']);
  close(weak.estimatedAccuracy, 0.7 - 4 * SE, 1e-12, 'estimated accuracy');
  // Every frame predicted as the rarest class as well: chi2.classes fails far more strongly and comes
  // first; its threshold is the χ²(2) quantile -2 ln(0.002/14) = 17.7.
  const both = pushAll(new DriftMonitor(reference(), { windowSize: N }), confidenceDrop(4).map((f) => ({ ...f, predicted: 2 }))).at(-1)!;
  assert.equal(both.status, 'alert');
  assert.equal(both.reasons.length, 2);
  assert.match(both.reasons[0], /^chi2\.classes \d+(\.\d+)? > 17\.7 \(p=\d\.\de-\d+\)$/);
  assert.equal(both.reasons[1], 'accuracy 0.61 < 0.618 (p=3.2e-5)');
  // Out-of-distribution frames: the rate is reported, and fails.
  const ood = pushAll(new DriftMonitor(reference(), { windowSize: N }), cleanWindow().map((f) => ({ ...f, ood: 9 }))).at(-1)!;
  assert.equal(ood.oodRate, 1);
  assert.match(ood.reasons[0], /^ood\.rate 1 > 0\.\d+ \(p=/);
  assert.equal(pushAll(new DriftMonitor(reference({ ood: null }), { windowSize: N }), cleanWindow()).at(-1)!.oodRate, null);
});

test('observeFrame: predicted class, output scores from the logits, calibrated confidence at the profile temperature', () => {
  const ref = reference();
  const pixels = new Uint8Array(784).fill(255, 0, 392);
  const logits = [0.5, 3, 3.5, -1];
  const o = observeFrame(ref, pixels, logits, [3, 0]);
  assert.equal(o.predicted, 2);
  assert.deepEqual(o.image.brightness, 0.5);
  assert.deepEqual(o.image.foreground, 0.5);
  const e = logits.map(Math.exp);
  const sum = e.reduce((a, b) => a + b, 0);
  close(o.confidence, -Math.log(1 - e[2] / sum), 1e-9, 'confidence');
  close(o.entropy, -e.reduce((a, v) => a + (v / sum) * Math.log(v / sum), 0), 1e-9, 'entropy');
  close(o.energy, -Math.log(sum), 1e-9, 'energy');
  const t = logits.map((v) => Math.exp(v / 2));
  close(o.calibratedConfidence, t[2] / t.reduce((a, b) => a + b, 0), 1e-12, 'calibrated at T = 2');
  assert.equal(observeFrame(ref, pixels, [9, 3, 3.5, -1], null).predicted, 0);
  assert.equal(observeFrame(ref, pixels, [1, 4, 4, 4], null).predicted, 1, 'a tie goes to the first');
  assert.equal(observeFrame(ref, pixels, [-3, -2, -1], null).predicted, 2, 'the last can win');
});

test('observeFrame: the OOD score is the smallest squared distance to a whitened class mean, NaN when there is none', () => {
  const ref = reference();
  const px = new Uint8Array(784);
  assert.equal(observeFrame(ref, px, [1, 0, 0], [3, 0]).ood, 9, 'nearer the first mean (9 vs 16)');
  assert.equal(observeFrame(ref, px, [1, 0, 0], [3, 3]).ood, 1, 'nearer the second mean (18 vs 1)');
  assert.ok(Number.isNaN(observeFrame(ref, px, [1, 0, 0], null).ood));
  assert.ok(Number.isNaN(observeFrame(ref, px, [1, 0, 0], [3, 3, 3]).ood), 'another width');
  assert.ok(Number.isNaN(observeFrame(reference({ ood: null }), px, [1, 0, 0], [3, 3]).ood));
  // A projected profile: the 9-wide embedding is projected to 2 before the distance.
  const projection = { method: 'sparse-sign' as const, seed: 5, inputSize: 9, outputSize: 2 };
  const projected = reference({ ood: { ...reference().ood!, projection } });
  const emb = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const plan = projectionPlan(projection);
  const z = [0, 1].map((j) => {
    let s = 0;
    for (let t = 0; t < plan.terms; t++) s += plan.weight[j * plan.terms + t] * emb[plan.index[j * plan.terms + t]];
    return s;
  });
  const expected = Math.min(z[0] ** 2 + z[1] ** 2, (z[0] - 3) ** 2 + (z[1] - 4) ** 2);
  close(observeFrame(projected, px, [1, 0, 0], emb).ood, expected, 1e-4, 'projected score');
  close(observeFrame(projected, px, [1, 0, 0], emb).ood, expected, 1e-4, 'the cached plan gives the same score');
  assert.ok(Number.isNaN(observeFrame(projected, px, [1, 0, 0], [3, 3]).ood), 'the projected width is not the model width');
});
