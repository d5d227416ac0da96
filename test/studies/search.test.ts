import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandGrid, parseGrid, searchTrials } from '../../training/studies/grid.ts';
import { mergeRecipe, parseRecipeFile } from '../../training/trainer/recipe-file.ts';
import { runSearch } from '../../training/studies/search.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';

const dir = await mkdtemp(join(tmpdir(), 'el-search-'));
test.after(() => rm(dir, { recursive: true, force: true }));

test('grid: settings and values parsed (kebab-case too), every combination once, the last varying fastest', () => {
  const grid = parseGrid('optimizer=sgd,adam; batch-size=32,64 ;activation=tanh');
  assert.deepEqual(grid, [{ name: 'optimizer', values: ['sgd', 'adam'] }, { name: 'batchSize', values: [32, 64] }, { name: 'activation', values: ['tanh'] }]);
  assert.deepEqual(expandGrid(grid).map((t) => `${t.optimizer}/${t.batchSize}`), ['sgd/32', 'sgd/64', 'adam/32', 'adam/64']);
  for (const [spec, message] of [
    ['optimizer=rmsprop', /optimizer: unknown value "rmsprop"/],
    ['lr=fast', /lr: expected numbers, got "fast"/],
    ['batch-size=1.5', /batchSize: expected integers/],
    ['colour=red', /unknown setting "colour"/],
    ['lr=1;lr=2', /lr is given twice/],
    ['lr', /expected name=value/],
  ] as const) assert.throws(() => parseGrid(spec), message);
});

test('random search: N distinct combinations of the grid, seeded; N >= the grid is the whole grid', () => {
  const grid = parseGrid('lr=1,2,3,4;width=10,20,30');
  const a = searchTrials(grid, 5, 9);
  assert.equal(a.length, 5);
  assert.equal(new Set(a.map((t) => JSON.stringify(t))).size, 5);
  assert.deepEqual(searchTrials(grid, 5, 9), a);
  assert.notDeepEqual(searchTrials(grid, 5, 10), a);
  assert.equal(searchTrials(grid, 50, 9).length, 12);
  assert.throws(() => searchTrials(grid, 0, 1), /--random: expected an integer from 1/);
});

test('recipe files: fields checked, architecture settings checked against what the architecture accepts; flags win', () => {
  const r = parseRecipeFile(JSON.stringify({ arch: 'mlp', optimizer: 'adagrad', lr: 0.01, settings: { activation: 'tanh', width: 50 }, from: { any: 1 } }), 'r.json');
  assert.deepEqual(r.settings, { activation: 'tanh', width: 50 });
  assert.deepEqual(mergeRecipe(r, { lr: 0.1, epochs: undefined }), { arch: 'mlp', optimizer: 'adagrad', lr: 0.1, settings: { activation: 'tanh', width: 50 } });
  for (const [json, message] of [
    [{ arch: 'lenet5', settings: { activation: 'tanh' } }, /lenet5 does not accept the setting "activation" \(it accepts none\)/],
    [{ arch: 'mlp', settings: { dropout: 0.5 } }, /mlp does not accept the setting "dropout" \(it accepts activation, width\)/],
    [{ arch: 'cnn', settings: { activation: 'gelu' } }, /activation: expected relu or tanh/],
    [{ arch: 'mlp', lr: '0.1' }, /lr: expected a number/],
    [{ arch: 'mlp', colour: 1 }, /unknown field "colour"/],
    [{ lr: 0.1 }, /arch: required/],
  ] as const) assert.throws(() => parseRecipeFile(JSON.stringify(json), 'r.json'), (err: Error) => /^--recipe r\.json: /.test(err.message) && message.test(err.message));
  assert.throws(() => parseRecipeFile('{', 'bad.json'), /--recipe bad\.json: not valid JSON/);
});

