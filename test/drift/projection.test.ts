import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../src/random.ts';
import { UserError } from '../../src/errors.ts';
import { observeFrame } from '../../src/drift/monitor.ts';
import { parseDriftReference, serializeDriftReference } from '../../src/drift/profile.ts';
import { MAX_OOD_DIMENSIONS, projectionFor, projectionPlan, projectRows } from '../../src/drift/projection.ts';
import { computeDriftReference } from '../../training/drift/reference.ts';

test('projection: none up to MAX_OOD_DIMENSIONS, seeded and deterministic above, sqrt(D) terms per output', () => {
  assert.equal(projectionFor(MAX_OOD_DIMENSIONS), null);
  const p = projectionFor(6272)!;
  assert.deepEqual({ inputSize: p.inputSize, outputSize: p.outputSize }, { inputSize: 6272, outputSize: MAX_OOD_DIMENSIONS });
  const a = projectionPlan(p);
  const b = projectionPlan({ ...p });
  assert.deepEqual([a.index, a.weight], [b.index, b.weight], 'same seed, same matrix');
  assert.notDeepEqual(projectionPlan({ ...p, seed: 2 }).index, a.index, 'another seed, another matrix');
  assert.equal(a.terms, 79);
  assert.ok(a.index.every((i) => i < 6272));
  assert.throws(() => projectRows(a, new Float32Array(10)), /expected 1 x 6272 values/);
});

test('projection keeps pairwise distances (Johnson-Lindenstrauss): within 35% for random vectors', () => {
  const D = 4000;
  const rng = createRng(3);
  const rows = 30;
  const x = Float32Array.from({ length: rows * D }, () => rng() * 2 - 1);
  const plan = projectionPlan(projectionFor(D)!);
  const y = projectRows(plan, x, rows);
  const dist = (v: Float32Array, w: number, i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < w; k++) s += (v[i * w + k] - v[j * w + k]) ** 2;
    return Math.sqrt(s);
  };
  let worst = 0;
  for (let i = 0; i < rows; i++) for (let j = i + 1; j < rows; j++) {
    // Each output sums `terms` inputs scaled by 1/sqrt(terms): the expected squared length shrinks by k/D.
    const ratio = dist(y, MAX_OOD_DIMENSIONS, i, j) / (dist(x, D, i, j) * Math.sqrt(MAX_OOD_DIMENSIONS / D));
    worst = Math.max(worst, Math.abs(ratio - 1));
  }
  assert.ok(worst < 0.35, `worst relative distance error ${worst}`);
});

// A "model" whose embedding is 1,200 wide: 8 informative class directions spread over all units plus noise.
const K = 4;
const WIDE = 1200;
const basisRng = createRng(11);
const basis = Float32Array.from({ length: 8 * WIDE }, () => basisRng() * 2 - 1);

function wideRun(seedOffset: number) {
  return async (input: Float32Array, batch: number) => {
    const logits = new Float32Array(batch * K);
    const embedding = new Float32Array(batch * WIDE);
    for (let b = 0; b < batch; b++) {
      const img = input.subarray(b * 784, (b + 1) * 784);
      const f = new Float32Array(8);
      for (let i = 0; i < 784; i++) f[Math.floor(i / 98)] += img[i] / 98;
      const noise = createRng(seedOffset + b + Math.round(img[300] * 1000));
      for (let u = 0; u < WIDE; u++) {
        let s = 0;
        for (let j = 0; j < 8; j++) s += f[j] * basis[j * WIDE + u];
        embedding[b * WIDE + u] = Math.max(0, s + (noise() - 0.5) * 0.2);
      }
      for (let c = 0; c < K; c++) logits[b * K + c] = f[c * 2] - f[c * 2 + 1];
    }
    return { logits, embedding, embeddingSize: WIDE };
  };
}

function images(n: number, seed: number, level: (rng: () => number) => number): Uint8Array {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n * 784 }, () => level(rng));
}

test('a wide embedding: the profile projects it, stays small, and still flags out-of-distribution frames', async () => {
  const ref = images(600, 1, (r) => Math.round(80 + r() * 100));
  const run = wideRun(0);
  const labels = Uint8Array.from({ length: 600 }, (_, i) => i % K);
  const profile = await computeDriftReference(run, ref, labels, { classes: ['a', 'b', 'c', 'd'], source: { split: 'val', count: 600, seed: 1, note: 'synthetic' } });
  assert.deepEqual(profile.ood?.projection, projectionFor(WIDE));
  assert.equal(profile.ood?.embeddingSize, MAX_OOD_DIMENSIONS);
  assert.equal(profile.ood?.whitening.length, (MAX_OOD_DIMENSIONS * (MAX_OOD_DIMENSIONS + 1)) / 2);
  const stored = JSON.stringify(serializeDriftReference(profile));
  assert.ok(stored.length < 200_000, `stored profile ${stored.length} bytes`);
  const back = parseDriftReference(JSON.parse(stored), 'wide.onnx');
  assert.deepEqual(back.ood?.projection, profile.ood?.projection);

  const rate = async (imgs: Uint8Array) => {
    const n = imgs.length / 784;
    const out = await run(Float32Array.from(imgs, (v) => v / 255), n);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const o = observeFrame(back, imgs.subarray(i * 784, (i + 1) * 784), out.logits.subarray(i * K, (i + 1) * K), out.embedding.subarray(i * WIDE, (i + 1) * WIDE));
      assert.ok(Number.isFinite(o.ood), 'a projected score for the full-width embedding');
      if (o.ood > back.ood!.threshold) hits++;
    }
    return hits / n;
  };
  const inDist = await rate(images(300, 50, (r) => Math.round(80 + r() * 100)));
  const dark = await rate(images(300, 51, (r) => Math.round(r() * 20)));
  assert.ok(inDist < 0.15, `held-out frames flagged ${inDist}`);
  assert.ok(dark > 0.9, `out-of-distribution frames flagged ${dark}`);
  // An embedding of another width (another model) gets no score rather than a wrong one.
  assert.ok(Number.isNaN(observeFrame(back, ref.subarray(0, 784), [1, 0, 0, 0], new Float32Array(WIDE - 1)).ood));
});

test('a stored projection that does not match the statistics is refused, naming the field', () => {
  const broken = {
    version: 2, source: { split: 'val', count: 60, seed: 1, note: '' }, classes: ['a', 'b'],
    images: Object.fromEntries(['brightness', 'contrast', 'sharpness', 'foreground'].map((k) => [k, { edges: [1], counts: [1, 1] }])),
    outputs: Object.fromEntries(['confidence', 'entropy', 'energy'].map((k) => [k, { quantiles: [0, 1], mean: 0.5 }])),
    predictedClasses: [1, 1], calibration: { temperature: 1, meanConfidence: 0.5, stdConfidence: 0.1, accuracy: 0.5 },
    ood: { embeddingSize: 2, whitening: [1, 0, 1], whitenedMeans: [[0, 0], [1, 1]], threshold: 3, tpr: 0.95, shrinkage: 0.1,
      projection: { method: 'sparse-sign', seed: 1, inputSize: 900, outputSize: 3 } },
  };
  assert.throws(() => parseDriftReference(broken, 'm.onnx'), (err: Error) => err instanceof UserError && /m\.onnx: drift reference ood\.projection/.test(err.message));
  const fine = { ...broken, ood: { ...broken.ood, projection: { ...broken.ood.projection, outputSize: 2 } } };
  assert.equal(parseDriftReference(fine, 'm.onnx').ood?.projection?.inputSize, 900);
});
