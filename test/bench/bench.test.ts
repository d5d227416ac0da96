import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeMachine, formatMs, markdownTable, percentile, replaceDocSection, summarize, type MachineInfo } from '../../scripts/bench/common.ts';
import { findModelPairs, pairModels, type ModelEntry } from '../../scripts/bench/models.ts';
import { inferenceTable, sortRows, speedupTable, targetsOf, type InferenceRow } from '../../scripts/bench/inference.ts';
import { benchCommand, selectBenches } from '../../scripts/bench/run.ts';
import { replaceSection } from '../../scripts/bench/train-speed.ts';
import { buildTinyModel } from '../device/tiny-model.ts';

describe('percentiles', () => {
  test('linear interpolation between closest ranks', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    const oneToTwenty = Array.from({ length: 20 }, (_, i) => 20 - i); // unsorted on purpose
    // rank 0.95 * 19 = 18.05: 19 + 0.05 * (20 - 19)
    assert.ok(Math.abs(percentile(oneToTwenty, 95) - 19.05) < 1e-12);
    assert.equal(percentile(oneToTwenty, 0), 1);
    assert.equal(percentile(oneToTwenty, 100), 20);
    assert.equal(percentile([7], 95), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile([1], 101), RangeError);
  });

  test('does not reorder the caller\'s array; summarize gives p50, p95 and mean', () => {
    const values = [3, 1, 2];
    assert.equal(percentile(values, 50), 2);
    assert.deepEqual(values, [3, 1, 2]);
    const s = summarize([4, 1, 3, 2]);
    assert.deepEqual({ count: s.count, p50: s.p50, mean: s.mean }, { count: 4, p50: 2.5, mean: 2.5 });
    assert.ok(Math.abs(s.p95 - 3.85) < 1e-12, `p95 ${s.p95}`); // rank 2.85: 3 + 0.85 * (4 - 3)
  });

  test('milliseconds keep their significant digits', () => {
    assert.equal(formatMs(0.04321), '0.043');
    assert.equal(formatMs(4.321), '4.32');
    assert.equal(formatMs(43.21), '43.2');
    assert.equal(formatMs(432.1), '432');
    assert.equal(formatMs(Number.NaN), 'n/a');
  });
});

describe('markdown', () => {
  test('tables: header, alignment row, escaped cells, row width checked', () => {
    const table = markdownTable([{ header: 'model' }, { header: 'ms', align: 'right' }], [['a|b', '1.5'], ['c', '2']]);
    assert.equal(table, '| model | ms |\n| --- | ---: |\n| a\\|b | 1.5 |\n| c | 2 |');
    assert.throws(() => markdownTable([{ header: 'x' }], [['1', '2']]), /row 0 has 2 cells, expected 1/);
  });

  const doc = '# Benchmarks\n\nintro\n\n## Inference latency\n\nolder text\n\n## Inference\n\nold rows\n\n## Training throughput\n\ntraining rows\n';

  test('a section in the middle is replaced, the others are kept byte for byte', () => {
    const out = replaceDocSection(doc, '## Inference', 'new rows');
    assert.equal(out, '# Benchmarks\n\nintro\n\n## Inference latency\n\nolder text\n\n## Inference\n\nnew rows\n\n## Training throughput\n\ntraining rows\n');
    assert.equal(replaceDocSection(out, '## Inference', 'new rows'), out, 'idempotent');
  });

  test('the last section is replaced up to the end; a missing one is appended; an empty file is started', () => {
    assert.equal(replaceDocSection(doc, '## Training throughput', 'T'), doc.replace('training rows\n', 'T\n'));
    const appended = replaceDocSection(doc, '## Device agent per frame', 'agent rows');
    assert.equal(appended, `${doc}\n## Device agent per frame\n\nagent rows\n`);
    assert.equal(replaceDocSection('', '## Inference', 'rows'), '# Benchmarks\n\n## Inference\n\nrows\n');
  });

  test('a heading only matches a whole line (## Inference is not ## Inference latency)', () => {
    const only = '# Benchmarks\n\n## Inference latency\n\nkeep me\n';
    assert.equal(replaceDocSection(only, '## Inference', 'rows'), `${only}\n## Inference\n\nrows\n`);
  });

  test('train-speed still writes its own section through the shared helper', () => {
    assert.equal(replaceSection(doc, 'fresh'), doc.replace('training rows\n', 'fresh\n'));
  });

  test('the machine line names cpu, cores, Node, onnxruntime versions, date and load', () => {
    const m: MachineInfo = { cpu: 'Cortex-A76', cores: 4, node: 'v20.1.0', platform: 'linux arm64 6.6', onnxruntimeNode: '1.30.0', onnxruntimeWeb: '1.30.0', date: '2026-01-02', loadAverage: 0.234 };
    assert.equal(describeMachine(m), 'Cortex-A76, 4 cores, Node v20.1.0, linux arm64 6.6, onnxruntime-node 1.30.0, onnxruntime-web 1.30.0, 2026-01-02, load average 0.2 at the end');
  });
});

