/**
 * Soak run of the real agent process (bin/edgeloom.js agent): frames at the maximum rate (120 fps)
 * from a directory of camera-like JPEGs with corrupt ones mixed in, the broker restarted every few
 * minutes, a command (pause / resume / set-fps) every 10 s. Prints RSS / fd / thread samples from
 * /proc and delivered / dropped counts, then the figures, and writes them to docs/reliability.md.
 *
 *   node --import tsx scripts/soak.ts [--minutes 60] [--broker-every-min 5] [--broker-down-s 5]
 *        [--command-every-s 10] [--sample-s 30] [--model models/default.onnx] [--no-doc] [--json]
 *
 * Lost labels = labels the agent produced (frames - errors, from its last stats message) minus the
 * distinct frame numbers that reached the subscriber. Run it on an idle machine: the RSS and rate
 * figures mean little on a loaded one (the load average is written next to them).
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { IMAGE_PIXELS } from '../src/classes.ts';
import { writeFileAtomic } from '../src/fs-atomic.ts';
import { deviceTopics } from '../src/mqtt/topics.ts';
import { describeMachine, machineInfo, markdownTable, REPO_ROOT, replaceDocSection } from './bench/common.ts';
import { buildInCheckout, UNIT_FILE, unitLaunch } from './bench/memory.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'broker-every-min': { type: 'string', default: '5' },
    'broker-down-s': { type: 'string', default: '5' },
    'command-every-s': { type: 'string', default: '10' },
    'sample-s': { type: 'string', default: '30' },
    model: { type: 'string', default: path.join(REPO_ROOT, 'models', 'default.onnx') },
    // unit: the production build started as scripts/edgeloom-agent.service starts it (node flags and
    // malloc environment), what a board runs for months; dev: bin/edgeloom.js as it is in the checkout.
    launch: { type: 'string', default: 'unit' },
    'no-doc': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const num = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got "${String(values[name])}"`);
  return n;
};
const durationMs = num('minutes') * 60_000;
const brokerEveryMs = num('broker-every-min') * 60_000;
const brokerDownMs = num('broker-down-s') * 1000;
const commandEveryMs = num('command-every-s') * 1000;
const sampleMs = Math.max(1000, num('sample-s') * 1000);
const DOC = path.join(REPO_ROOT, 'docs', 'reliability.md');
const SECTION = '## Soak figures';
const DEVICE = 'soak';
const GOOD_FRAMES = 40;
const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fashion-MNIST test images as 320x240 camera-like JPEGs, plus four kinds of broken file. */
async function makeFrames(dir: string): Promise<{ good: number; bad: number }> {
  const { loadTestImages } = await import('../device/sources/fashion-mnist.ts');
  const { synthesizeFrame } = await import('../test/preprocess/synth.ts');
  const { images } = await loadTestImages();
  let first: Buffer | null = null;
  for (let i = 0; i < GOOD_FRAMES; i++) {
    const jpeg = await synthesizeFrame(images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), { seed: i + 1 });
    first ??= jpeg;
    await writeFile(path.join(dir, `f${String(i).padStart(3, '0')}.jpg`), jpeg);
  }
  // Interleaved by name with the good ones (the dir source reads in name order).
  await writeFile(path.join(dir, 'f005x-truncated.jpg'), first!.subarray(0, Math.floor(first!.length / 2)));
  await writeFile(path.join(dir, 'f015x-garbage.jpg'), Buffer.from('this is not a jpeg at all'));
  await writeFile(path.join(dir, 'f025x-empty.jpg'), Buffer.alloc(0));
  await writeFile(path.join(dir, 'f035x-header-only.jpg'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 0x5a)]));
  return { good: GOOD_FRAMES, bad: 4 };
}

/** How the agent process is started (see the --launch option). */
async function agentLaunch(kind: string): Promise<{ args: string[]; env: Record<string, string>; buildDir?: string }> {
  if (kind === 'dev') return { args: [path.join(REPO_ROOT, 'bin', 'edgeloom.js')], env: {} };
  if (kind !== 'unit') throw new Error(`--launch: expected unit or dev, got "${kind}"`);
  const buildDir = await buildInCheckout('soak');
  const unit = unitLaunch(await readFile(UNIT_FILE, 'utf8'));
  return { args: [...unit.nodeArgs, path.join(buildDir, 'cli.js')], env: unit.env, buildDir };
}

