import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCv } from '../../training/studies/cv.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';
import { writePhotoFolder } from './fixture.ts';

// Budget: mlp, 1 epoch, 3 classes x 12 photos; seconds per fold.
const photos = await writePhotoFolder(12, 4);
const out = join(dirname(photos.dir), 'cv');
const budget = { arch: 'mlp', data: photos.spec, epochs: 1, batchSize: 8, optimizer: 'adam', lr: 0.003, backend: 'cpu', progress: false, seed: 3 };

test.after(() => rm(dirname(photos.dir), { recursive: true, force: true }));

test('cv on a photo folder: 3 stratified folds, each scored on its fold and the test split; ensemble and best fold; report files', async () => {
  const r = await runCv({ ...budget, folds: 3, stratified: true, export: 'best', out });
  assert.equal(r.interrupted, false);
  assert.equal(r.folds.length, 3);
  assert.deepEqual(r.folds.map((f) => f.val), [12, 12, 12]);
  assert.ok(r.folds.every((f) => f.train === 24 && f.epochsRun === 1));
  assert.equal(r.data.test, 12);
  const vals = r.folds.map((f) => f.valAccuracy);
  assert.ok(Math.abs(r.valAccuracy.mean - vals.reduce((s, v) => s + v, 0) / 3) < 1e-12);
  assert.equal(r.ensemble.count, 12);
  assert.deepEqual(r.ensemble.perClass.map((p) => p.label), ['handbag', 'jeans', 'trainers']);
  assert.equal(r.best.valAccuracy, Math.max(...vals));
  assert.equal(r.best.test.accuracy, r.folds[r.best.fold - 1].testAccuracy);
  assert.equal(r.exported?.testAccuracy, r.best.test.accuracy);
  for (const f of ['cv.json', 'report.md', 'folds.png', 'cv-plan.json', 'fold-01/model.json', 'fold-03/fold.json', 'best/model.json']) assert.ok(existsSync(join(out, f)), f);
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /\| \*\*mean ± std\*\* \|/);
});

test('cv resumes fold by fold: a rerun keeps the finished folds (same numbers, files untouched); other settings are refused', async () => {
  await rm(join(out, 'fold-02', 'fold.json'));
  const before = (await stat(join(out, 'fold-01', 'weights.bin'))).mtimeMs;
  const first = JSON.parse(await readFile(join(out, 'cv.json'), 'utf8'));
  const again = await runCv({ ...budget, folds: 3, stratified: true, out });
  assert.equal((await stat(join(out, 'fold-01', 'weights.bin'))).mtimeMs, before);
  // Fold 2 was trained again from the same seed: the same model, the same scores.
  assert.deepEqual(again.folds.map((f) => f.valAccuracy), first.folds.map((f: { valAccuracy: number }) => f.valAccuracy));
  await assert.rejects(runCv({ ...budget, folds: 4, stratified: true, out }), /--out .*cv: holds a cv run with other settings/);
});

test('cv CLI: shuffle-split --json on Fashion-MNIST; a bad flag is one line', async () => {
  const dir = join(dirname(photos.dir), 'cv-cli');
  const r = await runEdgeloom(['cv', '--arch', 'mlp', '--folds', '2', '--shuffle-split', '--test-size', '0.2', '--limit', '300', '--test-limit', '200', '--epochs', '1',
    '--batch-size', '16', '--optimizer', 'adam', '--lr', '0.003', '--backend', 'cpu', '--no-progress', '--out', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.protocol, { kind: 'shuffle-split', splits: 2, testSize: 0.2, stratified: false });
  assert.deepEqual(j.folds.map((f: { val: number; train: number }) => [f.train, f.val]), [[240, 60], [240, 60]]);
  assert.ok(j.testAccuracy.mean > 0.3, String(j.testAccuracy.mean));
  const bad = await runEdgeloom(['cv', '--arch', 'mlp', '--test-size', '0.2']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^edgeloom: --test-size: applies to --shuffle-split/m);
});
