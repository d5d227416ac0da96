/**
 * The agent's memory, as a board runs it (#13):
 * 1. onnxruntime session settings (arena, memory patterns, threads; and onnxruntime-web's wasm) for
 *    RSS and batch-1 latency on models/default.onnx, each in its own process;
 * 2. the real `edgeloom agent` process, started from the build (dist/, as `npm run install-board`
 *    leaves it) and from the sources through tsx, on a dir: source of 28x28 PNG or 320x240 JPEG
 *    frames, against a broker in this process; RSS sampled from /proc (Linux).
 *   node --import tsx scripts/bench/memory.ts [--quick] [--update-docs] [--json]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import type { SessionTuning } from '../../src/onnx/session.ts';
import type { ExecutionProviderChoice } from '../../src/onnx/providers.ts';
import { describeMachine, formatMs, isMain, machineInfo, markdownTable, REPO_ROOT, summarize, updateBenchDoc } from './common.ts';

export const SECTION = '## Agent memory';
const MODEL = 'models/default.onnx';
export const UNIT_FILE = path.join(REPO_ROOT, 'scripts', 'edgeloom-agent.service');

interface SessionConfig {
  name: string;
  ep: ExecutionProviderChoice;
  threads: number;
  tuning?: SessionTuning;
}

/** SESSION_DEFAULTS is the last onnxruntime-node row; the first is onnxruntime's own defaults. */
const SESSION_CONFIGS: SessionConfig[] = [
  { name: 'onnxruntime defaults (arena, memory patterns)', ep: 'cpu', threads: 1, tuning: { enableCpuMemArena: true, enableMemPattern: true, interOpNumThreads: 0 } },
  { name: 'arena off', ep: 'cpu', threads: 1, tuning: { enableCpuMemArena: false, enableMemPattern: true } },
  { name: 'memory patterns off', ep: 'cpu', threads: 1, tuning: { enableCpuMemArena: true, enableMemPattern: false } },
  { name: 'edgeloom: arena and patterns off, 1 inter-op thread', ep: 'cpu', threads: 1 },
  { name: 'edgeloom, intra-op threads = cores', ep: 'cpu', threads: 0 },
  { name: 'edgeloom, --ep wasm', ep: 'wasm', threads: 1 },
];

interface SessionRow {
  config: string;
  startMiB: number;
  createdMiB: number;
  afterRunsMiB: number;
  p50Ms: number;
  p95Ms: number;
}

const mib = (bytes: number) => bytes / 2 ** 20;

/** In a child: one session, `runs` batch-1 runs on test-like inputs; prints a SessionRow as JSON. */
async function sessionChild(config: SessionConfig, runs: number): Promise<void> {
  const { createOnnxSession } = await import('../../src/onnx/session.ts');
  const startMiB = mib(process.memoryUsage().rss);
  const session = await createOnnxSession(MODEL, { ep: config.ep, intraOpThreads: config.threads, tuning: config.tuning });
  const createdMiB = mib(process.memoryUsage().rss);
  const input = new Float32Array(IMAGE_PIXELS);
  const latencies: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (let p = 0; p < input.length; p++) input[p] = ((p * 7 + i * 13) % 256) / 255;
    const t = performance.now();
    await session.run(input, 1);
    latencies.push(performance.now() - t);
  }
  // Let background compilation (wasm tier-up) and frees settle before reading RSS.
  await new Promise((r) => setTimeout(r, 1000));
  const s = summarize(latencies.slice(Math.floor(runs / 4)));
  const row: SessionRow = { config: config.name, startMiB, createdMiB, afterRunsMiB: mib(process.memoryUsage().rss), p50Ms: s.p50, p95Ms: s.p95 };
  await session.close();
  process.stdout.write(JSON.stringify(row));
}

function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`memory bench child exited with ${code}`))));
  });
}

interface AgentRow {
  entry: 'build' | 'tsx' | 'unit';
  ep: ExecutionProviderChoice;
  frames: string;
  count: number;
  steadyMiB: number;
  peakMiB: number;
}

function procStatus(pid: number): { rss: number; hwm: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(/\s(\d+) kB/.exec(text.split('\n').find((l) => l.startsWith(key)) ?? '')?.[1] ?? NaN);
    return { rss: kb('VmRSS:') * 1024, hwm: kb('VmHWM:') * 1024 };
  } catch {
    return null;
  }
}

