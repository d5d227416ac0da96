/**
 * Inference speed of the shipped models: fp32 vs int8, batch-1 latency (p50/p95) and batch-32
 * throughput, 1 thread and all threads, onnxruntime-node and onnxruntime-web (wasm) side by side.
 *   node --import tsx scripts/bench/inference.ts [--quick] [--models a.onnx,b.onnx] [--dir models]
 *        [--iterations 500] [--batch-iterations 40] [--update-docs] [--json]
 * onnxruntime-web fixes its wasm thread count when it first initialises, so each web thread count
 * runs in a child process of this script (`--web-child`), in the same run.
 */
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRng } from '../../src/random.ts';
import { describeMachine, formatMs, formatRate, isMain, machineInfo, markdownTable, parseList, positiveInt, REPO_ROOT, summarize, updateBenchDoc } from './common.ts';
import { findModelPairs, type ModelPair } from './models.ts';

export const SECTION = '## Inference';
export const THROUGHPUT_BATCH = 32;

export interface Plan {
  iterations: number; // timed batch-1 runs
  batchIterations: number; // timed batch-32 runs
  warmup: number;
}

export interface Target {
  model: string; // pair name
  precision: 'fp32' | 'int8';
  file: string;
}

export interface InferenceRow extends Target {
  runtime: 'onnxruntime-node' | 'onnxruntime-web (wasm)';
  threads: number;
  p50Ms: number;
  p95Ms: number;
  imagesPerSecond: number;
}

type RunFn = (input: Float32Array, batch: number) => Promise<unknown>;

/** Times one session: `warmup` untimed runs, then batch-1 latencies and batch-32 throughput. */
export async function measureSession(run: RunFn, plan: Plan, seed = 1): Promise<{ p50Ms: number; p95Ms: number; imagesPerSecond: number }> {
  const rng = createRng(seed);
  const one = Float32Array.from({ length: IMAGE_PIXELS }, () => rng());
  const many = Float32Array.from({ length: THROUGHPUT_BATCH * IMAGE_PIXELS }, () => rng());
  for (let i = 0; i < plan.warmup; i++) await run(one, 1);
  for (let i = 0; i < Math.max(1, Math.ceil(plan.warmup / 10)); i++) await run(many, THROUGHPUT_BATCH);
  const latencies: number[] = [];
  for (let i = 0; i < plan.iterations; i++) {
    const t0 = performance.now();
    await run(one, 1);
    latencies.push(performance.now() - t0);
  }
  const t0 = performance.now();
  for (let i = 0; i < plan.batchIterations; i++) await run(many, THROUGHPUT_BATCH);
  const seconds = (performance.now() - t0) / 1000;
  const s = summarize(latencies);
  return { p50Ms: s.p50, p95Ms: s.p95, imagesPerSecond: (THROUGHPUT_BATCH * plan.batchIterations) / seconds };
}

export function targetsOf(pairs: readonly ModelPair[]): Target[] {
  const out: Target[] = [];
  for (const p of pairs) {
    const model = p.arch && p.arch !== p.name ? `${p.name} (${p.arch})` : p.name;
    if (p.fp32) out.push({ model, precision: 'fp32', file: p.fp32 });
    if (p.int8) out.push({ model, precision: 'int8', file: p.int8 });
  }
  return out;
}

async function measureNode(targets: readonly Target[], threads: number, plan: Plan): Promise<InferenceRow[]> {
  const { createOnnxSession } = await import('../../src/onnx/session.ts');
  const rows: InferenceRow[] = [];
  for (const t of targets) {
    const session = await createOnnxSession(t.file, { ep: 'cpu', intraOpThreads: threads });
    try {
      const r = await measureSession((input, batch) => session.run(input, batch), plan);
      rows.push({ ...t, runtime: 'onnxruntime-node', threads, ...r });
      logRow(rows[rows.length - 1]);
    } finally {
      await session.close();
    }
  }
  return rows;
}

