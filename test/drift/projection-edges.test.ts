import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectionPlan } from '../../src/drift/projection.ts';
import { createRng } from '../../src/random.ts';

/**
 * A profile stores its projection as a seed (src/drift/projection.ts), so the trainer that wrote it
 * and the device that reads it must draw the same matrix: for each term in output order, an input
 * index floor(u·D) from one draw of the seeded mulberry32, then a sign from the next (negative
 * below 1/2). A sign flip keeps every distance, so only the recipe itself can pin it.
 */
test('projectionPlan draws (index, sign) per term from the seeded generator, in output order', () => {
  for (const p of [{ seed: 1, inputSize: 9, outputSize: 2 }, { seed: 42, inputSize: 300, outputSize: 5 }]) {
    const plan = projectionPlan({ method: 'sparse-sign', ...p });
    const terms = Math.round(Math.sqrt(p.inputSize));
    const rng = createRng(p.seed);
    const index: number[] = [];
    const sign: number[] = [];
    for (let t = 0; t < p.outputSize * terms; t++) {
      index.push(Math.floor(rng() * p.inputSize));
      sign.push(rng() < 0.5 ? -1 : 1);
    }
    assert.deepEqual(Array.from(plan.index), index, `indices, seed ${p.seed}`);
    assert.deepEqual(Array.from(plan.weight), sign.map((s) => Math.fround(s / Math.sqrt(terms))), `signs, seed ${p.seed}`);
  }
});