/** Frames written to a directory: 100 Fashion-MNIST test images as 28x28 PNGs or synthetic 320x240 camera JPEGs. */
async function writeFrames(dir: string, kind: 'png' | 'jpeg'): Promise<void> {
  const { loadTestImages } = await import('../../device/sources/fashion-mnist.ts');
  const { synthesizeFrame } = await import('../../test/preprocess/synth.ts');
  const { images } = await loadTestImages();
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < 100; i++) {
    const pixels = images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
    const buf = kind === 'png'
      ? await sharp(Buffer.from(pixels), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } }).png().toBuffer()
      : await synthesizeFrame(pixels, { seed: i + 1, centerX: 0.35 + (i % 5) * 0.07, centerY: 0.45 + (i % 3) * 0.05 });
    await writeFile(path.join(dir, `${String(i).padStart(3, '0')}.${kind === 'png' ? 'png' : 'jpg'}`), buf);
  }
}

/**
 * How scripts/edgeloom-agent.service starts the agent: node's flags from ExecStart and the
 * environment it sets (EDGELOOM_* left out: the bench passes its own flags).
 */
export function unitLaunch(unit: string): { nodeArgs: string[]; env: Record<string, string> } {
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1].trim().split(/\s+/) ?? [];
  const node = exec.findIndex((t) => t === 'node' || t.endsWith('/node'));
  const script = exec.findIndex((t) => t.endsWith('edgeloom.js'));
  if (node < 0 || script < node) throw new Error('edgeloom-agent.service: expected ExecStart=... node [flags] .../edgeloom.js agent');
  const env: Record<string, string> = {};
  for (const [, key, value] of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) {
    if (!key.startsWith('EDGELOOM_')) env[key] = value;
  }
  return { nodeArgs: exec.slice(node + 1, script), env };
}

/**
 * The production build (scripts/build.mjs) in a fresh `.build-<tag>-<pid>` folder of the checkout,
 * where it finds node_modules (build.mjs writes only there); the caller removes it (a failed build
 * is removed here).
 */
export async function buildInCheckout(tag: string): Promise<string> {
  const name = `.build-${tag}-${process.pid}`;
  const dir = path.join(REPO_ROOT, name);
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, ['scripts/build.mjs', '--outdir', name], { cwd: REPO_ROOT, stdio: 'inherit' }).on('close', resolve));
  if (code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`scripts/build.mjs --outdir ${name} failed`);
  }
  return dir;
}

