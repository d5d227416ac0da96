import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { getArchitecture } from '../../training/arch/index.ts';
import { selectBackend } from '../../training/backend/index.ts';
import { loadDataset } from '../../training/data/load.ts';
import { imageAt } from '../../training/data/dataset.ts';
import { saveTfjsModel } from '../../training/model/io.ts';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { decodeModel } from '../../src/onnx/proto.ts';
import { constantWeight } from '../../training/studies/inspect-onnx.ts';
import { inspectTfjs } from '../../training/studies/inspect-tfjs.ts';
import { runInspect } from '../../training/studies/inspect.ts';
import { tileGridLayout } from '../../training/plots/tile-grid.ts';
import { toGray, toSignedGray } from '../../training/studies/visual.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';
import { photoOf } from '../data/photos.ts';

const DEFAULT = new URL('../../models/default.onnx', import.meta.url).pathname;
const EDGENET = new URL('../../models/edgenet.onnx', import.meta.url).pathname;

await selectBackend('cpu');
const dir = await mkdtemp(join(tmpdir(), 'el-inspect-'));
// lenet5 (untrained, seeded): conv 6 5x5 same (28x28) and conv 16 5x5 valid after a pool (10x10).
const lenet = getArchitecture('lenet5').build({ seed: 3 });
const lenetDir = join(dir, 'lenet5');
await saveTfjsModel(lenet, lenetDir, { arch: 'lenet5', classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] });
const lenetOnnx = join(dir, 'lenet5.onnx');
await writeFile(lenetOnnx, (await exportToOnnx(lenet, { metadata: { arch: 'lenet5' } })).bytes);
const fm = await loadDataset();

test.after(() => rm(dir, { recursive: true, force: true }));

test('tiles: min-max to black..white (a dead channel is black); signed weights around mid-grey', () => {
  assert.deepEqual([...toGray([2, 4, 6])], [0, 128, 255]);
  assert.deepEqual([...toGray([3, 3])], [0, 0]);
  assert.deepEqual([...toSignedGray([-2, 0, 1])], [1, 128, 192]);
});

test('inspect a tfjs model: filters, one grid per conv layer with the layer\'s shape, saliency, report', async () => {
  const out = join(dir, 'tfjs-out');
  const r = await runInspect({ model: lenetDir, index: 5, out });
  assert.equal(r.kind, 'tfjs');
  assert.equal(r.image.label, fm.test.classNames[fm.test.labels[5]]);
  assert.deepEqual(r.filters && { size: r.filters.size, total: r.filters.total }, { size: [5, 5], total: 6 });
  assert.deepEqual(r.layers.map((l) => l.shape), [[28, 28, 6], [10, 10, 16]]);
  for (const f of ['input.png', 'filters.png', 'saliency.png', 'report.json', 'report.md', ...r.layers.map((l) => l.file)]) assert.ok(r.files.includes(f), f);
  // The second grid: 16 tiles of 10x10, 4 columns.
  const meta = await sharp(join(out, r.layers[1].file)).metadata();
  const layout = tileGridLayout(Array.from({ length: 16 }, () => ({ pixels: new Uint8Array(100), width: 10, height: 10, caption: '0' })), { cols: 4, title: 't' });
  assert.equal(meta.height, layout.height);
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /\| conv2d\S* \| 10 x 10 x 16 \| 16 \|/);
});

test('saliency is the gradient of the predicted logit: it matches a finite difference at its brightest pixel', async () => {
  const pixels = imageAt(fm.test, 7);
  const view = await inspectTfjs(lenetDir, pixels, 8);
  const s = view.saliency!;
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i] > s[best]) best = i;
  let top = 0;
  for (let c = 1; c < 10; c++) if (view.logits[c] > view.logits[top]) top = c;
  const x = Float32Array.from(pixels, (v) => v / 255);
  const logitAt = (delta: number) => tf.tidy(() => {
    const y = Float32Array.from(x);
    y[best] += delta;
    return (lenet.predict(tf.tensor4d(y, [1, 28, 28, 1])) as tf.Tensor).dataSync()[top];
  });
  const h = 1e-2;
  const numeric = Math.abs((logitAt(h) - logitAt(-h)) / (2 * h));
  assert.ok(s[best] > 0);
  assert.ok(Math.abs(numeric - s[best]) < 0.05 * s[best] + 1e-4, `numeric ${numeric} vs saliency ${s[best]}`);
});