/** Runs in the child: onnxruntime-web's wasm back end (`--ep wasm`), started once with `threads` threads. */
async function measureWeb(targets: readonly Target[], threads: number, plan: Plan): Promise<InferenceRow[]> {
  const { createOnnxSession } = await import('../../src/onnx/session.ts');
  const rows: InferenceRow[] = [];
  for (const t of targets) {
    const session = await createOnnxSession(t.file, { ep: 'wasm', intraOpThreads: threads });
    try {
      const r = await measureSession((input, batch) => session.run(input, batch), plan);
      rows.push({ ...t, runtime: 'onnxruntime-web (wasm)', threads, ...r });
      logRow(rows[rows.length - 1]);
    } finally {
      await session.close();
    }
  }
  return rows;
}

function logRow(r: InferenceRow): void {
  process.stderr.write(`${r.model} ${r.precision} ${r.runtime} ${r.threads}t: p50 ${formatMs(r.p50Ms)} ms, p95 ${formatMs(r.p95Ms)} ms, ${formatRate(r.imagesPerSecond)} images/s\n`);
}

/** Runs this script as `--web-child` and returns the rows it prints as JSON. */
function runWebChild(targets: readonly Target[], threads: number, plan: Plan): Promise<InferenceRow[]> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--web-child', '--threads', String(threads), '--targets', JSON.stringify(targets), '--plan', JSON.stringify(plan)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`onnxruntime-web child (${threads} threads) exited with ${code}`));
      else resolve(JSON.parse(out) as InferenceRow[]);
    });
  });
}

const PRECISION_ORDER = { fp32: 0, int8: 1 };

/** Rows grouped by model, then precision, threads and runtime (node before web), so pairs sit together. */
export function sortRows(rows: readonly InferenceRow[]): InferenceRow[] {
  return [...rows].sort((a, b) => a.model.localeCompare(b.model) || PRECISION_ORDER[a.precision] - PRECISION_ORDER[b.precision] || a.threads - b.threads || a.runtime.localeCompare(b.runtime));
}

export function inferenceTable(rows: readonly InferenceRow[]): string {
  return markdownTable(
    [
      { header: 'model' }, { header: 'precision' }, { header: 'runtime' }, { header: 'threads', align: 'right' },
      { header: 'batch 1 p50 ms', align: 'right' }, { header: 'batch 1 p95 ms', align: 'right' }, { header: `batch ${THROUGHPUT_BATCH} images/s`, align: 'right' },
    ],
    sortRows(rows).map((r) => [r.model, r.precision, r.runtime, String(r.threads), formatMs(r.p50Ms), formatMs(r.p95Ms), formatRate(r.imagesPerSecond)]),
  );
}

/**
 * int8 over fp32 of the same model, runtime and threads, measured in the same run (issue #14's
 * target: >= 2x at batch 1 on one thread): a ratio survives a machine that is not idle better than
 * either latency does.
 */
export function speedupTable(rows: readonly InferenceRow[]): string {
  const key = (r: InferenceRow) => `${r.model}\u0000${r.runtime}\u0000${r.threads}`;
  const fp32 = new Map(rows.filter((r) => r.precision === 'fp32').map((r) => [key(r), r]));
  const pairs = sortRows(rows.filter((r) => r.precision === 'int8' && fp32.has(key(r)))).map((int8) => ({ int8, fp32: fp32.get(key(int8))! }));
  return markdownTable(
    [{ header: 'model' }, { header: 'runtime' }, { header: 'threads', align: 'right' }, { header: 'batch 1 p50: fp32 / int8', align: 'right' }, { header: `batch ${THROUGHPUT_BATCH} images/s: int8 ` +
      `/ fp32`, align: 'right' }],
    pairs.map(({ int8, fp32: f }) => [int8.model, int8.runtime, String(int8.threads), `${(f.p50Ms / int8.p50Ms).toFixed(2)}x`, `${(int8.imagesPerSecond / f.imagesPerSecond).toFixed(2)}x`]),
  );
}

