/**
 * Shared pieces of the benchmark scripts: statistics, markdown tables, the machine description and
 * the section-by-section update of docs/benchmarks.md. Pure functions where possible (tested in
 * test/bench/).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../src/fs-atomic.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** docs/benchmarks.md, or EDGELOOM_BENCH_DOC (to try the bench without touching the real numbers). */
export const BENCH_DOC = process.env.EDGELOOM_BENCH_DOC ? path.resolve(process.env.EDGELOOM_BENCH_DOC) : path.join(REPO_ROOT, 'docs', 'benchmarks.md');

/** True when `moduleUrl` is the script node was started with (not an import from a test). */
export function isMain(moduleUrl: string): boolean {
  return Boolean(process.argv[1]) && fileURLToPath(moduleUrl) === path.resolve(process.argv[1]);
}

/**
 * The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's default),
 * so p50 of an even count is the mean of the two middle values. NaN for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be within 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export interface Summary {
  count: number;
  p50: number;
  p95: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
  return { count: values.length, p50: percentile(values, 50), p95: percentile(values, 95), mean };
}

/** Milliseconds with precision that matches their size: 0.042, 0.42, 4.21, 42.1, 421. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms < 0.1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

/** A rate (images/s, frames/s) with thousands separators; one decimal below 10. */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return 'n/a';
  return rate < 10 ? rate.toFixed(1) : Math.round(rate).toLocaleString('en-US');
}

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

/** A GitHub markdown table; `|` inside cells is escaped so a cell can never split a row. */
export function markdownTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  for (const [i, row] of rows.entries()) {
    if (row.length !== columns.length) throw new Error(`markdownTable: row ${i} has ${row.length} cells, expected ${columns.length}`);
  }
  const lines = [
    `| ${columns.map((c) => escape(c.header)).join(' | ')} |`,
    `| ${columns.map((c) => (c.align === 'right' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/**
 * Replaces the section that starts with `heading` (a "## " line) up to the next "## " heading, or
 * appends it at the end (starting the file with "# Benchmarks" if it is empty). Other sections
 * are left byte for byte as they were.
 */
export function replaceDocSection(doc: string, heading: string, body: string): string {
  const section = `${heading}\n\n${body.trim()}\n`;
  const start = findHeading(doc, heading);
  if (start < 0) return `${doc.trimEnd()}${doc.trim() ? '\n\n' : '# Benchmarks\n\n'}${section}`;
  const next = doc.indexOf('\n## ', start + heading.length);
  return doc.slice(0, start) + section + (next < 0 ? '' : doc.slice(next));
}

/** Index of `heading` as a whole line (so "## Inference" does not match "## Inference latency"). */
function findHeading(doc: string, heading: string): number {
  let from = 0;
  for (;;) {
    const i = doc.indexOf(heading, from);
    if (i < 0) return -1;
    const atLineStart = i === 0 || doc[i - 1] === '\n';
    const after = doc[i + heading.length];
    if (atLineStart && (after === undefined || after === '\n' || after === '\r')) return i;
    from = i + 1;
  }
}

/** Rewrites one section of docs/benchmarks.md (atomically), keeping every other section. */
export async function updateBenchDoc(heading: string, body: string, file = BENCH_DOC): Promise<void> {
  const doc = await readFile(file, 'utf8').catch(() => '');
  await writeFileAtomic(file, replaceDocSection(doc, heading, body));
  process.stderr.write(`updated ${path.relative(process.cwd(), file) || file}: ${heading.replace(/^#+\s*/, '')}\n`);
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  onnxruntimeNode: string | null;
  onnxruntimeWeb: string | null;
  date: string;
  loadAverage: number;
}

function packageVersion(name: string): string | null {
  try {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? null;
  } catch {
    return null;
  }
}

export function machineInfo(now = new Date()): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() || 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    onnxruntimeWeb: packageVersion('onnxruntime-web'),
    date: now.toISOString().slice(0, 10),
    loadAverage: os.loadavg()[0],
  };
}

/** One line for the docs; `loadWhen` says when the load average was taken ("at the end"). */
export function describeMachine(m: MachineInfo, loadWhen = 'at the end'): string {
  const ort = [m.onnxruntimeNode && `onnxruntime-node ${m.onnxruntimeNode}`, m.onnxruntimeWeb && `onnxruntime-web ${m.onnxruntimeWeb}`].filter(Boolean).join(', ');
  return `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.platform}${ort ? `, ${ort}` : ''}, ${m.date}, load average ${m.loadAverage.toFixed(1)} ${loadWhen}`;
}

/** `a,b, c` -> ['a', 'b', 'c'] (empty items dropped). */
export function parseList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got "${value}"`);
  return n;
}
