/**
 * Training runs side by side: the training loss of each epoch, one line per run (PNG + SVG), and
 * a Markdown table of the runs' losses, test accuracy, back end and time, from their report.json.
 * docs/backends.md's ort-vs-wasm figure comes from it:
 *   node --import tsx scripts/run-curves.ts --run ort-s42=RUN_DIR --run wasm-s42=RUN_DIR ... --out docs/ort-vs-wasm-customnet
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UserError } from '../src/errors.ts';
import { lineChartSvg, type LineSeries } from '../training/plots/line-chart.ts';
import { writePlot } from '../training/plots/render.ts';
import { isMain } from './bench/common.ts';

export interface RunSummary {
  name: string;
  backend: string;
  seed: number;
  testAccuracy: number;
  trainSeconds: number;
  losses: number[];
}

/** The fields the figure and the table use, from a train run's report.json (a UserError names what is missing). */
export function runSummary(name: string, file: string, report: unknown): RunSummary {
  const r = report as { backend?: { name?: unknown }; config?: { seed?: unknown }; test?: { accuracy?: unknown }; trainSeconds?: unknown; history?: { loss?: unknown }[] };
  const losses = Array.isArray(r.history) ? r.history.map((h) => h.loss) : [];
  if (typeof r.test?.accuracy !== 'number' || losses.length === 0 || !losses.every((l) => typeof l === 'number') || typeof r.backend?.name !== 'string') {
    throw new UserError(`${file}: expected an edgeloom train report (backend.name, history[].loss, test.accuracy)`);
  }
  return { name, backend: r.backend.name, seed: Number(r.config?.seed), testAccuracy: r.test.accuracy, trainSeconds: Number(r.trainSeconds), losses: losses as number[] };
}

/** Training loss against epoch, one line per run; runs of the second back end dashed. */
export function runCurvesSvg(runs: readonly RunSummary[], title: string): string {
  const first = runs[0]?.backend;
  const series: LineSeries[] = runs.map((r) => ({
    name: `${r.name} (test ${(r.testAccuracy * 100).toFixed(2)}%)`,
    points: r.losses.map((l, i) => [i + 1, l] as [number, number]),
    dashed: r.backend !== first,
  }));
  return lineChartSvg(series, { title, xLabel: 'epoch', yLabel: 'training loss', legend: 'top-right' });
}

/** One row per run: back end, seed, test accuracy, training time, first and last epoch's loss. */
export function runsTable(runs: readonly RunSummary[]): string {
  const rows = runs.map((r) => `| ${r.name} | ${r.backend} | ${r.seed} | ${(r.testAccuracy * 100).toFixed(2)}% | ${Math.round(r.trainSeconds)} s | ` +
    `${r.losses[0].toFixed(4)} | ${r.losses.at(-1)!.toFixed(4)} |`);
  return ['| run | back end | seed | test accuracy | training time | loss, epoch 1 | loss, last epoch |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |', ...rows].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { run: { type: 'string', multiple: true }, out: { type: 'string' }, title: { type: 'string' } } });
  if (!values.run?.length || !values.out) throw new UserError('usage: run-curves.ts --run NAME=DIR [--run NAME=DIR ...] --out BASE [--title TEXT]');
  const runs: RunSummary[] = [];
  for (const spec of values.run) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UserError(`--run ${spec}: expected NAME=DIR`);
    const file = join(spec.slice(eq + 1), 'report.json');
    runs.push(runSummary(spec.slice(0, eq), file, JSON.parse(await readFile(file, 'utf8'))));
  }
  const written = await writePlot(values.out, runCurvesSvg(runs, values.title ?? 'Training loss per epoch'));
  console.log(`${runsTable(runs)}\n\nwrote ${written.svg}, ${written.png}`);
}

if (isMain(import.meta.url)) {
  await main().catch((err: Error) => {
    console.error(`run-curves: ${err.message}`);
    process.exitCode = 1;
  });
}