async function modelList(pairs: readonly ModelPair[]): Promise<string[]> {
  const lines: string[] = [];
  for (const p of pairs) {
    const parts: string[] = [];
    for (const [label, file] of [['fp32', p.fp32], ['int8', p.int8]] as const) {
      if (file) parts.push(`${label} \`${path.relative(REPO_ROOT, path.resolve(file))}\` (${((await stat(file)).size / 1024).toFixed(1)} KiB)`);
    }
    const alias = p.aliases.length ? `; same file as ${p.aliases.map((a) => `\`${path.relative(REPO_ROOT, path.resolve(a))}\``).join(', ')}` : '';
    lines.push(`- ${p.name}: ${parts.join(', ')}${alias}`);
  }
  return lines;
}

export const FULL_PLAN: Plan = { iterations: 500, batchIterations: 40, warmup: 50 };
export const QUICK_PLAN: Plan = { iterations: 50, batchIterations: 5, warmup: 10 };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      models: { type: 'string' },
      dir: { type: 'string', default: path.join(REPO_ROOT, 'models') },
      iterations: { type: 'string' },
      'batch-iterations': { type: 'string' },
      'update-docs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'web-child': { type: 'boolean', default: false },
      threads: { type: 'string' },
      targets: { type: 'string' },
      plan: { type: 'string' },
    },
  });
  if (values['web-child']) {
    const rows = await measureWeb(JSON.parse(values.targets!) as Target[], Number(values.threads), JSON.parse(values.plan!) as Plan);
    process.stdout.write(JSON.stringify(rows));
    return;
  }
  const base = values.quick ? QUICK_PLAN : FULL_PLAN;
  const plan: Plan = {
    ...base,
    iterations: positiveInt('--iterations', values.iterations, base.iterations),
    batchIterations: positiveInt('--batch-iterations', values['batch-iterations'], base.batchIterations),
  };
  const pairs = await findModelPairs(values.dir, parseList(values.models));
  if (pairs.length === 0) {
    process.stderr.write(`inference bench: no models in ${path.relative(process.cwd(), values.dir) || values.dir} (train, export and quantize one, or pass --models a.onnx,b.onnx); skipped\n`);
    return;
  }
  const targets = targetsOf(pairs);
  const all = os.availableParallelism();
  const threadCounts = all > 1 ? [1, all] : [1];
  const rows: InferenceRow[] = [];
  for (const threads of threadCounts) {
    rows.push(...await measureNode(targets, threads, plan));
    rows.push(...await runWebChild(targets, threads, plan));
  }
  const body = [
    `Measured by \`npm run bench -- --only inference\` (\`scripts/bench/inference.ts\`): per model file, ${plan.warmup} warm-up runs, then ${plan.iterations} timed runs at batch 1 (latency ` +
      `percentiles) and ${plan.batchIterations} at batch ${THROUGHPUT_BATCH} (throughput), on seeded random 1x28x28 inputs. onnxruntime-node uses the cpu execution provider with ` +
        `\`intraOpNumThreads\`; onnxruntime-web runs its wasm (SIMD) back end in Node as the agent's \`--ep wasm\` does (\`createOnnxSession\`, \`env.wasm.numThreads\`; one child process per ` +
          `thread count, since the wasm runtime fixes it at start-up). Threads: 1 and all ${all} cores.`,
    '',
    `Machine: ${describeMachine(machineInfo())}.`,
    '',
    'Models:',
    ...await modelList(pairs),
    '',
    inferenceTable(rows),
    '',
    'int8 speed-up over the fp32 parent, from the rows above:',
    '',
    speedupTable(rows),
  ].join('\n');
  if (values.json) process.stdout.write(`${JSON.stringify({ plan, pairs, rows }, null, 2)}\n`);
  else process.stdout.write(`${body}\n`);
  if (values['update-docs']) await updateBenchDoc(SECTION, body);
}

if (isMain(import.meta.url)) {
  await main();
}
