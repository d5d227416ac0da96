import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_OOD_DIMENSIONS, PROJECTION_SEED, projectionFor, projectionPlan, projectRows } from '../../src/drift/projection.ts';

/** The projection in small sizes (test/drift/projection.test.ts checks what it keeps at real widths). */

test('projectionFor: none up to MAX_OOD_DIMENSIONS, a seeded sparse-sign projection to it above', () => {
  assert.equal(MAX_OOD_DIMENSIONS, 256);
  assert.equal(projectionFor(256), null);
  assert.equal(projectionFor(8), null);
  assert.deepEqual(projectionFor(257), { method: 'sparse-sign', seed: PROJECTION_SEED, inputSize: 257, outputSize: 256 });
});

test('projectionPlan: round(sqrt(D)) terms per output (at least 1), weights ±1/sqrt(terms), indices inside the input', () => {
  const terms = (inputSize: number) => projectionPlan({ method: 'sparse-sign', seed: 1, inputSize, outputSize: 3 }).terms;
  assert.deepEqual([1, 2, 3, 6, 7, 100].map(terms), [1, 1, 2, 2, 3, 10]);
  const p = { method: 'sparse-sign' as const, seed: 7, inputSize: 50, outputSize: 400 };
  const plan = projectionPlan(p);
  assert.deepEqual([plan.inputSize, plan.outputSize, plan.terms, plan.index.length, plan.weight.length], [50, 400, 7, 2800, 2800]);
  const unit = Math.fround(1 / Math.sqrt(7));
  assert.ok(plan.weight.every((w) => w === unit || w === -unit));
  const negative = plan.weight.filter((w) => w < 0).length;
  assert.ok(negative > 1200 && negative < 1600, `${negative} of 2800 signs negative`);
  assert.ok(plan.index.every((i) => i < 50));
  // 2,800 draws over 50 inputs reach both ends and spread evenly.
  const hits = new Array(50).fill(0);
  for (const i of plan.index) hits[i]++;
  assert.ok(hits[0] > 0 && hits[49] > 0 && Math.min(...hits) > 25 && Math.max(...hits) < 95, hits.join(','));
  assert.deepEqual(projectionPlan({ ...p }), plan, 'the seed fixes the matrix');
  assert.notDeepEqual(projectionPlan({ ...p, seed: 8 }).index, plan.index);
  assert.throws(() => projectionPlan({ ...p, method: 'gaussian' as never }), (e: Error) => e instanceof RangeError && e.message === 'unknown embedding projection "gaussian"');
});

test('projectRows: each output is its terms\' weighted inputs, row by row', () => {
  const plan = projectionPlan({ method: 'sparse-sign', seed: 3, inputSize: 9, outputSize: 4 });
  const x = Float32Array.from({ length: 18 }, (_, i) => (i + 1) * (i % 2 ? -1 : 1));
  const y = projectRows(plan, x, 2);
  assert.equal(y.length, 8);
  for (let r = 0; r < 2; r++) {
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let t = 0; t < plan.terms; t++) s += plan.weight[j * plan.terms + t] * x[r * 9 + plan.index[j * plan.terms + t]];
      assert.ok(Math.abs(y[r * 4 + j] - s) < 1e-5, `row ${r} output ${j}: ${y[r * 4 + j]} vs ${s}`);
    }
  }
  assert.deepEqual(projectRows(plan, x.subarray(9)), y.subarray(4), 'one row by default');
  assert.throws(() => projectRows(plan, x), (e: Error) => e instanceof RangeError && e.message === 'projection: expected 1 x 9 values, got 18');
  assert.throws(() => projectRows(plan, x, 3), /expected 3 x 9 values, got 18/);
});
