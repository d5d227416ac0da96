import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_TIMEOUT_MS, MUTATION_MODULES, reportDir, strykerOptions, tally } from '../../scripts/mutation.ts';

/** `npm run test:mutation` (scripts/mutation.ts): the modules issue 19 names, their files, the options Stryker gets. */

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The source folders and files issue 19 item 3 asks mutation scores for. */
const REQUIRED = ['src/drift', 'src/preprocess', 'src/onnx', 'device/queue', 'device/camera.ts', 'device/mqtt', 'device/features/commands.ts',
  'training/quantize', 'training/onnx'];

/** The .ts files a `dir/**\/*.ts` or plain-file pattern names (the only two forms the table uses). */
function filesOf(pattern: string): string[] {
  if (!pattern.includes('*')) return existsSync(path.join(ROOT, pattern)) ? [pattern] : [];
  assert.match(pattern, /^[\w/-]+\/\*\*\/\*\.ts$/, `unexpected glob form ${pattern}`);
  const dir = pattern.slice(0, -'/**/*.ts'.length);
  const abs = path.join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return (readdirSync(abs, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => `${dir}/${f}`);
}

test('every module issue 19 names is configured, and every glob and test file exists', () => {
  const globs = Object.values(MUTATION_MODULES).flatMap((m) => m.mutate);
  for (const want of REQUIRED) assert.ok(globs.some((g) => g === want || g.startsWith(`${want}/`)), `no mutation module mutates ${want}`);
  for (const [name, mod] of Object.entries(MUTATION_MODULES)) {
    for (const g of mod.mutate) assert.ok(filesOf(g).length > 0, `${name}: ${g} matches no file`);
    assert.ok(mod.tests.length > 0, `${name}: no test files`);
    for (const t of mod.tests) {
      assert.ok(existsSync(path.join(ROOT, t)), `${name}: test file ${t} does not exist`);
      assert.match(t, /^test\/.+\.test\.ts$/, `${name}: ${t} is not a test file npm test runs`);
    }
  }
});

test('Stryker gets the module files, the tap runner with per-file coverage, and the incremental file beside the report', () => {
  const mod = MUTATION_MODULES.drift;
  const opts = strykerOptions('drift', mod) as Record<string, any>;
  assert.deepEqual(opts.mutate, mod.mutate);
  assert.deepEqual(opts.tap.testFiles, mod.tests);
  assert.equal(opts.testRunner, 'tap');
  assert.equal(opts.coverageAnalysis, 'perTest');
  assert.equal(opts.incremental, true);
  assert.equal(opts.incrementalFile, path.join('reports/mutation/drift', 'incremental.json'));
  assert.equal(opts.timeoutMS, DEFAULT_TIMEOUT_MS);
  const full = strykerOptions('drift', mod, true, 'reports/x', 8000) as Record<string, any>;
  assert.equal(full.incremental, false);
  assert.equal(full.timeoutMS, 8000);
  assert.equal(full.htmlReporter.fileName, path.join('reports/x', 'index.html'));
});

test('a partial run reports into a folder named after its files', () => {
  assert.equal(reportDir('drift'), path.join('reports/mutation', 'drift'));
  assert.equal(reportDir('commands', { mutate: ['device/features/commands.ts:63-193', 'device/features/command-queue.ts'], tests: [] }),
    path.join('reports/mutation', 'commands', 'commands.ts_63-193+command-queue'));
});

test('the score counts timeouts as detected and leaves errors out', () => {
  const t = tally(['Killed', 'Killed', 'Timeout', 'Survived', 'NoCoverage', 'RuntimeError', 'CompileError']);
  assert.deepEqual({ killed: t.killed, timeout: t.timeout, survived: t.survived, noCoverage: t.noCoverage, other: t.other },
    { killed: 2, timeout: 1, survived: 1, noCoverage: 1, other: 2 });
  assert.equal(t.score, (100 * 3) / 5);
  assert.ok(Number.isNaN(tally(['RuntimeError']).score));
});

test('bad flags exit 2 with one line before Stryker starts', async () => {
  const script = path.join(ROOT, 'scripts/mutation.ts');
  for (const [args, message] of [
    [['--module', 'nope'], /unknown module nope; expected one of drift, /],
    [['--module', 'drift', '--timeout-ms', '10'], /--timeout-ms: expected a whole number of milliseconds >= 1000, got 10/],
    [['--module', 'drift,camera', '--mutate', 'src/drift/math.ts'], /give exactly one --module/],
  ] as const) {
    const err = await run(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT }).then(
      () => assert.fail(`${args.join(' ')} succeeded`),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 2, args.join(' '));
    assert.match(err.stderr, message);
    assert.equal(err.stderr.trim().split('\n').length, 1, err.stderr);
  }
});
