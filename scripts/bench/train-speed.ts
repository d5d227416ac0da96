/**
 * Training throughput (samples/s) of the reference models on every back end this machine has.
 *   node --import tsx scripts/bench/train-speed.ts [--steps 20] [--batch 64] [--backends wasm,ort,cpu]
 *        [--models customnet,edgenet] [--runs 1] [--no-parallel] [--pytorch PYTHON] [--update-docs]
 *        [--ort-threads 1] [--pytorch-threads 0]
 * --pytorch PYTHON adds PyTorch's CPU rate for customnet (pytorch_customnet.py, same method), one
 * row per --pytorch-threads value (0: torch's default, every core).
 * `ort` is the onnxruntime training step (training/ort), one row per
 * --ort-threads value, for the models it supports (others are skipped with a line on stderr).
 * --update-docs writes the table into the "Training throughput" section of docs/benchmarks.md.
 */
import { firstLine } from '../../src/errors.ts';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import os from 'node:os';
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { describeMachine, isMain, machineInfo, replaceDocSection, updateBenchDoc } from './common.ts';
import { backendDescription, selectBackend, tf, type BackendName } from '../../training/backend/index.ts';
import { getArchitecture } from '../../training/arch/index.ts';
import { DataParallelGradients } from '../../training/backend/parallel/index.ts';
import { OrtTrainingStep } from '../../training/ort/step.ts';
import { UserError } from '../../src/errors.ts';

/** The project's own architectures (training/arch), built as `edgeloom train --arch` builds them. */
const DEFAULT_MODELS = ['customnet', 'edgenet'];

interface Row {
  model: string;
  params: number;
  backend: string;
  batch: number;
  steps: number;
  samplesPerSecond: number;
}

const SECTION = '## Training throughput';
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    backends: { type: 'string', default: 'node,wasm,ort,cpu' },
    'ort-threads': { type: 'string', default: '1' },
    'pytorch-threads': { type: 'string', default: '0' },
    models: { type: 'string', default: DEFAULT_MODELS.join(',') },
    runs: { type: 'string', default: '1' },
    parallel: { type: 'boolean', default: true },
    // Node 20's parseArgs has no --no-* negation: the documented --no-parallel is its own flag.
    'no-parallel': { type: 'boolean', default: false },
    'update-docs': { type: 'boolean', default: false },
    pytorch: { type: 'string' },
  },
});

