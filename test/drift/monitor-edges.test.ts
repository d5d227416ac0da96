import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriftMonitor, type WindowReport } from '../../src/drift/monitor.ts';
import { cleanWindow, handmadeReference } from './handmade.ts';

/**
 * What the mutation run (docs/testing.md, drift) found unpinned in the monitor: the order of the
 * reasons when several metrics fail and the one that fails first is not the strongest.
 * The hand-made reference (test/drift/handmade.ts): 1,000 frames, three bins 1:2:1 per image
 * statistic, outputs uniform on [0, 4], calibrated confidence 0.7 ± 0.1.
 */
const N = 20;
const M = 1000;
const scale = 1 / N + 1 / M;

const smoothed = (counts: number[]) => counts.map((c) => (c + 0.5) / (counts.reduce((s, x) => s + x, 0) + 0.5 * counts.length));

test('reasons come strongest first even when the weakest failure is tested first', () => {
  // Contrast all in the middle bin (psi and hellinger, tested first), every energy above the
  // reference's maximum (KS D = 1) and the mean calibrated confidence 10 standard errors low
  // (accuracy, tested last).
  const se = 0.1 * Math.sqrt(scale);
  const frames = cleanWindow().map((f) => ({ ...f, image: { ...f.image, contrast: 0.3 }, energy: 5, calibratedConfidence: 0.7 - 10 * se }));
  let report: WindowReport | null = null;
  const mon = new DriftMonitor(handmadeReference(), { windowSize: N });
  for (const f of frames) report = mon.push(f) ?? report;
  assert.ok(report);

  // p-values from their formulas: χ²(2) tail exp(-x/2) of PSI/scale and 8H²/scale; the Kolmogorov
  // tail 2 Σ (-1)^(k-1) exp(-2k²λ²) at λ = 1/sqrt(scale); the normal tail at 10 (7.62e-24).
  const p = smoothed([0, 20, 0]);
  const q = smoothed([250, 500, 250]);
  const psi = p.reduce((a, pi, i) => a + (pi - q[i]) * Math.log(pi / q[i]), 0);
  const h2 = 1 - p.reduce((a, pi, i) => a + Math.sqrt(pi * q[i]), 0);
  const lambda = 1 / Math.sqrt(scale);
  let ks = 0;
  for (let k = 1; k <= 10; k++) ks += (k % 2 ? 2 : -2) * Math.exp(-2 * k * k * lambda * lambda);
  const expected: [string, number][] = [['psi.contrast', Math.exp(-psi / scale / 2)], ['hellinger.contrast', Math.exp(-(8 * h2) / scale / 2)], ['ks.energy', ks],
    ['accuracy', 7.62e-24]];
  // All four fail at the monitor's level 0.002/14, and they were tested in the order above.
  for (const [name, pv] of expected) assert.ok(pv < 0.002 / 14, `${name} p ${pv}`);
  const order = [...expected].sort((a, b) => a[1] - b[1]).map(([name]) => name);
  assert.deepEqual(order, ['accuracy', 'ks.energy', 'psi.contrast', 'hellinger.contrast'], 'the order the formulas give');

  assert.deepEqual(report.reasons.map((r) => r.split(' ')[0]), order);
  const ps = report.reasons.map((r) => Number(/\(p=([^)]+)\)$/.exec(r)![1]));
  assert.deepEqual([...ps].sort((a, b) => a - b), ps, 'p-values ascending');
  assert.equal(report.status, 'alert', 'p far below the strong level');
});