test('search on Fashion-MNIST: every trial scored on the validation split; best recipe repeats it exactly with train --recipe', async () => {
  const out = join(dir, 'mlp');
  const r = await runSearch({ arch: 'mlp', grid: 'optimizer=sgd,adagrad;activation=relu,tanh', limit: 300, valSplit: 0.2, epochs: 1, batchSize: 20, lr: 0.05, backend: 'cpu', progress: false, out });
  assert.equal(r.trials.length, 4);
  assert.deepEqual(r.data, { source: r.data.source, train: 240, val: 60 });
  for (let i = 1; i < r.trials.length; i++) assert.ok(r.trials[i - 1].score.mean >= r.trials[i].score.mean);
  assert.equal(new Set(r.trials.map((t) => JSON.stringify(t.settings))).size, 4);
  for (const f of ['search.json', 'search.csv', 'report.md', 'search.png', 'best-recipe.json', 'trials/trial-004.json']) assert.ok(existsSync(join(out, f)), f);
  const csv = (await readFile(join(out, 'search.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'trial,optimizer,activation,val_accuracy,val_std,seconds');
  assert.equal(csv.length, 5);
  const recipe = JSON.parse(await readFile(join(out, 'best-recipe.json'), 'utf8'));
  assert.equal(recipe.optimizer, r.best!.settings.optimizer);
  assert.deepEqual(recipe.settings, { activation: r.best!.settings.activation });

  const run = join(dir, 'tuned');
  const t = await runEdgeloom(['train', '--recipe', join(out, 'best-recipe.json'), '--backend', 'cpu', '--no-onnx', '--no-progress', '--test-limit', '100', '--out', run, '--json']);
  assert.equal(t.code, 0, t.stderr);
  const summary = JSON.parse(t.stdout);
  assert.equal(summary.arch, 'mlp');
  assert.equal(summary.bestValAccuracy, r.best!.score.mean);
  const report = JSON.parse(await readFile(join(run, 'report.json'), 'utf8'));
  assert.equal(report.config.optimizer, r.best!.settings.optimizer);
  assert.deepEqual(report.config.settings, { activation: r.best!.settings.activation });
});

test('search and train --recipe on --backend ort: the best trial\'s validation accuracy repeats exactly (the same onnxruntime step)', async () => {
  const out = join(dir, 'mlp-ort');
  const r = await runSearch({ arch: 'mlp', grid: 'activation=relu,tanh', limit: 300, valSplit: 0.2, epochs: 1, batchSize: 20, optimizer: 'adam', lr: 0.003, backend: 'ort',
    progress: false, out });
  assert.equal(r.trials.length, 2);
  const run = join(dir, 'tuned-ort');
  const t = await runEdgeloom(['train', '--recipe', join(out, 'best-recipe.json'), '--backend', 'ort', '--no-onnx', '--no-progress', '--test-limit', '100', '--out', run, '--json']);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(JSON.parse(t.stdout).backend, 'ort');
  assert.equal(JSON.parse(t.stdout).bestValAccuracy, r.best!.score.mean);
});

test('search CLI: random trials scored by stratified folds on a photo folder\'s classes; refusals are one line', async () => {
  const { writePhotoFolder } = await import('./fixture.ts');
  const photos = await writePhotoFolder(9, 2);
  const out = join(dir, 'folds');
  const r = await runEdgeloom(['search', '--arch', 'cnn', '--data', photos.spec, '--grid', 'width=8,16;dropout=0,0.5', '--random', '2', '--folds', '3', '--epochs', '1',
    '--batch-size', '9', '--backend', 'cpu', '--no-progress', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.trials.length, 2);
  assert.ok(j.trials.every((t: { scores: number[] }) => t.scores.length === 3));
  assert.deepEqual(j.protocol, { kind: 'k-fold', folds: 3, stratified: true });
  for (const [args, message] of [
    [['--arch', 'lenet5', '--grid', 'activation=tanh'], /^edgeloom: --grid: lenet5 does not accept the setting "activation"/m],
    [['--arch', 'mlp', '--grid', 'lr=0.1', '--folds', '3', '--val-split', '0.1'], /^edgeloom: --folds and --val-split: give one of them/m],
    [['--arch', 'mlp', '--grid', 'lr=-1'], /^edgeloom: --lr: expected a positive number/m],
  ] as const) {
    const bad = await runEdgeloom(['search', ...args, '--out', join(dir, 'bad')]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, message);
  }
  await rm(join(photos.dir, '..'), { recursive: true, force: true });
});
