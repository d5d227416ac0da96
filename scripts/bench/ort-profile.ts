/**
 * Where the onnxruntime training step's time goes: runs customnet's step graph with onnxruntime's
 * profiler on and sums the per-node kernel times by operator type and by node.
 *   node --import tsx scripts/bench/ort-profile.ts [--model customnet] [--batch 64] [--steps 10]
 *        [--threads 1] [--level all] [--top 15]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getArchitecture } from '../../training/arch/index.ts';
import { OrtTrainingStep } from '../../training/ort/step.ts';
import { isMain } from './common.ts';

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

export interface ProfileSummary {
  stepMs: number;
  byOp: { op: string; ms: number; share: number; nodes: number }[];
  byNode: { node: string; op: string; ms: number; share: number }[];
}

/** Per-step kernel time by operator type and by node from onnxruntime's profile events (Chrome trace format). */
export function summarizeProfile(events: readonly ProfileEvent[], steps: number): ProfileSummary {
  const nodes = new Map<string, { op: string; us: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const entry = nodes.get(node) ?? { op: e.args?.op_name ?? '?', us: 0 };
    entry.us += e.dur;
    nodes.set(node, entry);
  }
  const total = [...nodes.values()].reduce((s, n) => s + n.us, 0);
  const ops = new Map<string, { us: number; nodes: number }>();
  for (const n of nodes.values()) {
    const o = ops.get(n.op) ?? { us: 0, nodes: 0 };
    o.us += n.us;
    o.nodes++;
    ops.set(n.op, o);
  }
  const ms = (us: number) => us / 1000 / steps;
  return {
    stepMs: ms(total),
    byOp: [...ops.entries()].map(([op, o]) => ({ op, ms: ms(o.us), share: o.us / total, nodes: o.nodes })).sort((a, b) => b.ms - a.ms),
    byNode: [...nodes.entries()].map(([node, n]) => ({ node, op: n.op, ms: ms(n.us), share: n.us / total })).sort((a, b) => b.ms - a.ms),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'customnet' },
      batch: { type: 'string', default: '64' },
      steps: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      threads: { type: 'string', default: '1' },
      level: { type: 'string', default: 'all' },
      top: { type: 'string', default: '15' },
    },
  });
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const dir = mkdtempSync(join(tmpdir(), 'edgeloom-ort-profile-'));
  const net = getArchitecture(values.model).build({ seed: 1 });
  const step = await OrtTrainingStep.create(net, {
    batch,
    numClasses: 10,
    seed: 1,
    session: { intraOpThreads: Number(values.threads), graphOptimizationLevel: values.level as 'all', profileFilePrefix: join(dir, 'step') },
  });
  const xs = Float32Array.from({ length: batch * 784 }, () => Math.random());
  const ys = new Float32Array(batch * 10);
  for (let i = 0; i < batch; i++) ys[i * 10 + (i % 10)] = 1;
  const warmup = Number(values.warmup);
  // The profile covers every run, warm-up included: the means below include the first run's allocations.
  for (let i = 0; i < warmup + steps; i++) await step.step(xs, ys, 1e-3);
  await step.endProfiling();
  await step.close();
  net.dispose();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) throw new Error(`onnxruntime wrote no profile into ${dir}`);
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
  rmSync(dir, { recursive: true, force: true });
  const summary = summarizeProfile(events, warmup + steps);
  const top = Number(values.top);
  const lines = [
    `${values.model}, batch ${batch}, ${values.threads} thread(s), optimisation level ${values.level}: ${summary.stepMs.toFixed(1)} ms of kernel time per step (mean of ${warmup + steps} runs)`,
    '',
    '| operator | nodes | ms/step | share |',
    '| --- | ---: | ---: | ---: |',
    ...summary.byOp.slice(0, top).map((o) => `| ${o.op} | ${o.nodes} | ${o.ms.toFixed(2)} | ${(o.share * 100).toFixed(1)}% |`),
    '',
    '| node | operator | ms/step | share |',
    '| --- | --- | ---: | ---: |',
    ...summary.byNode.slice(0, top).map((n) => `| ${n.node} | ${n.op} | ${n.ms.toFixed(2)} | ${(n.share * 100).toFixed(1)}% |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (isMain(import.meta.url)) {
  await main();
}