/** Least-squares slope of y over x (per unit of x); NaN with fewer than two points. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

interface Sample {
  t: number;
  rssMiB: number;
  threads: number;
  fds: number;
  delivered: number;
  dropped: number;
  queueDepth: number;
  brokerUp: boolean;
}

async function procSample(pid: number): Promise<{ rssMiB: number; threads: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: field('VmRSS') / 1024, threads: field('Threads'), fds: (await readdir(`/proc/${pid}/fd`)).length };
}

interface StatsView {
  frames: number;
  errors: number;
  dropped: number;
  queueDepth: number;
}

function parseStats(text: string): StatsView | null {
  try {
    const s = JSON.parse(text) as { cameras?: Record<string, { frames?: number; errors?: number }>; dropped?: { total?: number }; queueDepth?: number };
    const cam = s.cameras?.cam0;
    if (!cam || typeof cam.frames !== 'number') return null;
    return { frames: cam.frames, errors: cam.errors ?? 0, dropped: s.dropped?.total ?? 0, queueDepth: s.queueDepth ?? 0 };
  } catch {
    return null;
  }
}

interface SoakBroker {
  close(): Promise<void>;
  publish(topic: string, payload: string): void;
}

/**
 * An aedes broker whose monitor is an in-broker subscription: it exists before any client
 * connects, so no label acked by a freshly restarted broker can slip past it (a monitoring client
 * reconnecting after the agent would miss those, and they would count as lost).
 */
