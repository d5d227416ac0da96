import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUDGETS, STUDIES, resolveBudget, runReproduce } from '../../training/studies/reproduce.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';

const dir = await mkdtemp(join(tmpdir(), 'el-repro-'));
test.after(() => rm(dir, { recursive: true, force: true }));

test('the four studies, named by topic; budgets resolve with overrides; the studies\' numbers are in docs/studies.md', async () => {
  assert.deepEqual(Object.keys(STUDIES), ['safaei', 'leopardi', 'le-glouanec', 'giordano']);
  assert.deepEqual(resolveBudget({ budget: 'full', folds: 4 }), { name: 'full', budget: { ...BUDGETS.full, folds: 4 } });
  assert.throws(() => resolveBudget({ budget: 'huge' }), /--budget: expected quick or full/);
  const doc = await readFile(new URL('../../docs/studies.md', import.meta.url), 'utf8');
  for (const study of Object.values(STUDIES)) for (const e of study.experiments) if (/%/.test(e.reported)) assert.ok(doc.includes(e.reported.replace(/%$/, '')),
    `${study.name}/${e.id}: ${e.reported}`);
});

test('reproduce le-glouanec at a tiny budget: the study\'s 92.37% beside a measured accuracy, report written', async () => {
  const out = join(dir, 'lg');
  const r = await runReproduce({ study: 'le-glouanec', budget: 'quick', limit: 200, epochs: 1, testLimit: 100, out });
  assert.equal(r.rows.length, 1);
  assert.equal(r.rows[0].reported, '92.37%');
  const report = JSON.parse(await readFile(join(out, 'lenet5-bn', 'report.json'), 'utf8'));
  assert.equal(r.rows[0].edgeloom, report.test.accuracy);
  assert.equal(report.test.count, 100);
  assert.equal(report.data.train, 200);
  // --backend auto: the steps ran on onnxruntime (tfjs-node is not installed here).
  assert.equal(report.backend, 'ort');
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /\| LeNet-5 variant \(lenet5-bn\), one train\/test split \| 92\.37% \| \d+\.\d\d% \|/);
});

test('reproduce CLI: giordano\'s seven rows from one robustness run of the default model; an unknown study or experiment is one line', async () => {
  const out = join(dir, 'giordano');
  const r = await runEdgeloom(['reproduce', 'giordano', '--test-limit', '100', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.rows.map((x: { id: string }) => x.id), ['clean', 'cut', 'rotate', 'occlusion', 'contrast', 'blur', 'rain']);
  const robustness = JSON.parse(await readFile(join(out, 'robustness', 'report.json'), 'utf8'));
  assert.equal(j.rows[0].edgeloom, robustness.clean.accuracy);
  assert.equal(j.rows[2].edgeloom, robustness.summary.find((s: { filter: string }) => s.filter === 'rotate').accuracy);
  assert.ok(existsSync(join(out, 'report.md')));
  const bad = await runEdgeloom(['reproduce', 'lecun']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^edgeloom: reproduce: unknown study "lecun" \(expected safaei, leopardi, le-glouanec, giordano\)/m);
  const badOnly = await runEdgeloom(['reproduce', 'safaei', '--only', 'resnet']);
  assert.match(badOnly.stderr, /^edgeloom: --only: safaei has no experiment "resnet"/m);
});
