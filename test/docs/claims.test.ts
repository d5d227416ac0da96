/**
 * The figures README.md and models/README.md quote about the shipped models are the model cards'
 * (models/*.json, written by scripts/model-card.ts and re-measured by test/models/), so the prose
 * cannot drift from the measurements. docs/testing.md "Where the numbers come from" lists the other
 * sources (benchmarks, soak, robustness tables, drift evidence).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { loadDataset } from '../../training/data/load.ts';

const root = new URL('../../', import.meta.url).pathname;

interface Card {
  file: string;
  bytes: number;
  test: { accuracy: number; macro: { f1: number } };
  parent: { file: string; accuracy: number; agreement: number; sizeRatio: number; accuracyDropPoints: number } | null;
  robustness: { severity3: { meanAccuracy: number; worstFilter: { filter: string; accuracy: number } } };
}

const cardFiles = (await readdir(`${root}models`)).filter((f) => f.endsWith('.json') && !f.endsWith('.drift.json'));
const cards = new Map<string, Card>();
for (const f of cardFiles) {
  const card = JSON.parse(await readFile(`${root}models/${f}`, 'utf8')) as Card;
  cards.set(card.file, card);
}
const card = (file: string): Card => {
  const c = cards.get(file);
  assert.ok(c, `models/${file} has no model card (models/*.json)`);
  return c;
};
const readme = await readFile(`${root}README.md`, 'utf8');
const modelsReadme = await readFile(`${root}models/README.md`, 'utf8');

/** 0.93855 -> "93.86%" (cards store 4 decimals, docs show percentages with 2). */
const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)}%`;
const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;
const points = (x: number) => (Math.round(x * 10000) / 100).toFixed(2);

function assertQuotes(doc: string, docName: string, expected: string, source: string): void {
  assert.ok(doc.includes(expected), `${docName} should quote "${expected}" (${source})`);
}

test('models/README.md: the table has one row per shipped model, with its card\'s accuracy, macro F1 and size', () => {
  const rows = [...modelsReadme.matchAll(/^\| `([^`]+\.onnx)` \|[^|]*\| ([\d.]+%) \| ([\d.]+) \| (\d+ KiB) \|$/gm)];
  const onnxFiles = [...cards.keys()].sort();
  assert.deepEqual(rows.map((r) => r[1]).sort(), onnxFiles, 'a row for every card (models/*.json) and a card for every row');
  for (const [, file, accuracy, f1, size] of rows) {
    const c = card(file);
    assert.equal(accuracy, pct(c.test.accuracy), `${file}: test accuracy (models/${file.replace(/\.onnx$/, '.json')} test.accuracy)`);
    assert.equal(f1, c.test.macro.f1.toFixed(4), `${file}: macro F1 (test.macro.f1)`);
    assert.equal(size, kib(c.bytes), `${file}: size (bytes)`);
  }
});

test('models/README.md: the int8-vs-fp32 and robust-model sentences quote the cards', () => {
  const int8 = card('edgenet.int8.onnx');
  assert.ok(int8.parent, 'edgenet.int8.json names its fp32 parent');
  const source = 'models/edgenet.int8.json parent';
  assertQuotes(modelsReadme, 'models/README.md', `int8 vs fp32: ${pct(int8.parent.agreement)} agreement, ` +
    `${int8.parent.accuracyDropPoints > 0 ? '-' : '+'}${Math.abs(int8.parent.accuracyDropPoints).toFixed(2)} points`, source);
  assertQuotes(modelsReadme, 'models/README.md', `The int8 file is ${pct(int8.parent.sizeRatio, 1)} of the fp32 file`, source);

  const robust = card('edgenet-robust.int8.onnx');
  const plain = card('default.onnx');
  const r3 = robust.robustness.severity3;
  assertQuotes(modelsReadme, 'models/README.md', `the int8 model keeps ${pct(r3.meanAccuracy)} on average over the six filters (the default: ` +
    `${pct(plain.robustness.severity3.meanAccuracy)})`, 'robustness.severity3.meanAccuracy');
  assertQuotes(modelsReadme, 'models/README.md', `${pct(r3.worstFilter.accuracy)} on the\nworst one (${r3.worstFilter.filter})`, 'robustness.severity3.worstFilter');
  assertQuotes(modelsReadme, 'models/README.md', `for ${points(plain.test.accuracy - robust.test.accuracy)} points of clean accuracy (${pct(robust.test.accuracy)} against ` +
    `${pct(plain.test.accuracy)})`, 'test.accuracy');
});

