import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { loadDataset } from '../../training/data/load.ts';
import { checkTrainable, classCounts, imageAt } from '../../training/data/dataset.ts';
import { dataInfo } from '../../training/data/info.ts';
import { runTrain } from '../../training/trainer/train.ts';
import { exportImageSets } from '../../training/data/export.ts';
import { loadImageFolder } from '../../training/data/image-folder.ts';
import { contentKey } from '../../training/data/image-cache.ts';
import { DirSource, FileSource } from '../../device/sources/files.ts';
import { IMAGE_EXTENSIONS } from '../../src/image-files.ts';
import { photoOf, writePhotos } from './photos.ts';
import { tempDir } from './helpers.ts';

const fm = await loadDataset();
const classes = [{ name: 'shirts', fashionMnistClass: 6 }, { name: 'shoes', fashionMnistClass: 7 }];

test('every image extension the agent\'s dir: source reads also trains; non-image files are skipped and counted; unlabelled/ is not a class', async () => {
  const root = await tempDir('truth');
  const cache = await tempDir('truth-cache');
  await writePhotos(root, '', classes, fm.test, 6);
  // The same garment photo re-encoded in every other format the shared list names.
  const jpeg = await photoOf(imageAt(fm.test, 0), 3);
  const encoders: Record<string, (s: Sharp) => Sharp> = { '.png': (s) => s.png(), '.webp': (s) => s.webp(), '.gif': (s) => s.gif(), '.tif': (s) => s.tiff(), '.tiff': (s) => s.tiff(),
    '.avif': (s) => s.avif({ effort: 0 }), '.jpeg': (s) => s.jpeg() };
  for (const ext of IMAGE_EXTENSIONS.filter((e) => e !== '.jpg')) {
    await writeFile(join(root, 'shirts', `other${ext.toUpperCase()}`), await encoders[ext](sharp(jpeg)).toBuffer());
  }
  await mkdir(join(root, 'shoes', '2024-05'));
  await writeFile(join(root, 'shoes', '2024-05', 'late.jpg'), await photoOf(imageAt(fm.test, 9), 1));
  await writeFile(join(root, 'shirts', 'Thumbs.db'), 'windows junk');
  await writeFile(join(root, 'shoes', '.DS_Store'), 'mac junk');
  await writeFile(join(root, 'notes.txt'), 'bins for line 3');
  await mkdir(join(root, 'unlabelled'));
  await writeFile(join(root, 'unlabelled', 'cap-0001.jpg'), jpeg);
  const ds = await loadImageFolder(root, { seed: 1, cache });
  assert.deepEqual(ds.train.classNames, ['shirts', 'shoes']);
  const files = [...ds.train.files!, ...ds.test.files!].sort();
  assert.equal(files.length, 6 + 6 + IMAGE_EXTENSIONS.length - 1 + 1);
  for (const ext of IMAGE_EXTENSIONS.filter((e) => e !== '.jpg')) assert.ok(files.includes(`shirts/other${ext.toUpperCase()}`), ext);
  assert.ok(files.includes('shoes/2024-05/late.jpg'), 'class folders are read recursively');
  assert.ok(!files.some((f) => f.startsWith('unlabelled')));
  assert.deepEqual(ds.skipped?.sort(), ['notes.txt', 'shirts/Thumbs.db', 'shoes/.DS_Store']);
  assert.match(ds.source, /3 non-image file\(s\) skipped/);
  // Labels follow the files.
  for (const set of [ds.train, ds.test]) for (let i = 0; i < set.count; i++) assert.equal(set.classNames[set.labels[i]], set.files![i].split('/')[0]);
});

