import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../training/data/load.ts';
import { loadIdxDir } from '../../training/data/idx-dir.ts';
import { EXPORT_MARKER, exportDataset, exportImageSets } from '../../training/data/export.ts';
import { perClassSubset, tempDir } from './helpers.ts';

const ds = await loadDataset();
const train = perClassSubset(ds.train, 4);
const testSet = perClassSubset(ds.test, 2);

test('IDX export (plain and gzipped) uses the official names and round-trips', async () => {
  const dir = await tempDir('export');
  for (const gzip of [false, true]) {
    const out = join(dir, gzip ? 'gz' : 'plain');
    const { files } = await exportImageSets({ train, test: testSet }, 'idx', out, { gzip });
    const suffix = gzip ? '.gz' : '';
    assert.deepEqual(files, ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map((f) => f + suffix));
    if (gzip) assert.deepEqual([...(await readFile(join(out, files[0]))).subarray(0, 2)], [0x1f, 0x8b]);
    const back = await loadIdxDir(out);
    assert.deepEqual(Uint8Array.from(back.train.images), train.images);
    assert.deepEqual(Uint8Array.from(back.train.labels), train.labels);
    assert.deepEqual(Uint8Array.from(back.test.images), testSet.images);
    assert.deepEqual(Uint8Array.from(back.test.labels), testSet.labels);
  }
});

test('exportDataset loads through the --data spec and exports only the asked split', async () => {
  const dir = await tempDir('export');
  await exportImageSets({ train, test: testSet }, 'idx', join(dir, 'src'));
  const result = await exportDataset({ data: `idx:${join(dir, 'src')}`, format: 'csv', split: 'test', out: join(dir, 'csv') });
  assert.deepEqual(result.files, ['fashion-mnist_test.csv']);
  const lines = (await readFile(join(dir, 'csv', 'fashion-mnist_test.csv'), 'utf8')).trim().split('\n');
  assert.equal(lines.length, 1 + testSet.count);
  assert.ok(lines[0].startsWith('label,pixel1,pixel2,'));
  assert.ok(lines[0].endsWith(',pixel784'));
  await assert.rejects(exportDataset({ data: `idx:${join(dir, 'src')}`, format: 'csv', split: 'both', out: join(dir, 'x') }), /--split: expected train, test or all/);
  await assert.rejects(exportDataset({ data: `idx:${join(dir, 'src')}`, format: 'png', gzip: true, out: join(dir, 'x') }), /--gzip: only applies to --format idx/);
});

test('export replaces its own earlier output but never a foreign directory, and leaves nothing half-written', async () => {
  const dir = await tempDir('export');
  const out = join(dir, 'out');
  await exportImageSets({ test: testSet }, 'idx', out);
  await exportImageSets({ train }, 'csv', out);
  assert.deepEqual((await readdir(out)).sort(), [EXPORT_MARKER, 'fashion-mnist_train.csv']);
  const foreign = join(dir, 'mine');
  await mkdir(foreign);
  await writeFile(join(foreign, 'thesis.tex'), 'precious');
  await assert.rejects(exportImageSets({ train }, 'csv', foreign), /mine: directory is not empty and was not written by edgeloom data export/);
  assert.equal(await readFile(join(foreign, 'thesis.tex'), 'utf8'), 'precious');
  const broken = { ...testSet, count: testSet.count + 1 }; // inconsistent: fails mid-export
  await assert.rejects(exportImageSets({ test: broken }, 'png', join(dir, 'half')));
  assert.equal(existsSync(join(dir, 'half')), false);
  assert.deepEqual((await readdir(dir)).sort(), ['mine', 'out']);
});