async function startSoakBroker(port: number, onMessage: (topic: string, payload: Buffer) => void): Promise<SoakBroker & { port: number }> {
  const aedes = await Aedes.createBroker();
  await new Promise<void>((resolve) => aedes.subscribe(`edgeloom/${DEVICE}/#`, (packet, cb) => {
    onMessage(packet.topic, Buffer.from(packet.payload));
    cb();
  }, resolve));
  const tcp = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: (tcp.address() as AddressInfo).port,
    publish: (topic, payload) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, () => undefined),
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'edgeloom-soak-'));
  const framesDir = path.join(work, 'frames');
  await mkdir(framesDir);
  const frameSet = await makeFrames(framesDir);
  const topics = deviceTopics(DEVICE);
  const delivered = new Set<number>();
  let duplicates = 0;
  let lastStats: StatsView | null = null;
  let statsCount = 0;
  const commands = { sent: 0, ok: 0, failed: 0 };
  const resultTopics = new Set((['pause', 'resume', 'set-fps'] as const).map((n) => topics.commandResult(n)));
  const onMessage = (topic: string, payload: Buffer) => {
    if (topic === topics.label('cam0')) {
      const frame = (JSON.parse(payload.toString()) as { frame: number }).frame;
      if (delivered.has(frame)) duplicates++;
      else delivered.add(frame);
    } else if (topic === topics.stats) {
      const s = parseStats(payload.toString());
      if (s) {
        lastStats = s;
        statsCount++;
      }
    } else if (resultTopics.has(topic)) {
      if ((JSON.parse(payload.toString()) as { ok?: boolean }).ok) commands.ok++;
      else commands.failed++;
    }
  };
  const first = await startSoakBroker(0, onMessage);
  const port = first.port;
  let broker: SoakBroker | null = first;
  const url = `mqtt://127.0.0.1:${port}`;

  const config = path.join(work, 'agent.json');
  await writeFile(config, JSON.stringify({
    deviceId: DEVICE,
    model: values.model,
    statsIntervalS: 5,
    mqtt: { url, keepalive: 5, reconnectMinMs: 200, reconnectMaxMs: 2000, qos: { stats: 1 } },
    queue: { dir: path.join(work, 'queue') },
    cameras: [{ id: 'cam0', source: `dir:${framesDir}`, fps: 120, loop: true }],
  }));
  const agentLog = path.join(work, 'agent.log');
  const logStream = createWriteStream(agentLog);
  const launch = await agentLaunch(values.launch!);
  const child = spawn(process.execPath, [...launch.args, 'agent', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...launch.env, EDGELOOM_LOG_LEVEL: 'warn' },
  });
  child.stderr.pipe(logStream);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pid = child.pid!;
  log(`agent pid ${pid}, broker ${url}, ${frameSet.good} good + ${frameSet.bad} bad frames at 120 fps, ${num('minutes')} min; log ${agentLog}`);

  const t0 = Date.now();
  const samples: Sample[] = [];
  let brokerRestarts = 0;
  let stopping = false;
  const sampler = setInterval(() => {
    void procSample(pid).then((p) => {
      const s: Sample = { t: (Date.now() - t0) / 1000, ...p, delivered: delivered.size, dropped: lastStats?.dropped ?? 0, queueDepth: lastStats?.queueDepth ?? 0, brokerUp: broker !== null };
      samples.push(s);
      log(`t=${s.t.toFixed(0)}s rss=${s.rssMiB.toFixed(1)}MiB fds=${s.fds} threads=${s.threads} delivered=${s.delivered} dup=${duplicates} dropped=${s.dropped} ` +
        `queue=${s.queueDepth}${s.brokerUp ? '' : ' (broker down)'}`);
    }).catch(() => undefined);
  }, sampleMs);
  const cycle: [Parameters<typeof topics.command>[0], object][] = [['pause', {}], ['resume', {}], ['set-fps', { fps: 60 }], ['set-fps', { fps: 120 }]];
  let next = 0;
  const commander = commandEveryMs > 0 ? setInterval(() => {
    if (stopping || !broker) return;
    const [name, body] = cycle[next++ % cycle.length];
    commands.sent++;
    broker.publish(topics.command(name), JSON.stringify({ ...body, requestId: `soak-${commands.sent}` }));
  }, commandEveryMs) : null;
  const restarter = brokerEveryMs > 0 ? setInterval(() => {
    if (stopping || !broker) return;
    const b = broker;
    broker = null;
    void b.close().then(() => sleep(brokerDownMs)).then(async () => {
      broker = await startSoakBroker(port, onMessage);
      brokerRestarts++;
      log(`broker restarted (${brokerRestarts})`);
    });
  }, brokerEveryMs) : null;

  const agentExit = await Promise.race([sleep(durationMs).then(() => null), exited.then((code) => ({ code }))]);
  stopping = true;
  for (const t of [commander, restarter]) if (t) clearInterval(t);
  if (agentExit) throw new Error(`the agent exited early with code ${agentExit.code}; see ${agentLog}`);
  while (!broker) await sleep(100);
  // Freeze the counts: resume (the cycle may have left it paused) would add frames, so pause.
  commands.sent++;
  (broker as SoakBroker).publish(topics.command('pause'), JSON.stringify({ requestId: 'soak-final' }));
  const settled = await waitForSettled(() => lastStats, () => statsCount, 90_000);
  clearInterval(sampler);
  const final = await procSample(pid);
  const sigtermAt = performance.now();
  child.kill('SIGTERM');
  const code = await exited;
  const stopMs = performance.now() - sigtermAt;
  await sleep(500);
  await (broker as SoakBroker | null)?.close();
  const agentStderr = await readFile(agentLog, 'utf8');

  const stats = lastStats as StatsView | null;
  const produced = stats ? stats.frames - stats.errors : NaN;
  const warm = samples.filter((s) => s.t >= Math.min(60, durationMs / 10000));
  const baseline = median(warm.slice(0, 3).map((s) => s.rssMiB));
  const end = median(samples.slice(-3).map((s) => s.rssMiB));
  const result = {
    minutes: num('minutes'),
    machine: describeMachine(machineInfo()),
    settled,
    frames: stats?.frames ?? NaN,
    errors: stats?.errors ?? NaN,
    labelsProduced: produced,
    delivered: delivered.size,
    duplicates,
    lost: produced - delivered.size,
    droppedInAgent: stats?.dropped ?? NaN,
    brokerRestarts,
    commands,
    launch: values.launch!,
    rssMiB: { baseline, end, growth: end - baseline, max: Math.max(...samples.map((s) => s.rssMiB)), final: final.rssMiB, trendPerHour: slope(warm.map((s) => s.t / 3600), warm.map((s) => s.rssMiB)) },
    fds: { min: Math.min(...samples.map((s) => s.fds)), max: Math.max(...samples.map((s) => s.fds)) },
    threads: { min: Math.min(...samples.map((s) => s.threads)), max: Math.max(...samples.map((s) => s.threads)) },
    sigterm: { exitCode: code, ms: Math.round(stopMs) },
    agentWarnings: agentStderr.split('\n').filter((l) => / (warn|error) /.test(l)).length,
    samples,
  };
  await rm(work, { recursive: true, force: true });
  if (launch.buildDir) await rm(launch.buildDir, { recursive: true, force: true });
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${report(result)}\n`);
  if (!values['no-doc']) {
    const doc = await readFile(DOC, 'utf8').catch(() => '# Reliability\n');
    await writeFileAtomic(DOC, replaceDocSection(doc, SECTION, report(result)));
    log(`updated ${path.relative(process.cwd(), DOC)}: ${SECTION.slice(3)}`);
  }
  if (!settled || result.lost !== 0 || code !== 0) process.exitCode = 1;
}

/** Waits until two stats messages in a row show the same frame count and an empty queue. */
async function waitForSettled(stats: () => StatsView | null, count: () => number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let prev: StatsView | null = null;
  let seen = count();
  while (Date.now() < until) {
    await sleep(500);
    if (count() === seen) continue;
    seen = count();
    const s = stats();
    if (s && prev && s.frames === prev.frames && s.queueDepth === 0) return true;
    prev = s;
  }
  return false;
}

type Result = {
  minutes: number; machine: string; settled: boolean; frames: number; errors: number; labelsProduced: number; delivered: number; duplicates: number; lost: number;
  droppedInAgent: number; brokerRestarts: number; commands: { sent: number; ok: number; failed: number };
  launch: string; rssMiB: { baseline: number; end: number; growth: number; max: number; final: number; trendPerHour: number }; fds: { min: number; max: number }; threads: { min: number; max: number };
  sigterm: { exitCode: number | null; ms: number }; agentWarnings: number; samples: Sample[];
};

function report(r: Result): string {
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const every = Math.max(1, Math.ceil(r.samples.length / 24));
  const series = markdownTable(
    [{ header: 't (s)', align: 'right' }, { header: 'RSS (MiB)', align: 'right' }, { header: 'fds', align: 'right' }, { header: 'threads', align: 'right' }, { header: 'delivered', align: 'right' },
      { header: 'dropped', align: 'right' }, { header: 'queue', align: 'right' }, { header: 'broker', align: 'left' }],
    r.samples.filter((_, i) => i % every === 0 || i === r.samples.length - 1).map((s) => [f(s.t, 0), f(s.rssMiB), String(s.fds), String(s.threads), String(s.delivered), String(s.dropped),
      String(s.queueDepth), s.brokerUp ? 'up' : 'down']),
  );
  return [
    `\`${['node --import tsx scripts/soak.ts', ...process.argv.slice(2).filter((a) => a !== '--no-doc' && a !== '--json')].join(' ')}\`: ${r.minutes} min, agent started ` +
      `${r.launch === 'unit' ? 'from the build as edgeloom-agent.service starts it' : 'through bin/edgeloom.js in the checkout'}, ${r.machine}.`,
    '',
    `- Frames read ${r.frames}, bad frames counted ${r.errors}, labels produced ${r.labelsProduced}, delivered ${r.delivered} (distinct frame numbers; ${r.duplicates} QoS 1 duplicates), **lost ` +
      `${r.lost}**; dropped by the agent ${r.droppedInAgent}.`,
    `- Broker restarts ${r.brokerRestarts}; commands sent ${r.commands.sent} (ok ${r.commands.ok}, refused ${r.commands.failed}); agent warning/error log lines ${r.agentWarnings}.`,
    `- RSS ${f(r.rssMiB.baseline)} MiB after warm-up, ${f(r.rssMiB.end)} MiB at the end: **growth ${f(r.rssMiB.growth)} MiB** (least-squares trend over the samples after warm-up ` +
      `${f(r.rssMiB.trendPerHour)} MiB/h; max ${f(r.rssMiB.max)}); fds ${r.fds.min}-${r.fds.max}; threads ${r.threads.min}-${r.threads.max}.`,
    `- Counts settled before the stop: ${r.settled ? 'yes' : 'NO (figures incomplete)'}; SIGTERM: exit code ${r.sigterm.exitCode} after ${r.sigterm.ms} ms.`,
    '',
    series,
  ].join('\n');
}

await main();
