/**
 * `npm run test:mutation`: StrykerJS over the core modules, one module at a time, each against the
 * few test files that cover it (a mutant then costs seconds, not the whole suite). Not run in CI.
 *   npm run test:mutation                      every module below, one after another
 *   npm run test:mutation -- --module drift    one module (repeat or comma-separate for more)
 *   npm run test:mutation -- --list            the modules with their source globs and test files
 *   npm run test:mutation -- --module drift --full   ignore the incremental file (re-test every mutant)
 *   npm run test:mutation -- --module camera --timeout-ms 8000   a shorter allowance on an idle machine
 *   npm run test:mutation -- --module drift --mutate src/drift/monitor.ts [--tests test/drift/monitor.test.ts]
 *       part of a module (its own report and incremental file under reports/mutation/<module>/<part>/)
 * Incremental: each module keeps its results in reports/mutation/<module>/incremental.json and only
 * re-tests mutants whose code or covering tests changed. The HTML report is
 * reports/mutation/<module>/index.html. Results and how to read them: docs/testing.md.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Stryker } from '@stryker-mutator/core';
import { isMain } from './bench/common.ts';

type StrykerOptions = NonNullable<ConstructorParameters<typeof Stryker>[0]>;

export interface MutationModule {
  /** Globs of the source files to mutate. */
  mutate: string[];
  /**
   * The test files that cover the module, cheapest first: Stryker runs only the files that reach a
   * mutant (per-file coverage), in this order, and stops at the first failure.
   */
  tests: string[];
}

export const MUTATION_MODULES: Record<string, MutationModule> = {
  drift: {
    mutate: ['src/drift/**/*.ts'],
    // The unit files pin the monitor and the profile format on a hand-made profile in milliseconds;
    // monitor.test.ts and projection.test.ts build real profiles (5 s and 3 s a run) and stay in `npm test`.
    // The *-edges files were written for the first run's survivors (docs/testing.md).
    tests: ['test/drift/config-edges.test.ts', 'test/drift/projection-edges.test.ts', 'test/drift/math-edges.test.ts', 'test/drift/monitor-edges.test.ts',
      'test/drift/projection-units.test.ts', 'test/drift/profile-units.test.ts', 'test/drift/monitor-units.test.ts', 'test/drift/math-more.test.ts', 'test/drift/math.test.ts'],
  },
  preprocess: {
    mutate: ['src/preprocess/**/*.ts', 'src/preprocess.ts'],
    // Hand-made frames; decode-units.test.ts makes its small images with sharp. preprocess.test.ts
    // (the data set through synthetic camera frames) stays in `npm test`. The *-edges files were
    // written for the convert + preprocess run's survivors (docs/testing.md).
    tests: ['test/preprocess/units.test.ts', 'test/preprocess/background.test.ts', 'test/preprocess/steps-more.test.ts', 'test/preprocess/convert-edges.test.ts',
      'test/preprocess/convert-units.test.ts', 'test/preprocess/decode-edges.test.ts', 'test/preprocess/decode-units.test.ts'],
  },
  quantize: {
    mutate: ['training/quantize/**/*.ts'],
    // The in-process tests on a tiny hand-written model (test/quantize/tiny.ts): quantize.test.ts
    // trains a CNN first and run.ts is otherwise reached only through CLI child processes.
    tests: ['test/quantize/ranges.test.ts', 'test/quantize/math.test.ts', 'test/quantize/qdq.test.ts', 'test/quantize/qdq-layout.test.ts', 'test/quantize/calibrate.test.ts',
      'test/quantize/quantize-tiny.test.ts', 'test/quantize/quantize-ranges.test.ts', 'test/quantize/run-edges.test.ts',
      'test/quantize/run.test.ts'],
  },
  onnx: {
    mutate: ['src/onnx/**/*.ts'],
    // A hand-built model (no tfjs); session-edges.test.ts and session-no-web.test.ts (written for the first
    // run's survivors) and session-wasm.test.ts (hides onnxruntime-node) load onnxruntime-web (2 s), so they come last.
    tests: ['test/onnx/proto-units.test.ts', 'test/onnx/contract-units.test.ts', 'test/onnx/contract-more.test.ts', 'test/onnx/session-units.test.ts',
      'test/onnx/session-no-web.test.ts', 'test/onnx/session-edges.test.ts', 'test/onnx/session-wasm.test.ts'],
  },
  queue: {
    mutate: ['device/queue/**/*.ts'],
    tests: ['test/device/queue-edges.test.ts', 'test/device/queue-units.test.ts', 'test/device/queue.test.ts'],
  },
  camera: {
    mutate: ['device/camera.ts', 'device/rate-limited-warnings.ts'],
    // camera-backoff and camera-reopen wait out real retry sleeps (1.5 s each), so they come after
    // the in-process edge cases; camera-units is the broadest and the slowest.
    tests: ['test/device/camera-edges.test.ts', 'test/device/camera-backoff.test.ts', 'test/device/camera-reopen.test.ts', 'test/device/camera-units.test.ts'],
  },
  mqtt: {
    mutate: ['device/mqtt/**/*.ts'],
    tests: ['test/device/publish-outcome-edges.test.ts', 'test/device/mqtt-subscribe.test.ts', 'test/device/mqtt-backoff.test.ts', 'test/device/publisher-edges.test.ts',
      'test/device/mqtt-client-edges.test.ts', 'test/device/publisher-refused.test.ts', 'test/device/mqtt-units.test.ts'],
  },
  commands: {
    // The feature and its rate limiter and queue (command-queue.ts: COMMAND_DEFAULTS, TokenBucket, SerialQueue).
    mutate: ['device/features/commands.ts', 'device/features/command-queue.ts'],
    tests: ['test/device/command-body.test.ts', 'test/device/command-limits.test.ts', 'test/device/command-units.test.ts', 'test/device/commands-edges.test.ts', 'test/device/commands-units.test.ts'],
  },
  'training-onnx': {
    mutate: ['training/onnx/**/*.ts'],
    // In-process files only: adopt.test.ts runs the CLI in child processes (minutes, and no coverage).
    tests: [
      'test/onnx/graph-edges.test.ts', 'test/onnx/export-edges.test.ts', 'test/onnx/export-command-edges.test.ts', 'test/onnx/adopt-edges.test.ts',
      'test/onnx/graph.test.ts', 'test/onnx/adopt-units.test.ts', 'test/onnx/export.test.ts', 'test/onnx/convert-units.test.ts', 'test/onnx/read-back.test.ts',
      'test/onnx/convert-edges.test.ts', 'test/onnx/read-back-edges.test.ts',
    ],
  },
};