/** PyTorch's rate for customnet on this machine, measured by pytorch_customnet.py with `python`. */
export async function measurePytorch(python: string, batch: number, warmup: number, steps: number, runs: number, threads = 0): Promise<Row> {
  const script = new URL('./pytorch_customnet.py', import.meta.url).pathname;
  const args = [script, '--batch', String(batch), '--warmup', String(warmup), '--steps', String(steps), '--runs', String(runs), ...(threads > 0 ? ['--threads', String(threads)] : [])];
  const { stdout } = await promisify(execFile)(python, args).catch((err: Error) => {
    throw new Error(`--pytorch ${python}: ${firstLine(err)}`);
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Row;
}

/**
 * Times `runs` rounds of `steps` training steps after `warmup` steps and keeps the fastest round:
 * other processes on a small machine only ever slow a round down.
 */
async function measure(model: string, batch: number, warmup: number, steps: number, runs: number): Promise<Row> {
  const net = getArchitecture(model).build({ seed: 1 });
  // The architectures end in logits (no softmax).
  net.compile({ optimizer: tf.train.adam(1e-3), loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits) });
  const xs = tf.randomUniform([batch, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const ys = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32') as tf.Tensor1D, 10);
  for (let i = 0; i < warmup; i++) await net.trainOnBatch(xs, ys);
  let seconds = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < steps; i++) await net.trainOnBatch(xs, ys);
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  const row = { model, params: net.countParams(), backend: tf.getBackend(), batch, steps, samplesPerSecond: (batch * steps) / seconds };
  tf.dispose([xs, ys]);
  net.dispose();
  return row;
}

/**
 * The same measurement on the onnxruntime training step (Adam, dropout masks drawn by the step from its seeded stream):
 * the whole step including feeding weights and optimiser state in and reading them back.
 */
async function measureOrt(model: string, batch: number, warmup: number, steps: number, runs: number, threads: number): Promise<Row | null> {
  const net = getArchitecture(model).build({ seed: 1 });
  let step: OrtTrainingStep;
  try {
    step = await OrtTrainingStep.create(net, { batch, numClasses: 10, seed: 1, session: { intraOpThreads: threads } });
  } catch (err) {
    net.dispose();
    if (err instanceof UserError) return null;
    throw err;
  }
  const xs = Float32Array.from({ length: batch * 784 }, () => Math.random());
  const ys = new Float32Array(batch * 10);
  for (let i = 0; i < batch; i++) ys[i * 10 + (i % 10)] = 1;
  for (let i = 0; i < warmup; i++) await step.step(xs, ys, 1e-3);
  let seconds = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step.step(xs, ys, 1e-3);
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  const backend = `ort (onnxruntime-node cpu, ${threads} thread${threads === 1 ? '' : 's'})`;
  const row = { model, params: net.countParams(), backend, batch, steps, samplesPerSecond: (batch * steps) / seconds };
  await step.close();
  net.dispose();
  return row;
}

/**
 * The same measurement with gradients split over the main thread and os.cpus()-1 worker threads
 * (DataParallelGradients), applying them with Adam in a plain loop.
 */
async function measureParallel(model: string, batch: number, warmup: number, steps: number, runs: number): Promise<Row> {
  const net = getArchitecture(model).build({ seed: 1 });
  const parallel = await DataParallelGradients.start(net, { arch: model, seed: 1, numClasses: 10, labelSmoothing: 0 });
  const optimizer = tf.train.adam(1e-3);
  const xs = Float32Array.from({ length: batch * IMAGE_PIXELS }, () => Math.random());
  const ys = new Float32Array(batch * 10);
  for (let i = 0; i < batch; i++) ys[i * 10 + (i % 10)] = 1;
  const step = async (): Promise<void> => {
    const { grads } = await parallel.computeGradients(xs, ys, batch);
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  };
  for (let i = 0; i < warmup; i++) await step();
  let seconds = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  const row = { model, params: net.countParams(), backend: `${tf.getBackend()}, ${parallel.threads} threads (data-parallel)`, batch, steps, samplesPerSecond: (batch * steps) / seconds };
  await parallel.close();
  optimizer.dispose();
  net.dispose();
  return row;
}

function table(rows: Row[]): string {
  const lines = ['| model | params | back end | batch | timed steps | samples/s |', '| --- | ---: | --- | ---: | ---: | ---: |'];
  for (const r of rows) lines.push(`| ${r.model} | ${r.params.toLocaleString('en-US')} | ${r.backend} | ${r.batch} | ${r.steps} | ${r.samplesPerSecond.toFixed(r.samplesPerSecond < 10 ? 1 : 0)} |`);
  return lines.join('\n');
}

/** Replaces the "Training throughput" section (up to the next "## " heading) or appends it. */
export function replaceSection(doc: string, body: string): string {
  return replaceDocSection(doc, SECTION, body);
}

async function main(): Promise<void> {
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const batch = Number(values.batch);
  const rows: Row[] = [];
  const described: string[] = [];
  for (const backend of values.backends.split(',') as (BackendName | 'ort')[]) {
    if (backend === 'ort') {
      described.push('- ort: one ONNX graph per training step (training/ort), onnxruntime-node cpu provider');
      for (const threads of values['ort-threads'].split(',').map(Number)) {
        for (const model of values.models.split(',')) {
          const row = await measureOrt(model, batch, warmup, steps, Number(values.runs), threads);
          if (!row) {
            process.stderr.write(`skip ort for ${model}: not supported by the onnxruntime training step yet\n`);
            continue;
          }
          process.stderr.write(`${model} on ${row.backend}: ${row.samplesPerSecond.toFixed(0)} samples/s\n`);
          rows.push(row);
        }
      }
      continue;
    }
    try {
      await selectBackend(backend);
    } catch (err) {
      process.stderr.write(`skip ${backend}: ${(err as Error).message}\n`);
      continue;
    }
    described.push(`- ${await backendDescription()}`);
    // The pure-JS back end is two orders of magnitude slower (a step of 16 takes ~15 s): one small
    // step is enough to rank it.
    const [b, w, s, r] = backend === 'cpu' ? [Math.min(batch, 16), 1, 1, 1] : [batch, warmup, steps, Number(values.runs)];
    for (const model of values.models.split(',')) {
      const row = await measure(model, b, w, s, r);
      process.stderr.write(`${model} on ${row.backend}: ${row.samplesPerSecond.toFixed(0)} samples/s\n`);
      rows.push(row);
    }
    // Only single-threaded back ends gain from worker threads (tfjs-node already uses every core).
    if (backend === 'wasm' && values.parallel && !values['no-parallel'] && os.cpus().length > 1) {
      for (const model of values.models.split(',')) {
        const row = await measureParallel(model, b, w, s, r);
        process.stderr.write(`${model} on ${row.backend}: ${row.samplesPerSecond.toFixed(0)} samples/s\n`);
        rows.push(row);
      }
    }
  }
  if (values.pytorch) {
    for (const threads of values['pytorch-threads'].split(',').map(Number)) {
      const row = await measurePytorch(values.pytorch, batch, warmup, steps, Number(values.runs), threads);
      process.stderr.write(`customnet on ${row.backend}: ${row.samplesPerSecond.toFixed(0)} samples/s\n`);
      rows.push(row);
    }
  }
  const body = [
    `Measured by \`node --import tsx scripts/bench/train-speed.ts\` (Adam, random 28x28x1 batches, warm-up steps excluded, fastest of ${values.runs} rounds; the cpu back end gets 1 warm-up and 1 ` +
      `timed step of at most 16).`,
    '',
    `Machine: ${describeMachine(machineInfo())}.`,
    '',
    table(rows),
    '',
    'Back ends:',
    ...described,
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (values['update-docs']) await updateBenchDoc(SECTION, body);
}

if (isMain(import.meta.url)) {
  await main();
}