test('train refuses too few photos in a class, or a single class, with a clear error; data info still shows them', async () => {
  const root = await tempDir('truth');
  await writePhotos(root, 'train', classes, fm.test, 6);
  await writePhotos(root, 'test', [...classes, { name: 'socks', fashionMnistClass: 0 }], fm.test, 2, 10);
  const info = await dataInfo({ data: `folder:${root}` });
  assert.equal(info.train, 12, 'inspection still works');
  await assert.rejects(runTrain({ arch: 'mlp', data: `folder:${root}`, epochs: 1, onnx: false, progress: false, out: join(root, 'run') }), (err: Error) => {
    assert.equal(err.name, 'UserError');
    assert.equal(err.message, `--data folder:${root}: too few training images in socks (0); every class needs at least 5 (add photos, or remove the class folder)`);
    return true;
  });
  const one = await tempDir('truth');
  await writePhotos(one, '', classes.slice(0, 1), fm.test, 8);
  checkTrainable(fm, 'fashion-mnist');
  await assert.rejects(loadImageFolder(one, { seed: 1, cache: false }).then((ds) => checkTrainable(ds, `folder:${one}`)), /only one class \(shirts\); a classifier needs at least 2 classes/);
  const few = await tempDir('truth');
  await writePhotos(few, '', classes, fm.test, 5);
  await assert.rejects(loadImageFolder(few, { seed: 1, cache: false }).then((ds) => checkTrainable(ds, `folder:${few}`)),
    /too few training images \(after the 1\/7 test hold-out\) in shirts \(4\), shoes \(4\)/);
  // Folders named after some Fashion-MNIST classes keep all ten labels: the absent ones are fine.
  const fmSubset = await tempDir('truth');
  await writePhotos(fmSubset, '', [{ name: 'trouser', fashionMnistClass: 1 }, { name: 'bag', fashionMnistClass: 8 }], fm.test, 7);
  checkTrainable(await loadImageFolder(fmSubset, { seed: 1, cache: false }), `folder:${fmSubset}`);
});

test('the 28x28 images are cached by content: a second load reads them back, an edited photo is converted again', async () => {
  const root = await tempDir('truth');
  const cache = await tempDir('truth-cache');
  const paths = await writePhotos(root, '', classes, fm.test, 7);
  const first = await loadImageFolder(root, { seed: 1, cache });
  const entries = (await readdir(cache, { recursive: true })).filter((f) => f.endsWith('.u8'));
  assert.equal(entries.length, paths.length, 'one cache entry per photo');
  // Poison the entry of one photo: the next load must return the cached bytes, not decode again.
  const victim = first.train.files![0];
  const key = contentKey(await readFile(join(root, victim)));
  const entry = entries.find((e) => e.endsWith(`${key}.u8`))!;
  await writeFile(join(cache, entry), new Uint8Array(784).fill(7));
  const second = await loadImageFolder(root, { seed: 1, cache });
  assert.deepEqual(Array.from(new Set(imageAt(second.train, 0))), [7], 'served from the cache');
  assert.deepEqual(second.train.images.subarray(784), first.train.images.subarray(784));
  // A new photo under the same name has other content: converted again, not the stale entry.
  await writeFile(join(root, victim), await photoOf(imageAt(fm.test, 500), 2));
  const third = await loadImageFolder(root, { seed: 1, cache });
  assert.notDeepEqual(Array.from(new Set(imageAt(third.train, 0))), [7]);
  assert.equal((await readdir(cache, { recursive: true })).filter((f) => f.endsWith('.u8')).length, paths.length + 1);
});

test('data export names the source photos; dir: recurses in name order and names each file', async () => {
  const root = await tempDir('truth');
  await writePhotos(root, 'train', classes, fm.test, 5);
  await writePhotos(root, 'test', classes, fm.test, 2, 20);
  const ds = await loadDataset({ data: `folder:${root}` });
  const out = join(await tempDir('truth'), 'png');
  const { files } = await exportImageSets({ test: ds.test }, 'png', out);
  assert.deepEqual(files, ['test/shirts/0-IMG_0020.png', 'test/shirts/1-IMG_0021.png', 'test/shoes/2-IMG_0020.png', 'test/shoes/3-IMG_0021.png']);

  await writeFile(join(root, 'test', 'Thumbs.db'), 'junk');
  const dir = new DirSource(join(root, 'test'));
  const names: string[] = [];
  for (let f = await dir.read(); f; f = await dir.read()) names.push(f.file!);
  assert.deepEqual(names, ['shirts/IMG_0020.jpg', 'shirts/IMG_0021.jpg', 'shoes/IMG_0020.jpg', 'shoes/IMG_0021.jpg']);
  const file = new FileSource(join(root, 'test', 'shoes', 'IMG_0021.jpg'));
  assert.equal((await file.read())?.file, 'IMG_0021.jpg', 'file: names the base name only');
  const empty = await tempDir('truth');
  await mkdir(join(empty, 'sub'));
  await writeFile(join(empty, 'sub', 'a.bmp'), 'x');
  await assert.rejects(new DirSource(empty).read(), /no image files in it or its sub-directories \(expected \.jpg, \.jpeg, \.png, \.webp, \.gif, \.tif, \.tiff, \.avif\)/);
  assert.equal(classCounts(ds.test).join(), '2,2');
});
