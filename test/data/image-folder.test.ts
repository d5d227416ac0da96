import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { loadDataset } from '../../training/data/load.ts';
import { classCounts, imageAt } from '../../training/data/dataset.ts';
import { exportImageSets } from '../../training/data/export.ts';
import { fashionMnistLabel, loadImageFolder, resolveClasses } from '../../training/data/image-folder.ts';
import { synthesizeFrame } from '../preprocess/synth.ts';
import { byClass, perClassSubset, tempDir } from './helpers.ts';

const ds = await loadDataset();
const train = perClassSubset(ds.train, 7);
const testSet = perClassSubset(ds.test, 2);

test('PNG export round-trips through the image-folder reader (train/ and test/ folders)', async () => {
  const dir = await tempDir('folder');
  const out = join(dir, 'pngs');
  const { files } = await exportImageSets({ train, test: testSet }, 'png', out);
  assert.equal(files.length, train.count + testSet.count);
  assert.ok(files.includes(join('train', 't-shirt-top', '00.png')), files.slice(0, 3).join());
  const back = await loadImageFolder(out, { seed: 1 });
  assert.deepEqual(back.train.classNames, FASHION_MNIST_CLASSES);
  assert.deepEqual(byClass(back.train), byClass(train));
  assert.deepEqual(byClass(back.test), byClass(testSet));
});

test('a flat class folder layout gets a seeded stratified 1/7 test split', async () => {
  const dir = await tempDir('folder');
  await exportImageSets({ train }, 'png', join(dir, 'pngs'));
  const root = join(dir, 'pngs', 'train');
  const a = await loadImageFolder(root, { seed: 3 });
  const b = await loadImageFolder(root, { seed: 3 });
  assert.deepEqual(classCounts(a.test), new Array(10).fill(1));
  assert.deepEqual(classCounts(a.train), new Array(10).fill(6));
  assert.deepEqual(a.test.images, b.test.images);
  assert.match(a.source, /stratified 1\/7 hold-out, seed 3/);
  const viaSpec = await loadDataset({ data: `folder:${root}`, seed: 3 });
  assert.deepEqual(viaSpec.test.images, a.test.images);
});

test('class folders match Fashion-MNIST names by name or slug; unknown names become sorted classes', () => {
  assert.equal(fashionMnistLabel('t-shirt-top'), 0);
  assert.equal(fashionMnistLabel('Ankle boot'), 9);
  assert.equal(fashionMnistLabel('ankle-boot'), 9);
  assert.equal(fashionMnistLabel('sneakers'), -1);
  const fm = resolveClasses(['sneaker', 'Bag']);
  assert.equal(fm.classNames, FASHION_MNIST_CLASSES);
  assert.equal(fm.labelOf.get('Bag'), 8);
  const custom = resolveClasses(['socks', 'hat', 'bag']);
  assert.deepEqual(custom.classNames, ['bag', 'hat', 'socks']);
  assert.equal(custom.labelOf.get('socks'), 2);
});

test('camera photos in a folder are preprocessed like on the device', async () => {
  const dir = await tempDir('folder');
  for (const [name, idx] of [['hat', 0], ['socks', 5]] as const) {
    await mkdir(join(dir, 'photos', name), { recursive: true });
    for (let k = 0; k < 7; k++) {
      const frame = await synthesizeFrame(imageAt(ds.test, idx * 1000 + k), { seed: k });
      await writeFile(join(dir, 'photos', name, `IMG_${k}.JPG`), frame);
    }
  }
  await writeFile(join(dir, 'photos', 'hat', '.DS_Store'), 'junk'); // hidden files are not data
  const set = await loadImageFolder(join(dir, 'photos'), { seed: 1 });
  assert.deepEqual(set.train.classNames, ['hat', 'socks']);
  assert.equal(set.train.count + set.test.count, 14);
  // Negated light-table frames: the corners are background, black as in Fashion-MNIST.
  for (let i = 0; i < set.train.count; i++) assert.equal(imageAt(set.train, i)[0], 0);
});

test('folder errors name the file', async () => {
  const dir = await tempDir('folder');
  await exportImageSets({ train: perClassSubset(ds.train, 6) }, 'png', join(dir, 'ok'));
  const root = join(dir, 'ok', 'train');
  await writeFile(join(root, 'bag', 'broken.png'), 'not a png');
  await assert.rejects(loadImageFolder(root, { seed: 1, cache: false }), new RegExp(`^UserError: ${join(root, 'bag', 'broken\\.png')}: cannot decode image: `));
  await writeFile(join(root, 'bag', 'broken.png'), await sharp({ create: { width: 40, height: 30, channels: 3, background: '#fff' } }).png().toBuffer());
  await assert.rejects(loadImageFolder(join(dir, 'nope'), { seed: 1 }), /nope: not a directory/);
  await mkdir(join(dir, 'only-test', 'test', 'bag'), { recursive: true });
  await assert.rejects(loadImageFolder(join(dir, 'only-test'), { seed: 1 }), /only-test\/train: not found \(a test\/ folder needs a train\/ folder next to it\)/);
  await mkdir(join(dir, 'empty'));
  await assert.rejects(loadImageFolder(join(dir, 'empty'), { seed: 1 }), /empty: no class folders/);
  await writeFile(join(root, 'stray.png'), 'x');
  await assert.rejects(loadImageFolder(root, { seed: 1 }), /stray\.png: expected only class folders in/);
});
