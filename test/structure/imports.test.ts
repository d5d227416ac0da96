import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { checkLayering, findCycles, parseImports, readImportGraph, type ImportEdge } from './import-graph.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `import()` with a computed target, each with why the rules may ignore it. */
const COMPUTED_IMPORTS: Record<string, string> = {
  // The tfjs back end's package name from a fixed table (tfjs-node, tfjs-backend-wasm): packages, not our files.
  'training/backend/index.ts': 'back-end package from BACKEND_PACKAGES',
};

describe('import layering of src/, device/, training/ and cli/', () => {
  const graph = readImportGraph(ROOT);

  test('reads the imports of every layer', () => {
    const from = new Set(graph.edges.map((e) => e.from.split('/')[0]));
    assert.deepEqual([...from].sort(), ['cli', 'device', 'src', 'training']);
    // The lazy command imports of the CLI are among them.
    assert.ok(graph.edges.some((e) => e.from === 'cli/train.ts' && e.to === 'training/trainer/train.ts' && e.kind === 'dynamic'));
  });

  test('every import() names its module literally (or is a listed exception)', () => {
    const unknown = graph.computed.filter((c) => !(c.from in COMPUTED_IMPORTS)).map((c) => `${c.from}:${c.line} import(${c.text})`);
    assert.deepEqual(unknown, []);
  });

  test('the rules hold', () => {
    assert.deepEqual(checkLayering(graph.edges), []);
  });

  test('the agent config and the CLI read the provider list without loading src/onnx/session.ts', () => {
    assert.ok(staticClosure(graph.edges, 'device/config.ts').has('src/onnx/providers.ts'));
    for (const start of ['device/config.ts', 'cli/index.ts']) assert.ok(!staticClosure(graph.edges, start).has('src/onnx/session.ts'), start);
  });
});

/** The files `start` loads when it is imported: static imports and re-exports, followed; type-only and import() are not. */
function staticClosure(edges: ImportEdge[], start: string): Set<string> {
  const seen = new Set([start]);
  const queue = [start];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    for (const e of edges) {
      if (e.from === f && (e.kind === 'import' || e.kind === 'export') && !seen.has(e.to)) {
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  }
  return seen;
}

describe('the rule checker', () => {
  const edge = (from: string, to: string, kind: ImportEdge['kind'] = 'import'): ImportEdge => ({ from, to, kind, line: 1 });

  test('parses static, type-only, re-export and dynamic imports, not strings or comments', () => {
    const src = [
      "import { a } from './a.ts';",
      "import type { B } from '../b/b.ts';",
      "export { c } from './c.ts';",
      "import 'node:fs';",
      "const d = await import('./d.ts');",
      "const t: typeof import('./t.ts').T = 1;",
      "const s = \"import('./not-a.ts').x\"; // import('./not-b.ts').y",
      'const e = await import(name);',
    ].join('\n');
    const parsed = parseImports('training/x/file.ts', src);
    assert.deepEqual(parsed.edges.map((e) => [e.to, e.kind, e.line]), [
      ['training/x/a.ts', 'import', 1],
      ['training/b/b.ts', 'type', 2],
      ['training/x/c.ts', 'export', 3],
      ['training/x/d.ts', 'dynamic', 5],
      ['training/x/t.ts', 'type', 6],
    ]);
    assert.deepEqual(parsed.computed.map((c) => c.text), ['name']);
  });

  test('catches a planted cycle between training/ packages, and names the files', () => {
    const edges = [
      edge('training/eval/held-out.ts', 'training/data/splits.ts'),
      edge('training/trainer/loop.ts', 'training/eval/metrics.ts'),
      edge('training/eval/metrics.ts', 'training/trainer/types.ts', 'type'),
    ];
    const problems = checkLayering(edges);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /training\/ packages import each other: eval <-> trainer/);
    assert.match(problems[0], /training\/eval\/metrics\.ts:1 -> training\/trainer\/types\.ts \(type\)/);
  });

  test('catches a cycle through three packages', () => {
    const problems = checkLayering([
      edge('training/onnx/export.ts', 'training/drift/profile-model.ts', 'dynamic'),
      edge('training/drift/profile-model.ts', 'training/eval/held-out.ts'),
      edge('training/eval/evaluate.ts', 'training/onnx/adopt.ts'),
    ]);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /drift <-> eval <-> onnx/);
  });

  test('catches a cycle between two files of one package (loop <-> parallel-step)', () => {
    const problems = checkLayering([
      edge('training/trainer/loop.ts', 'training/trainer/parallel-step.ts'),
      edge('training/trainer/parallel-step.ts', 'training/trainer/loop.ts'),
    ]);
    assert.deepEqual(problems.map((p) => p.split(' (')[0]), ['import cycle between files: training/trainer/loop.ts <-> training/trainer/parallel-step.ts']);
  });

  test('type-only imports between files of one layer make no file cycle (a context object and its features)', () => {
    assert.deepEqual(checkLayering([
      edge('device/context.ts', 'device/camera.ts', 'type'),
      edge('device/camera.ts', 'device/context.ts', 'type'),
    ]), []);
  });

  test('catches imports against the layers, type-only ones included', () => {
    const problems = checkLayering([
      edge('src/onnx/session.ts', 'training/data/load.ts', 'dynamic'),
      edge('src/log.ts', 'cli/output.ts', 'type'),
      edge('device/run.ts', 'training/eval/metrics.ts', 'type'),
      edge('device/run.ts', 'cli/output.ts'),
      edge('training/eval/held-out.ts', 'training/trainer/train.ts', 'dynamic'),
      edge('cli/train.ts', 'training/trainer/train.ts', 'dynamic'),
      edge('cli/device.ts', 'device/run.ts', 'dynamic'),
      edge('training/data/load.ts', 'src/log.ts'),
    ]);
    assert.deepEqual(problems, [
      'src/onnx/session.ts:1 -> training/data/load.ts (dynamic): src/ must not import training/',
      'src/log.ts:1 -> cli/output.ts (type): src/ must not import cli/',
      'device/run.ts:1 -> training/eval/metrics.ts (type): device/ must not import training/',
      'device/run.ts:1 -> cli/output.ts: device/ must not import cli/',
      'training/eval/held-out.ts:1 -> training/trainer/train.ts (dynamic): only the CLI starts a training run (training/trainer/train.ts)',
    ]);
  });

  test('findCycles: one component per cycle, none for a chain', () => {
    const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])], ['e', new Set(['e'])]]);
    assert.deepEqual(findCycles(g), [['a', 'b', 'c'], ['e']]);
    assert.deepEqual(findCycles(new Map([['a', new Set(['b'])], ['b', new Set(['c'])]])), []);
  });
});
