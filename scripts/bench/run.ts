/**
 * `npm run bench`: runs the benchmarks one after another, each in its own process, and writes
 * their sections of docs/benchmarks.md (other sections are kept).
 *   npm run bench -- [--quick] [--only train,inference,agent,memory] [--models a.onnx,b.onnx]
 *                    [--model models/default.onnx] [--pytorch PYTHON] [--no-docs]
 * --pytorch PYTHON: a Python with torch; the training table then gets PyTorch's CPU rate for
 * customnet on the same machine (scripts/bench/pytorch_customnet.py), the reference of #3's target.
 * Run it on an otherwise idle machine: every number is wall-clock time.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMain, parseList, REPO_ROOT } from './common.ts';

export const BENCHES = ['train', 'inference', 'agent', 'memory'] as const;
export type BenchName = (typeof BENCHES)[number];

export interface RunOptions {
  quick: boolean;
  docs: boolean;
  models?: string;
  model?: string;
  pytorch?: string;
}

/** The script and arguments of each bench (pure, so the wiring is testable). */
export function benchCommand(name: BenchName, opts: RunOptions): string[] {
  const docs = opts.docs ? ['--update-docs'] : [];
  const script = (file: string) => path.join(REPO_ROOT, 'scripts', 'bench', file);
  switch (name) {
    case 'train':
      // Full: 10 timed steps, fastest of 3 rounds (as the published table). Quick: one model, the
      // wasm back end only, a few steps; still a real measurement.
      return [script('train-speed.ts'), ...docs,
        ...(opts.quick ? ['--steps', '3', '--warmup', '1', '--backends', 'wasm', '--models', 'customnet', '--no-parallel'] : ['--steps', '10', '--runs', '3']),
          ...(opts.pytorch ? ['--pytorch', opts.pytorch] : [])];
    case 'inference':
      return [script('inference.ts'), ...docs, ...(opts.quick ? ['--quick'] : []), ...(opts.models ? ['--models', opts.models] : [])];
    case 'agent':
      return [script('agent.ts'), ...docs, ...(opts.quick ? ['--quick'] : []), ...(opts.model ? ['--model', opts.model] : [])];
    case 'memory':
      return [script('memory.ts'), ...docs, ...(opts.quick ? ['--quick'] : [])];
  }
}

/** `--only a,b` checked against the known benches; all of them when absent. */
export function selectBenches(only: string | undefined): BenchName[] {
  const names = parseList(only);
  if (names.length === 0) return [...BENCHES];
  for (const n of names) {
    if (!(BENCHES as readonly string[]).includes(n)) throw new Error(`--only: unknown bench "${n}" (expected ${BENCHES.join(', ')})`);
  }
  return BENCHES.filter((b) => names.includes(b));
}

function run(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      models: { type: 'string' },
      model: { type: 'string' },
      pytorch: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
    },
  });
  const opts: RunOptions = { quick: values.quick, docs: !values['no-docs'], models: values.models, model: values.model, pytorch: values.pytorch };
  const failed: string[] = [];
  for (const name of selectBenches(values.only)) {
    process.stderr.write(`\n== bench: ${name}${opts.quick ? ' (quick)' : ''} ==\n`);
    const code = await run(benchCommand(name, opts));
    if (code !== 0) failed.push(`${name} (exit ${code})`);
  }
  if (failed.length > 0) {
    process.stderr.write(`bench failed: ${failed.join(', ')}\n`);
    process.exitCode = 1;
  }
}

if (isMain(import.meta.url)) {
  await main();
}