const REPORTS = 'reports/mutation';

/**
 * A mutant times out after (its tests' dry-run time) x 1.5 + this. Stryker's 5 s default let the
 * shared machine's load (its load average went from 10 to 26 during one run) turn ordinary runs
 * into "timeouts": 41 of the first 162 training-onnx mutants. 30 s keeps real infinite loops bounded
 * and load from counting as a kill; on an idle machine `--timeout-ms 8000` ends a mutant that stalls
 * a loop (camera.ts, the mqtt client) sooner.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The Stryker options of one module (pure, so the wiring is testable). */
export function strykerOptions(name: string, mod: MutationModule, full = false, dir = reportDir(name), timeoutMS = DEFAULT_TIMEOUT_MS): StrykerOptions {
  return {
    mutate: mod.mutate,
    testRunner: 'tap',
    tap: {
      testFiles: mod.tests,
      // node:test prints TAP with this reporter; the hook file records which mutants a file reaches.
      nodeArgs: ['--test-reporter=tap', '--import', 'tsx', '-r', '{{hookFile}}', '{{testFile}}'],
      forceBail: true,
    },
    coverageAnalysis: 'perTest',
    // Two cores shared with everything else on a board or CI runner.
    concurrency: 1,
    timeoutMS,
    incremental: !full,
    incrementalFile: path.join(dir, 'incremental.json'),
    reporters: ['html', 'json', 'clear-text', 'progress'],
    htmlReporter: { fileName: path.join(dir, 'index.html') },
    jsonReporter: { fileName: path.join(dir, 'mutation.json') },
    // Leave build and run output out of the sandbox copy.
    ignorePatterns: ['/reports', '/runs', '/.cache', '/tmp', '/test-artifacts', '/dist', '/dist.tmp-*', '/.build-*'],
    tempDirName: '.stryker-tmp',
    // Stryker rewrites the tsconfig's `extends`/`references` paths with the TypeScript API, which
    // TypeScript 7's native compiler no longer has; ours has neither, so point it at no file.
    tsconfigFile: 'no-tsconfig-rewrite.json',
    cleanTempDir: true,
  } as StrykerOptions;
}

