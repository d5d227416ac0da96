import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../training/data/load.ts';
import { classCounts } from '../../training/data/dataset.ts';
import { CSV_FILES, exportImageSets } from '../../training/data/export.ts';
import { csvHeader, loadCsvDataset, readCsvImages, stratifiedSplit } from '../../training/data/csv.ts';
import { perClassSubset, tempDir } from './helpers.ts';

const ds = await loadDataset();
const train = perClassSubset(ds.train, 14);
const testSet = perClassSubset(ds.test, 3);
const row = (label: string | number, pixels: (string | number)[]) => `${label},${pixels.join(',')}`;
const zeros = () => new Array<number>(784).fill(0);

test('CSV export round-trips through the CSV reader (with and without a test CSV)', async () => {
  const dir = await tempDir('csv');
  const { files } = await exportImageSets({ train, test: testSet }, 'csv', join(dir, 'out'));
  assert.deepEqual(files, [CSV_FILES.train, CSV_FILES.test]);
  const both = await loadCsvDataset(join(dir, 'out', CSV_FILES.train), join(dir, 'out', CSV_FILES.test));
  assert.deepEqual(both.train.images, train.images);
  assert.deepEqual(both.train.labels, train.labels);
  assert.deepEqual(both.test.images, testSet.images);
  assert.deepEqual(both.test.labels, testSet.labels);
  // Through the --data spec as the CLI passes it.
  const viaSpec = await loadDataset({ data: `csv:${join(dir, 'out', CSV_FILES.train)},${join(dir, 'out', CSV_FILES.test)}` });
  assert.equal(viaSpec.test.count, testSet.count);
});

test('without a test CSV, 1/7 of every class is held out, reproducibly with the seed', async () => {
  const dir = await tempDir('csv');
  await exportImageSets({ train }, 'csv', join(dir, 'out'));
  const path = join(dir, 'out', CSV_FILES.train);
  const a = await loadCsvDataset(path);
  const b = await loadCsvDataset(path);
  assert.deepEqual(classCounts(a.test), new Array(10).fill(2)); // round(14 / 7)
  assert.deepEqual(classCounts(a.train), new Array(10).fill(12));
  assert.deepEqual(a.test.images, b.test.images);
  const other = stratifiedSplit(await readCsvImages(path), 1 / 7, 7);
  assert.notDeepEqual(other.test.images, a.test.images);
  assert.match(a.source, /stratified 1\/7 hold-out, seed 42/);
});

test('header is optional, blank lines and CRLF are fine', async () => {
  const dir = await tempDir('csv');
  const p = join(dir, 'noheader.csv');
  await writeFile(p, `${row(3, zeros())}\r\n\r\n${row(9, zeros().fill(255))}\r\n`);
  const set = await readCsvImages(p);
  assert.deepEqual([...set.labels], [3, 9]);
  assert.equal(set.images[784], 255);
});

test('CSV errors name the file and the line', async () => {
  const dir = await tempDir('csv');
  const cases: [string, string, RegExp][] = [
    ['columns.csv', `${csvHeader()}\n${row(1, zeros())}\n${row(1, zeros().slice(1))}\n`, /columns\.csv:3: expected 785 columns \(label \+ 784 pixels\), found 784$/],
    ['pixel.csv', `${row(1, zeros())}\n${row(2, [...zeros().slice(0, 9), 256, ...zeros().slice(10)])}\n`, /pixel\.csv:2: pixel10 "256" is not an integer in 0\.\.255$/],
    ['float.csv', `${csvHeader()}\n${row(2, [0.5, ...zeros().slice(1)])}\n`, /float\.csv:2: pixel1 "0\.5" is not an integer in 0\.\.255$/],
    ['label.csv', `${csvHeader()}\n${row(10, zeros())}\n`, /label\.csv:2: label "10" is not an integer in 0\.\.9$/],
    ['text.csv', `${csvHeader()}\n${row('shirt', zeros())}\n`, /text\.csv:2: label "shirt" is not an integer in 0\.\.9$/],
    ['header.csv', `image,${zeros().join(',')}\n`, /header\.csv:1: header must start with "label"/],
    ['empty.csv', `${csvHeader()}\n`, /empty\.csv: no images/],
  ];
  for (const [name, text, expected] of cases) {
    const p = join(dir, name);
    await writeFile(p, text);
    await assert.rejects(readCsvImages(p), (err: Error) => {
      assert.equal(err.name, 'UserError');
      assert.match(err.message, expected);
      assert.ok(err.message.startsWith(p), err.message);
      return true;
    });
  }
  await assert.rejects(readCsvImages(join(dir, 'missing.csv')), /missing\.csv: file not found/);
});
