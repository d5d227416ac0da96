import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '../../src/random.ts';
import { kmeans, parseKList, segmentGray } from '../../training/studies/kmeans.ts';
import { runSegment } from '../../training/studies/segment.ts';
import { imageGridLayout } from '../../training/plots/image-grid.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';
import { writePhotoFolder } from './fixture.ts';

/** A 28x28 image of three flat regions (background 10, body 120, collar 230) with +-6 noise. */
function threeRegionImage(seed = 5): { pixels: Uint8Array; truth: Int32Array } {
  const rng = createRng(seed);
  const pixels = new Uint8Array(784);
  const truth = new Int32Array(784);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const region = x >= 6 && x < 22 && y >= 4 && y < 26 ? (y < 9 ? 2 : 1) : 0;
    truth[y * 28 + x] = region;
    pixels[y * 28 + x] = [10, 120, 230][region] + Math.round(rng() * 12 - 6);
  }
  return { pixels, truth };
}

test('k-means recovers the three regions of a synthetic image, their levels and nothing else', () => {
  const { pixels, truth } = threeRegionImage();
  const r = kmeans(pixels, 1, 3, { seed: 1 });
  const centres = Array.from(r.centroids).sort((a, b) => a - b);
  for (const [i, level] of [10, 120, 230].entries()) assert.ok(Math.abs(centres[i] - level) < 2, `centre ${centres[i]} vs ${level}`);
  // Every pixel of one region in one cluster, and no two regions share one.
  const clusterOf = new Map<number, number>();
  for (let i = 0; i < 784; i++) {
    const seen = clusterOf.get(truth[i]);
    if (seen === undefined) clusterOf.set(truth[i], r.assignments[i]);
    else assert.equal(r.assignments[i], seen, `pixel ${i}`);
  }
  assert.equal(new Set(clusterOf.values()).size, 3);
  assert.ok(r.iterations < 100);
});

test('k-means: K = 1 is the mean; inertia falls as K grows; the same seed gives the same clusters', () => {
  const { pixels } = threeRegionImage(9);
  const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length;
  assert.ok(Math.abs(kmeans(pixels, 1, 1).centroids[0] - mean) < 1e-9);
  const inertias = [1, 2, 3, 4].map((k) => kmeans(pixels, 1, k, { seed: 2 }).inertia);
  for (let i = 1; i < inertias.length; i++) assert.ok(inertias[i] < inertias[i - 1], `K=${i + 1}: ${inertias[i]} vs ${inertias[i - 1]}`);
  const a = kmeans(pixels, 1, 4, { seed: 7 });
  const b = kmeans(pixels, 1, 4, { seed: 7 });
  assert.deepEqual(a.assignments, b.assignments);
  assert.deepEqual(a.centroids, b.centroids);
});

test('k-means works on vectors (dim 2) and on fewer distinct values than K', () => {
  const points = [0, 0, 0.1, 0, 0, 0.1, 5, 5, 5.1, 5, 5, 5.1];
  const r = kmeans(points, 2, 2, { seed: 3 });
  assert.equal(r.assignments[0], r.assignments[1]);
  assert.equal(r.assignments[0], r.assignments[2]);
  assert.notEqual(r.assignments[0], r.assignments[3]);
  // Two distinct values, K = 4: the image keeps its two levels, nothing is invented.
  const flat = new Uint8Array(784).fill(0).fill(200, 400);
  const s = segmentGray(flat, 4, 1);
  assert.deepEqual(s.levels, [0, 200]);
  assert.deepEqual(s.pixels, flat);
  assert.equal(s.inertia, 0);
  assert.throws(() => kmeans([1, 2], 1, 3), /k must be an integer from 1/);
});

test('--k lists: ranges, single values and lists; anything else is refused', () => {
  assert.deepEqual(parseKList('1-6'), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(parseKList('4,2,2'), [2, 4]);
  for (const bad of ['0', '3-1', 'a', '17', '']) assert.throws(() => parseKList(bad), /--k: expected cluster counts/);
});

test('data segment: PNG with the original and one panel per K, from a photo folder; bad input is one line', async () => {
  const { dir } = await writePhotoFolder(6, 2);
  const out = join(await mkdtemp(join(tmpdir(), 'el-seg-')), 'seg.png');
  try {
    const r = await runSegment({ data: `folder:${dir}`, split: 'test', index: 1, k: '1-3', out, seed: 1 });
    assert.equal(r.segments.length, 3);
    assert.deepEqual(r.segments.map((s) => s.levels.length), [1, 2, 3]);
    assert.ok(r.segments[0].inertia > r.segments[2].inertia);
    assert.match(r.file ?? '', /\.jpg$/);
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    // Four panels in one row (original + 3) at scale 4.
    const layout = imageGridLayout(4, { cols: 4, scale: 4, title: 't', notes: true });
    assert.equal(meta.width, layout.width);
    assert.equal(meta.height, layout.height);

    const cli = await runEdgeloom(['data', 'segment', '--data', `folder:${dir}`, '--index', '0', '--k', '2,4', '--out', out, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout).segments.map((s: { k: number }) => s.k), [2, 4]);
    const bad = await runEdgeloom(['data', 'segment', '--data', `folder:${dir}`, '--index', '999', '--out', join(dirname(out), 'x.png')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^edgeloom: --index: expected an integer from 0 to 17/m);
    assert.ok(!existsSync(join(dirname(out), 'x.png')));
  } finally {
    await rm(dirname(dir), { recursive: true, force: true });
    await rm(dirname(out), { recursive: true, force: true });
  }
});
