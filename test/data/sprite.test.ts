import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { loadDataset } from '../../training/data/load.ts';
import { exportImageSets } from '../../training/data/export.ts';
import { SPRITE_MARGIN, pickPerClass, spriteLayout, spriteSvg, writeSprite } from '../../training/data/sprite.ts';
import { perClassSubset, tempDir } from './helpers.ts';

const ds = await loadDataset();
const testSet = perClassSubset(ds.test, 12);

test('sprite: one labelled row per class, size from the layout', async () => {
  const { svg, rows, height } = await spriteSvg(testSet, 8, 2, 1);
  assert.equal(rows, 10);
  const layout = spriteLayout(10, 8, 2, FASHION_MNIST_CLASSES);
  assert.equal(layout.rowHeight, 28 * 2 + 2);
  assert.equal(height, 10 * layout.rowHeight + 2 * SPRITE_MARGIN);
  for (const [i, name] of FASHION_MNIST_CLASSES.entries()) assert.ok(svg.includes(`>${i} ${name}</text>`), name);
});

test('writeSprite writes a PNG of the reported size; picks are seeded', async () => {
  const dir = await tempDir('sprite');
  await exportImageSets({ train: perClassSubset(ds.train, 1), test: testSet }, 'idx', join(dir, 'idx'));
  const out = join(dir, 'sprite.png');
  const result = await writeSprite({ data: `idx:${join(dir, 'idx')}`, out, split: 'test', perClass: '5', scale: '3', seed: '4' });
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.deepEqual([meta.width, meta.height], [result.width, result.height]);
  assert.equal(result.rows, 10);
  assert.equal(result.height, 10 * spriteLayout(10, 5, 3, FASHION_MNIST_CLASSES).rowHeight + 2 * SPRITE_MARGIN);
  const a = pickPerClass(testSet, 5, 4);
  assert.deepEqual(a, pickPerClass(testSet, 5, 4));
  assert.notDeepEqual(a, pickPerClass(testSet, 5, 5));
  a.forEach((ids, label) => ids.forEach((i) => assert.equal(testSet.labels[i], label)));
  await assert.rejects(writeSprite({ data: `idx:${join(dir, 'idx')}`, out, perClass: '0' }), /--per-class: expected an integer in 1\.\.200, got "0"/);
  await assert.rejects(writeSprite({ data: `idx:${join(dir, 'idx')}`, out, split: 'val' }), /--split: expected train or test/);
});