/** reports/mutation/<module>, or a sub-folder named after the files of a partial run. */
export function reportDir(name: string, part?: MutationModule): string {
  if (!part) return path.join(REPORTS, name);
  const slug = part.mutate.map((m) => path.basename(m).replace(/\.ts$/, '').replace(/[^\w.-]+/g, '_')).join('+');
  return path.join(REPORTS, name, slug);
}

interface Tally {
  killed: number;
  survived: number;
  timeout: number;
  noCoverage: number;
  other: number;
}

/** Stryker's mutation score: detected (killed + timeout) over valid mutants (+ survived, no coverage). */
export function tally(statuses: readonly string[]): Tally & { score: number } {
  const t: Tally = { killed: 0, survived: 0, timeout: 0, noCoverage: 0, other: 0 };
  for (const s of statuses) {
    if (s === 'Killed') t.killed++;
    else if (s === 'Survived') t.survived++;
    else if (s === 'Timeout') t.timeout++;
    else if (s === 'NoCoverage') t.noCoverage++;
    else t.other++;
  }
  const valid = t.killed + t.timeout + t.survived + t.noCoverage;
  return { ...t, score: valid === 0 ? Number.NaN : (100 * (t.killed + t.timeout)) / valid };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      module: { type: 'string', multiple: true },
      mutate: { type: 'string', multiple: true },
      tests: { type: 'string', multiple: true },
      list: { type: 'boolean' },
      full: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
    },
  });
  if (values.list) {
    for (const [name, mod] of Object.entries(MUTATION_MODULES)) console.log(`${name}: ${mod.mutate.join(' ')}  <-  ${mod.tests.join(' ')}`);
    return;
  }
  const names = (values.module ?? Object.keys(MUTATION_MODULES)).flatMap((m) => m.split(',')).filter(Boolean);
  const unknown = names.filter((n) => !(n in MUTATION_MODULES));
  if (unknown.length > 0) {
    console.error(`test:mutation: unknown module ${unknown.join(', ')}; expected one of ${Object.keys(MUTATION_MODULES).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  if ((values.mutate || values.tests) && names.length !== 1) {
    console.error('test:mutation: --mutate and --tests narrow one module: give exactly one --module');
    process.exitCode = 2;
    return;
  }
  const timeoutMS = values['timeout-ms'] === undefined ? DEFAULT_TIMEOUT_MS : Number(values['timeout-ms']);
  if (!Number.isInteger(timeoutMS) || timeoutMS < 1000) {
    console.error(`test:mutation: --timeout-ms: expected a whole number of milliseconds >= 1000, got ${values['timeout-ms']}`);
    process.exitCode = 2;
    return;
  }
  // Loaded only now: Stryker takes seconds to import, and a bad flag should not wait for it.
  const { Stryker: StrykerRunner } = await import('@stryker-mutator/core');
  const rows: string[] = [];
  for (const name of names) {
    const whole = MUTATION_MODULES[name];
    const part = values.mutate || values.tests ? { mutate: values.mutate ?? whole.mutate, tests: values.tests ?? whole.tests } : undefined;
    const dir = reportDir(name, part);
    const results = await new StrykerRunner(strykerOptions(name, part ?? whole, values.full, dir, timeoutMS)).runMutationTest();
    const t = tally(results.map((r) => r.status));
    const counts = `killed ${t.killed}, survived ${t.survived}, timeout ${t.timeout}, no coverage ${t.noCoverage}`;
    rows.push(`${path.relative(REPORTS, dir)}: ${counts}, score ${t.score.toFixed(2)}% (report ${path.join(dir, 'index.html')})`);
  }
  console.log(`\nmutation scores\n${rows.join('\n')}`);
}

if (isMain(import.meta.url)) await main();