function entry(file: string, over: Partial<ModelEntry> = {}): ModelEntry {
  return { file, sha256: file, quantized: /int8|default/.test(file), arch: null, exportedAt: null, card: null, ...over };
}

describe('model pairing', () => {
  test('X.int8.onnx pairs with X.onnx; unpaired files stand alone; sorted by name', () => {
    const pairs = pairModels([entry('models/lenet.onnx'), entry('models/edgenet.int8.onnx'), entry('models/edgenet.onnx'), entry('models/solo_int8.onnx')]);
    assert.deepEqual(pairs.map((p) => [p.name, p.fp32, p.int8]), [
      ['edgenet', 'models/edgenet.onnx', 'models/edgenet.int8.onnx'],
      ['lenet', 'models/lenet.onnx', null],
      ['solo', null, 'models/solo_int8.onnx'],
    ]);
  });

  test('default.onnx identical to edgenet.int8.onnx is one model, listed as an alias', () => {
    const pairs = pairModels([entry('models/default.onnx', { sha256: 'h1' }), entry('models/edgenet.int8.onnx', { sha256: 'h1' }), entry('models/edgenet.onnx')]);
    assert.equal(pairs.length, 1);
    assert.deepEqual(pairs[0], { name: 'edgenet', arch: null, fp32: 'models/edgenet.onnx', int8: 'models/edgenet.int8.onnx', aliases: ['models/default.onnx'] });
  });

  test('a quantized default.onnx pairs with the fp32 file it was quantized from (same arch and export time)', () => {
    const pairs = pairModels([
      entry('models/default.onnx', { arch: 'edgenet', exportedAt: 't1' }),
      entry('models/edgenet.onnx', { arch: 'edgenet', exportedAt: 't1' }),
      entry('models/edgenet-old.onnx', { arch: 'edgenet', exportedAt: 't0' }),
    ]);
    assert.deepEqual(pairs.map((p) => [p.name, p.fp32, p.int8]), [
      ['edgenet', 'models/edgenet.onnx', 'models/default.onnx'],
      ['edgenet-old', 'models/edgenet-old.onnx', null],
    ]);
  });

  test('a model card names the counterpart explicitly, over names and metadata', () => {
    const pairs = pairModels([
      entry('models/default.onnx', { arch: 'a', exportedAt: 't', card: { fp32: 'cnn.onnx' } }),
      entry('models/cnn.onnx'),
      entry('models/other.onnx', { arch: 'a', exportedAt: 't' }),
    ]);
    assert.deepEqual(pairs.map((p) => [p.name, p.int8]), [['cnn', 'models/default.onnx'], ['other', null]]);
  });

  test('targets: fp32 then int8 per pair, labelled with the architecture', () => {
    const targets = targetsOf([{ name: 'default', arch: 'edgenet', fp32: 'f.onnx', int8: 'q.onnx', aliases: [] }]);
    assert.deepEqual(targets, [
      { model: 'default (edgenet)', precision: 'fp32', file: 'f.onnx' },
      { model: 'default (edgenet)', precision: 'int8', file: 'q.onnx' },
    ]);
  });

  test('reads real files: metadata marks the int8 model, a card next to a file is honoured, other files ignored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-bench-'));
    try {
      const shared = { 'edgeloom.arch': JSON.stringify('tiny'), 'edgeloom.exported_at': JSON.stringify('2026-01-01T00:00:00.000Z') };
      await writeFile(join(dir, 'tiny.onnx'), buildTinyModel({ seed: 1, metadata: shared }));
      await writeFile(join(dir, 'default.onnx'), buildTinyModel({ seed: 2, metadata: { ...shared, 'edgeloom.quantization': JSON.stringify({ format: 'QDQ' }) } }));
      await writeFile(join(dir, 'b.onnx'), buildTinyModel({ seed: 3 }));
      await writeFile(join(dir, 'b.json'), JSON.stringify({ int8: 'c.onnx' }));
      await writeFile(join(dir, 'c.onnx'), buildTinyModel({ seed: 4 }));
      await writeFile(join(dir, 'notes.txt'), 'not a model');
      const pairs = await findModelPairs(dir);
      assert.deepEqual(pairs.map((p) => [p.name, p.arch, p.fp32 && p.fp32.slice(dir.length + 1), p.int8 && p.int8.slice(dir.length + 1)]), [
        ['b', 'tiny-test-mlp', 'b.onnx', 'c.onnx'],
        ['tiny', 'tiny', 'tiny.onnx', 'default.onnx'],
      ]);
      assert.deepEqual(await findModelPairs(join(dir, 'missing')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('inference table', () => {
  const row = (model: string, precision: 'fp32' | 'int8', runtime: InferenceRow['runtime'], threads: number): InferenceRow =>
    ({ model, precision, runtime, threads, file: 'x', p50Ms: 0.5, p95Ms: 1.25, imagesPerSecond: 12345.6 });

  test('rows sit by model, precision, threads, then runtime', () => {
    const rows = [row('b', 'fp32', 'onnxruntime-node', 1), row('a', 'int8', 'onnxruntime-web (wasm)', 1), row('a', 'int8', 'onnxruntime-node', 2), row('a', 'fp32', 'onnxruntime-web (wasm)', 2),
      row('a', 'int8', 'onnxruntime-node', 1)];
    assert.deepEqual(sortRows(rows).map((r) => `${r.model} ${r.precision} ${r.threads} ${r.runtime}`), [
      'a fp32 2 onnxruntime-web (wasm)',
      'a int8 1 onnxruntime-node',
      'a int8 1 onnxruntime-web (wasm)',
      'a int8 2 onnxruntime-node',
      'b fp32 1 onnxruntime-node',
    ]);
    const lines = inferenceTable([row('a', 'fp32', 'onnxruntime-node', 1)]).split('\n');
    assert.equal(lines[0], '| model | precision | runtime | threads | batch 1 p50 ms | batch 1 p95 ms | batch 32 images/s |');
    assert.equal(lines[2], '| a | fp32 | onnxruntime-node | 1 | 0.50 | 1.25 | 12,346 |');
  });

  test('the int8 speed-up pairs each int8 row with the fp32 row of the same model, runtime and threads', () => {
    const r = (model: string, precision: 'fp32' | 'int8', runtime: InferenceRow['runtime'], threads: number, p50Ms: number, imagesPerSecond: number): InferenceRow =>
      ({ ...row(model, precision, runtime, threads), p50Ms, imagesPerSecond });
    const table = speedupTable([
      r('a', 'fp32', 'onnxruntime-node', 1, 0.3, 1000), r('a', 'int8', 'onnxruntime-node', 1, 0.12, 2600),
      r('a', 'fp32', 'onnxruntime-node', 2, 0.2, 1500), r('a', 'int8', 'onnxruntime-node', 2, 0.1, 3000),
      r('a', 'int8', 'onnxruntime-web (wasm)', 1, 1, 10), // no fp32 partner: left out
    ]).split('\n');
    assert.equal(table.length, 4);
    assert.equal(table[2], '| a | onnxruntime-node | 1 | 2.50x | 2.60x |');
    assert.equal(table[3], '| a | onnxruntime-node | 2 | 2.00x | 2.00x |');
  });
});

describe('npm run bench', () => {
  test('--only selects benches in a fixed order and rejects unknown names', () => {
    assert.deepEqual(selectBenches(undefined), ['train', 'inference', 'agent', 'memory']);
    assert.deepEqual(selectBenches('agent,train'), ['train', 'agent']);
    assert.throws(() => selectBenches('inferance'), /unknown bench "inferance"/);
  });

  test('each bench gets --update-docs unless --no-docs, and --quick/--models/--model are passed on', () => {
    const [script, ...args] = benchCommand('inference', { quick: true, docs: true, models: 'a.onnx,b.onnx' });
    assert.match(script, /scripts\/bench\/inference\.ts$/);
    assert.deepEqual(args, ['--update-docs', '--quick', '--models', 'a.onnx,b.onnx']);
    assert.deepEqual(benchCommand('agent', { quick: false, docs: false, model: 'm.onnx' }).slice(1), ['--model', 'm.onnx']);
    const train = benchCommand('train', { quick: false, docs: true });
    assert.match(train[0], /train-speed\.ts$/);
    assert.deepEqual(train.slice(1), ['--update-docs', '--steps', '10', '--runs', '3']);
    assert.ok(benchCommand('train', { quick: true, docs: true }).includes('--steps'));
    assert.deepEqual(benchCommand('train', { quick: false, docs: false, pytorch: '/opt/py/bin/python' }).slice(-2), ['--pytorch', '/opt/py/bin/python']);
  });

  test('the PyTorch reference names --pytorch when that Python cannot run it', async () => {
    const { measurePytorch } = await import('../../scripts/bench/train-speed.ts');
    await assert.rejects(measurePytorch('/nonexistent/python', 8, 1, 1, 1), /^Error: --pytorch \/nonexistent\/python: /);
  });
});