/** The real agent as its own process; RSS sampled every 100 ms; steady = median of the second half. */
async function measureAgent(entry: AgentRow['entry'], ep: ExecutionProviderChoice, frames: { dir: string; label: string }, count: number, brokerUrl: string, work: string,
  buildDir: string): Promise<AgentRow> {
  const unit = unitLaunch(readFileSync(UNIT_FILE, 'utf8'));
  const cli = entry === 'tsx' ? ['--import', 'tsx', 'cli/index.ts'] : [...(entry === 'unit' ? unit.nodeArgs : []), path.join(buildDir, 'cli.js')];
  const id = `mem-${entry}-${ep}-${path.basename(frames.dir)}`;
  const child = spawn(process.execPath, [...cli, 'agent', '--source', `dir:${frames.dir}`, '--loop', '--max-frames', String(count), '--fps', '120',
    '--mqtt-url', brokerUrl, '--device-id', id, '--queue-dir', path.join(work, `q-${id}`), '--model', MODEL, '--ep', ep, '--threads', '1'], {
    cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...(entry === 'unit' ? unit.env : {}), EDGELOOM_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const samples: number[] = [];
  let peak = 0;
  const timer = setInterval(() => {
    const s = child.pid ? procStatus(child.pid) : null;
    if (s && Number.isFinite(s.rss)) {
      samples.push(s.rss);
      peak = Math.max(peak, s.hwm);
    }
  }, 100);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`agent (${entry}, ${ep}) exited with ${code}: ${stderr}`);
  const steady = summarize(samples.slice(Math.floor(samples.length / 2), Math.max(Math.floor(samples.length / 2) + 1, samples.length - 2)));
  const row: AgentRow = { entry, ep, frames: frames.label, count, steadyMiB: mib(steady.p50), peakMiB: mib(peak) };
  process.stderr.write(`agent ${entry} ${ep} ${frames.label}: steady ${row.steadyMiB.toFixed(0)} MiB, peak ${row.peakMiB.toFixed(0)} MiB\n`);
  return row;
}

async function measureAgents(count: number): Promise<AgentRow[]> {
  const { startBroker } = await import('../../device/broker.ts');
  const buildDir = await buildInCheckout('bench');
  const work = await mkdtemp(path.join(os.tmpdir(), 'edgeloom-memory-'));
  const broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
  try {
    const png = { dir: path.join(work, 'png'), label: '28x28 PNG' };
    const jpeg = { dir: path.join(work, 'jpeg'), label: '320x240 JPEG' };
    await writeFrames(png.dir, 'png');
    await writeFrames(jpeg.dir, 'jpeg');
    const rows: AgentRow[] = [];
    for (const [entry, ep, frames] of [['tsx', 'cpu', png], ['build', 'cpu', png], ['unit', 'cpu', png], ['unit', 'cpu', jpeg], ['unit', 'wasm', png]] as const) {
      rows.push(await measureAgent(entry, ep, frames, count, broker.url, work, buildDir));
    }
    return rows;
  } finally {
    await broker.close();
    await rm(buildDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

const AGENT_ENTRIES: Record<AgentRow['entry'], string> = {
  tsx: 'sources through tsx (development)',
  build: 'build (dist/), plain `node`',
  unit: 'build, as edgeloom-agent.service starts it',
};

function formatMiB(v: number): string {
  return `${v.toFixed(0)} MiB`;
}

export function memoryDoc(sessions: readonly SessionRow[], runs: number, agents: readonly AgentRow[], machine: string): string {
  const sessionTable = markdownTable(
    [{ header: 'session settings' }, { header: 'RSS before' , align: 'right' }, { header: 'after create', align: 'right' }, { header: `after ${runs.toLocaleString('en-US')} runs`, align: 'right' },
      { header: 'runtime + session', align: 'right' }, { header: 'batch 1 p50 / p95 ms', align: 'right' }],
    sessions.map((r) => [r.config, formatMiB(r.startMiB), formatMiB(r.createdMiB), formatMiB(r.afterRunsMiB), formatMiB(r.afterRunsMiB - r.startMiB), `${formatMs(r.p50Ms)} / ${formatMs(r.p95Ms)}`]),
  );
  const agentTable = markdownTable(
    [{ header: 'agent started ' +
      'from' }, { header: '--ep' }, { header: 'frames' }, { header: 'count', align: 'right' }, { header: 'RSS, steady', align: 'right' }, { header: 'RSS, peak', align: 'right' }],
    agents.map((r) => [AGENT_ENTRIES[r.entry], r.ep, r.frames, r.count.toLocaleString('en-US'), formatMiB(r.steadyMiB), formatMiB(r.peakMiB)]),
  );
  const unit = unitLaunch(readFileSync(UNIT_FILE, 'utf8'));
  return [
    'Measured by `node --import tsx scripts/bench/memory.ts` (`npm run bench -- --only memory`).',
    '',
    `Session settings: \`${MODEL}\`, one process per row (a tsx process: compare the "runtime + session" column), batch-1 runs on synthetic inputs; RSS after the runs and a 1 s pause; latency ` +
      `percentiles over the last three quarters of the runs. The agent uses \`SESSION_DEFAULTS\` in \`src/onnx/session.ts\`.`,
    '',
    `Machine: ${machine}.`,
    '',
    sessionTable,
    '',
    `The agent process: \`edgeloom agent --source dir:... --loop --fps 120 --threads 1\` on 100 distinct frames, publishing to an aedes broker in another process; RSS of the agent process alone, ` +
      `sampled every 100 ms from /proc (steady: median of the second half of the run; peak: VmHWM). The systemd unit runs \`node ` +
        `${unit.nodeArgs.join(' ')}\` with ${Object.entries(unit.env).map(([k, v]) => `\`${k}=${v}\``).join(', ')}.`,
    '',
    agentTable,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'update-docs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'session-child': { type: 'string' },
      runs: { type: 'string' },
    },
  });
  const runs = Number(values.runs ?? (values.quick ? 500 : 2000));
  if (values['session-child']) {
    await sessionChild(JSON.parse(values['session-child']) as SessionConfig, runs);
    return;
  }
  const sessions: SessionRow[] = [];
  for (const config of SESSION_CONFIGS) {
    const row = JSON.parse(await runChild(['--session-child', JSON.stringify(config), '--runs', String(runs)])) as SessionRow;
    process.stderr.write(`${row.config}: RSS ${row.startMiB.toFixed(0)} -> ${row.afterRunsMiB.toFixed(0)} MiB, p50 ${formatMs(row.p50Ms)} ms\n`);
    sessions.push(row);
  }
  const agents = process.platform === 'linux' ? await measureAgents(values.quick ? 300 : 2000) : [];
  if (values.json) process.stdout.write(`${JSON.stringify({ sessions, agents }, null, 2)}\n`);
  const doc = memoryDoc(sessions, runs, agents, describeMachine(machineInfo()));
  if (values['update-docs']) await updateBenchDoc(SECTION, doc);
  else if (!values.json) process.stdout.write(`${doc}\n`);
}

if (isMain(import.meta.url)) {
  await main();
}