test('inspect an ONNX model: the conv tensors come out as extra outputs, equal to the tfjs model\'s feature maps', async () => {
  const tfjsView = await inspectTfjs(lenetDir, imageAt(fm.test, 2), 64);
  const out = join(dir, 'onnx-out');
  const r = await runInspect({ model: lenetOnnx, index: 2, out });
  assert.equal(r.kind, 'onnx');
  assert.deepEqual(r.layers.map((l) => l.shape), [[28, 28, 6], [10, 10, 16]]);
  assert.equal(r.saliency, null);
  assert.match(r.notes.join('\n'), /saliency: needs gradients/);
  const { inspectOnnx } = await import('../../training/studies/inspect-onnx.ts');
  const onnxView = await inspectOnnx(lenetOnnx, imageAt(fm.test, 2), 64);
  for (const [k, m] of onnxView.maps.entries()) {
    for (const [c, plane] of m.planes.entries()) {
      const ref = tfjsView.maps[k].planes[c];
      let maxDiff = 0;
      for (let i = 0; i < plane.length; i++) maxDiff = Math.max(maxDiff, Math.abs(plane[i] - ref[i]));
      assert.ok(maxDiff < 1e-4, `layer ${k} channel ${c}: ${maxDiff}`);
    }
  }
  for (const [o, plane] of onnxView.filters!.planes.entries()) assert.deepEqual([...plane].map((v) => v.toFixed(5)), [...tfjsView.filters!.planes[o]].map((v) => v.toFixed(5)));
});

test('an int8 model\'s first-layer filters are dequantised: within one quantisation step of its fp32 parent\'s', async () => {
  const int8 = decodeModel(await readFile(DEFAULT)).graph!;
  const fp32 = decodeModel(await readFile(EDGENET)).graph!;
  const firstConv = (g: typeof int8) => g.node!.find((n) => n.opType === 'Conv')!.input![1];
  const q = constantWeight(int8, firstConv(int8))!;
  const f = constantWeight(fp32, firstConv(fp32))!;
  assert.deepEqual(q.dims, f.dims);
  const [outC] = q.dims;
  const per = q.values.length / outC;
  for (let o = 0; o < outC; o++) {
    let maxAbs = 0;
    for (let i = 0; i < per; i++) maxAbs = Math.max(maxAbs, Math.abs(f.values[o * per + i]));
    const step = maxAbs / 127;
    for (let i = 0; i < per; i++) assert.ok(Math.abs(q.values[o * per + i] - f.values[o * per + i]) <= step * 0.51 + 1e-7, `filter ${o}`);
  }
});

test('inspect CLI: the shipped int8 model on a photo; --image with --index, a missing model and a bad image are one line', async () => {
  const garbage = join(dir, 'garbage.onnx');
  await writeFile(garbage, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  const photo = join(dir, 'photo.jpg');
  await writeFile(photo, await photoOf(imageAt(fm.test, 1), 1));
  const out = join(dir, 'cli-out');
  const r = await runEdgeloom(['inspect', '--model', DEFAULT, '--image', photo, '--max-channels', '8', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.image.source, photo);
  assert.equal(j.filters.total, 32);
  assert.equal(j.filters.shown, 8);
  assert.deepEqual(j.layers[0].shape, [28, 28, 32]);
  assert.ok(j.layers.every((l: { shown: number }) => l.shown === 8));
  for (const [args, message] of [
    [['--model', DEFAULT, '--image', photo, '--index', '1'], /^edgeloom: --image and --index: give one of them/m],
    [['--model', join(dir, 'nope.onnx')], /^edgeloom: --model .*nope\.onnx: not found/m],
    [['--model', garbage], /^edgeloom: garbage\.onnx: not an ONNX model/m],
    [['--model', DEFAULT, '--max-channels', '9999'], /^edgeloom: --max-channels: expected an integer from 1 to 512/m],
    [['--model', DEFAULT, '--image', lenetOnnx], /^edgeloom: --image .*lenet5\.onnx: /m],
  ] as const) {
    const bad = await runEdgeloom(['inspect', ...args, '--out', join(dir, 'bad')]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, message);
  }
});
