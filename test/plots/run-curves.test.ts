import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { runCurvesSvg, runSummary, runsTable } from '../../scripts/run-curves.ts';

/** scripts/run-curves.ts: training runs side by side (docs/backends.md's ort-vs-wasm figure). */

const report = (backend: string, seed: number, acc: number, losses: number[]) => ({
  backend: { name: backend, description: '...' }, config: { seed }, test: { accuracy: acc }, trainSeconds: 100.4, history: losses.map((loss, i) => ({ epoch: i + 1, loss })),
});

test('each run becomes one line of loss against epoch, named with its test accuracy; the other back end dashed', () => {
  const a = runSummary('ort-s42', 'a/report.json', report('ort', 42, 0.9349, [0.5, 0.3, 0.2]));
  const b = runSummary('wasm-s42', 'b/report.json', report('wasm', 42, 0.9358, [0.49, 0.31, 0.19]));
  const svg = runCurvesSvg([a, b], 'customnet');
  assert.match(svg, /ort-s42 \(test 93\.49%\)/);
  assert.match(svg, /wasm-s42 \(test 93\.58%\)/);
  assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 2, 'only the wasm line (and its legend swatch) is dashed');
  assert.match(svg, /training loss/);
  assert.equal(runsTable([a, b]).split('\n')[2], '| ort-s42 | ort | 42 | 93.49% | 100 s | 0.5000 | 0.2000 |');
});

test('a file that is not a train report is refused naming it', () => {
  assert.throws(() => runSummary('x', 'runs/x/report.json', { history: [] }), (e: unknown) => e instanceof UserError && /^runs\/x\/report\.json: expected an edgeloom train report/.test(e.message));
  assert.throws(() => runSummary('x', 'r.json', { ...report('ort', 1, 0.9, [1]), history: [{ loss: 'a' }] }), UserError);
});