test('README.md: the shipped default and robust models are quoted as their cards say', () => {
  const def = card('default.onnx');
  assert.ok(def.parent, 'default.json names its fp32 parent');
  const parent = card(def.parent.file);
  assertQuotes(readme, 'README.md', `is edgenet, int8: **${pct(def.test.accuracy)}**`, 'models/default.json test.accuracy');
  assertQuotes(readme, 'README.md', `(fp32 parent \`models/${def.parent.file}\`: ${pct(parent.test.accuracy)}; ${pct(def.parent.agreement)} agreement), ` +
    `${kib(def.bytes)} (${pct(def.parent.sizeRatio, 1)} of the fp32 file`, 'models/default.json parent, bytes');

  const robust = card('edgenet-robust.int8.onnx');
  const r3 = robust.robustness.severity3;
  const d3 = def.robustness.severity3;
  assertQuotes(readme, 'README.md', `${pct(robust.test.accuracy)} on clean test images\n(${points(def.test.accuracy - robust.test.accuracy)} points below the ` +
    `default)`, 'models/edgenet-robust.int8.json test.accuracy');
  assertQuotes(readme, 'README.md', `${pct(r3.meanAccuracy, 1)} on\naverage and at least ${pct(r3.worstFilter.accuracy, 1)} on each, where the default keeps ` +
    `${pct(d3.meanAccuracy, 1)} and ${pct(d3.worstFilter.accuracy, 1)} (rotation)`, 'robustness.severity3 of both cards');
});

test('the split sizes README.md and docs/data.md quote are what the data loader builds', async () => {
  const ds = await loadDataset();
  assert.equal(ds.train.count, 60_000);
  assert.equal(ds.test.count, 10_000);
  const perClass = (labels: ArrayLike<number>) => Array.from({ length: 10 }, (_, c) => Array.from(labels).filter((l) => l === c).length);
  assert.deepEqual(perClass(ds.train.labels), new Array(10).fill(6_000));
  assert.deepEqual(perClass(ds.test.labels), new Array(10).fill(1_000));
  assertQuotes(readme, 'README.md', '60,000 train / 10,000 test', 'edgeloom data info');
  assertQuotes(await readFile(`${root}docs/data.md`, 'utf8'), 'docs/data.md', '60,000 training images (6,000 per class) and 10,000 test images (1,000 per', 'loadDataset');
});

test('docs/backends.md: the ort-vs-wasm table is the committed runs\' reports, as scripts/run-curves.ts writes it', async () => {
  const { runSummary, runsTable } = await import('../../scripts/run-curves.ts');
  const dir = `${root}docs/runs/parity-customnet`;
  const names = ['ort-s42', 'ort-s7', 'ort-s1', 'wasm-s42'];
  const runs = [];
  for (const name of names) {
    const file = `${dir}/${name}/report.json`;
    runs.push(runSummary(name, file, JSON.parse(await readFile(file, 'utf8'))));
  }
  assert.deepEqual(runs.map((r) => r.backend), ['ort', 'ort', 'ort', 'wasm']);
  assertQuotes(await readFile(`${root}docs/backends.md`, 'utf8'), 'docs/backends.md', runsTable(runs), 'docs/runs/parity-customnet');
});

test('docs/testing.md: the mutation summary quotes each module\'s latest measured row', async () => {
  const doc = await readFile(`${root}docs/testing.md`, 'utf8');
  const start = doc.indexOf('| module | files | latest score |');
  assert.ok(start > 0, 'docs/testing.md has the mutation summary table');
  const lines = doc.slice(start).split('\n').slice(2);
  const rows = lines.slice(0, lines.findIndex((l) => !l.startsWith('| ')));
  assert.ok(rows.length >= 17, `one row per module part (${rows.length})`);
  for (const row of rows) {
    const score = row.split('|').at(-2)!.trim();
    assert.match(score, /^\d+\.\d\d%$/, row);
    assert.ok(Number.parseFloat(score) >= 80, `${row}: at or above the 80% target`);
    assert.ok(doc.includes(`**${score}**`), `${row}: ${score} is a measured (bold) row of its section`);
  }
});

test('docs/studies.md: each full-budget row measured here quotes its committed reproduce.json', async () => {
  const doc = await readFile(`${root}docs/studies.md`, 'utf8');
  const dir = `${root}docs/runs/studies-full`;
  const runs = (await readdir(dir)).sort();
  assert.ok(runs.length > 0, 'docs/runs/studies-full holds the full-budget runs');
  for (const run of runs) {
    const r = JSON.parse(await readFile(`${dir}/${run}/reproduce.json`, 'utf8')) as { budget: string; rows: { id: string; reported: string; edgeloom: number | null }[] };
    assert.equal(r.budget, 'full', run);
    for (const { id, reported, edgeloom } of r.rows) {
      if (edgeloom === null) continue;
      const line = doc.split('\n').find((l) => l.startsWith('| ') && l.includes(`| ${reported} |`) && l.includes(`**${pct(edgeloom)}**`));
      assert.ok(line, `docs/studies.md: the row reported as ${reported} should quote **${pct(edgeloom)}** (docs/runs/studies-full/${run}, ${id})`);
    }
  }
});
