import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { startAgent } from '../../device/agent.ts';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { agentConfig, freePort, makeWorkspace, Recorder, sleep, type Workspace } from './helpers.ts';
import { FAST_MQTT, framesOnDisk, mountTmpfs, spawnAgent, TcpProxy } from './faults.ts';

/**
 * Broker and disk faults against the real agent process: every label (its `frame` number) arrives
 * at least once, the agent labels on through the fault, and SIGTERM ends it within 5 s.
 */
let ws: Workspace;
let broker: EmbeddedBroker;
let proxy: TcpProxy;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: await freePort(), host: '127.0.0.1' });
  proxy = await TcpProxy.start(broker.port);
});
after(async () => {
  await proxy.close();
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

interface Label {
  frame: number;
  ts: number;
}

function labelsOf(rec: Recorder, topic: string): Label[] {
  return rec.on(topic).map((m) => {
    const p = JSON.parse(m.text) as { frame: number; ts: string };
    return { frame: p.frame, ts: Date.parse(p.ts) };
  });
}

/** True when frames 1..max all arrived (duplicates allowed: QoS 1 is at-least-once). */
function complete(labels: Label[], max: number): boolean {
  const seen = new Set(labels.map((l) => l.frame));
  for (let f = 1; f <= max; f++) if (!seen.has(f)) return false;
  return true;
}

function missing(labels: Label[], max: number): number[] {
  const seen = new Set(labels.map((l) => l.frame));
  return Array.from({ length: max }, (_, i) => i + 1).filter((f) => !seen.has(f));
}

const highest = (labels: Label[]) => labels.reduce((m, l) => Math.max(m, l.frame), 0);

function agentSettings(deviceId: string, queueDir: string, extra: Record<string, unknown> = {}) {
  return {
    deviceId,
    model: ws.model,
    mqtt: { url: proxy.url, ...FAST_MQTT },
    queue: { dir: queueDir },
    cameras: [{ id: 'cam0', source: 'fashion-mnist:test', fps: 20, loop: true }],
    ...extra,
  };
}

/** Replays what a stopped agent left on disk: a second process with one frame of its own. */
async function replay(deviceId: string, queueDir: string): Promise<void> {
  const agent = await spawnAgent(ws.dir, agentSettings(deviceId, queueDir, { maxFrames: 1 }));
  assert.equal(await agent.exited(), 0, agent.stderr().slice(-800));
}

describe('fault injection: broker link', () => {
  test('proxy down, then black-holed, then SIGTERM while black-holed: nothing lost, labelling goes on, exit within 5 s', { timeout: 90_000 }, async () => {
    const id = 'fault-link';
    const topic = deviceTopics(id).label('cam0');
    const queueDir = join(ws.dir, `queue-${id}`);
    const rec = await Recorder.connect(broker.url, topic);
    proxy.set('up');
    const agent = await spawnAgent(ws.dir, agentSettings(id, queueDir));
    try {
      await rec.waitFor('first labels', () => rec.messages.length >= 5, 20_000);

      for (const mode of ['down', 'black-hole'] as const) {
        const from = Date.now();
        proxy.set(mode);
        await sleep(2500);
        const to = Date.now();
        proxy.set('up');
        await rec.waitFor(`labels from the ${mode} outage`, () => labelsOf(rec, topic).some((l) => l.ts > to), 20_000);
        const labels = labelsOf(rec, topic);
        assert.ok(labels.filter((l) => l.ts > from && l.ts < to).length >= 20, `labelled during the ${mode} outage (20 fps x 2.5 s)`);
        await rec.waitFor(`every label up to ${highest(labels)} after the ${mode} outage`, () => complete(labelsOf(rec, topic), highest(labels)), 20_000);
      }
      await agent.waitForLog(/Keepalive timeout|connack timeout/, 1000);

      proxy.set('black-hole');
      await sleep(500);
      const { code, ms } = await agent.terminate();
      assert.ok(ms < 5000, `SIGTERM while black-holed took ${Math.round(ms)} ms`);
      assert.equal(code, 0, agent.stderr().slice(-800));
      const onDisk = await framesOnDisk(queueDir);
      assert.ok(onDisk.length > 0, 'labels of the black-holed last second are kept on disk');
      const last = Math.max(highest(labelsOf(rec, topic)), ...onDisk);
      const replayFrom = Date.now();
      proxy.set('up');
      await replay(id, queueDir);
      const firstRun = labelsOf(rec, topic).filter((l) => l.ts < replayFrom);
      assert.deepEqual(missing(firstRun, last), [], 'every label of the first run arrived, the last ones after the restart');
    } finally {
      agent.child.kill('SIGKILL');
      await rec.close();
    }
  });
});

describe('fault injection: full disk', () => {
  test('queue on a tmpfs filled to ENOSPC, then grown: labels held in memory, nothing lost, SIGTERM within 5 s; a restart after a SIGTERM on a full disk keeps every label on disk',
    { timeout: 120_000 }, async (t) => {
    const id = 'fault-disk';
    const topic = deviceTopics(id).label('cam0');
    const queueDir = join(ws.dir, `queue-${id}`);
    // 64 KiB: committed.json plus ~100 labels, filled in ~5 s at 20 fps.
    const fs = await mountTmpfs(queueDir, 64 * 1024);
    if (typeof fs === 'string') {
      t.skip(fs);
      return;
    }
    const rec = await Recorder.connect(broker.url, topic);
    try {
      // 1. Broker away, disk fills; the agent keeps labelling into memory; the disk grows, the broker returns.
      proxy.set('down');
      let agent = await spawnAgent(ws.dir, agentSettings(id, queueDir));
      await agent.waitForLog(/disk full \(ENOSPC/, 30_000);
      await sleep(1500);
      await fs.resize(4 * 1024 * 1024);
      await agent.waitForLog(/writable again/, 5000);
      const onDisk = await framesOnDisk(queueDir);
      proxy.set('up');
      await rec.waitFor('labels after the outage', () => rec.messages.length > 0, 20_000);
      const upTo = Math.max(...onDisk) + 40; // labelled after the disk grew and the broker came back
      await rec.waitFor(`every label up to ${upTo}`, () => complete(labelsOf(rec, topic), upTo), 20_000);
      let stop = await agent.terminate();
      assert.ok(stop.ms < 5000, `SIGTERM took ${Math.round(stop.ms)} ms`);
      assert.equal(stop.code, 0, agent.stderr().slice(-800));
      assert.match(agent.stderr(), /disk full/);
      const first = labelsOf(rec, topic);
      assert.deepEqual(missing(first, highest(first)), []);

      // 2. The reported bug: SIGTERM on a full disk never exited, and the next start deleted its own segment.
      await fs.resize(64 * 1024);
      proxy.set('down');
      const secondFrom = Date.now();
      agent = await spawnAgent(ws.dir, agentSettings(id, queueDir));
      await agent.waitForLog(/disk full \(ENOSPC/, 30_000);
      await sleep(500);
      stop = await agent.terminate();
      assert.ok(stop.ms < 5000, `SIGTERM on a full disk took ${Math.round(stop.ms)} ms`);
      assert.equal(stop.code, 0, agent.stderr().slice(-800));
      assert.match(agent.stderr(), /could not be written \(ENOSPC\) and are lost with this stop/, 'labels only in memory are reported');
      const kept = (await framesOnDisk(queueDir)).sort((a, b) => a - b);
      assert.ok(kept.length >= 40, `labels on the full disk: ${kept.length}`);
      assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => i + 1), 'the disk holds frames 1..n');
      await fs.resize(4 * 1024 * 1024);
      proxy.set('up');
      const replayFrom = Date.now();
      await replay(id, queueDir);
      const second = labelsOf(rec, topic).filter((l) => l.ts > secondFrom && l.ts < replayFrom);
      assert.deepEqual(missing(second, kept.length), [], 'every label on disk was delivered after the restart');
    } finally {
      await rec.close();
      await fs.unmount();
    }
  });
});

describe('fault injection: credentials', () => {
  test('wrong password at the broker, then fixed: the agent retries with growing backoff, reports why, labels on and delivers everything', { timeout: 60_000 }, async () => {
    let agentPassword = 'old-secret';
    const attempts: number[] = [];
    let onAttempt = () => {};
    const aedes = await Aedes.createBroker({
      authenticate(_client, username, password, done) {
        if (username === 'recorder') return done(null, true);
        attempts.push(performance.now());
        onAttempt();
        if (username === 'cam' && password?.toString() === agentPassword) return done(null, true);
        done(Object.assign(new Error('bad username or password'), { returnCode: 4 as const }), false);
      },
    });
    const tcp = createServer(aedes.handle);
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const url = `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
    const id = 'fault-auth';
    const topic = deviceTopics(id).label('cam0');
    const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
    const rec = await Recorder.connect(url.replace('mqtt://', 'mqtt://recorder:x@'), topic);
    const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 20, maxFrames: 80, mqttUrl: url });
    Object.assign(cfg.mqtt, { username: 'cam', password: 'new-secret', reconnectMinMs: 100, reconnectMaxMs: 800 });
    const agent = await startAgent(cfg, quiet);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${attempts.length} connection attempt(s) in 10 s: the agent stopped retrying`)), 10_000);
        onAttempt = () => attempts.length >= 6 && (clearTimeout(timer), resolve());
      });
      const mqtt = agent.ctx.mqtt;
      assert.equal(mqtt.connected, false);
      assert.equal(mqtt.lastError?.code, 'CONNACK_REFUSED');
      assert.equal(mqtt.lastError?.reasonCode, 4);
      assert.match(mqtt.lastError!.message, /Bad username or password/);
      assert.ok(!Number.isNaN(Date.parse(mqtt.lastError!.at)));
      assert.ok(mqtt.reconnectAttempts >= 5);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
      // Waits drawn from [50%, 100%] of 100, 200, 400, 800, 800 ms: the fourth is over the first's maximum.
      assert.ok(gaps[3] > 220, `backoff grows: ${gaps.map(Math.round).join(', ')} ms`);
      assert.ok(Math.max(...gaps) < 800 + 400, `backoff is capped: ${gaps.map(Math.round).join(', ')} ms`);
      assert.ok(agent.ctx.stats.camera('cam0').labels > 0 && agent.ctx.queue.depth > 0, 'labelling goes on into the queue');

      agentPassword = 'new-secret'; // the operator fixes the broker's password file
      await rec.waitFor('all 80 labels', () => complete(labelsOf(rec, topic), 80), 20_000);
      assert.equal(mqtt.connected, true);
      assert.equal(mqtt.reconnectAttempts, 0);
      const t0 = performance.now();
      await agent.stop();
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      await agent.stop();
      await rec.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  });
});

describe('fault injection: stop', () => {
  test('SIGTERM while a command: source hangs in a read: offline is published and the process is gone within 5 s', { timeout: 60_000 }, async () => {
    const id = 'fault-hung-source';
    const status = deviceTopics(id).status;
    const rec = await Recorder.connect(broker.url, status);
    proxy.set('up');
    // `; true` keeps the shell from exec-ing sleep: the hung child is a grandchild, as with real wrappers.
    const agent = await spawnAgent(ws.dir, agentSettings(id, join(ws.dir, `queue-${id}`), { cameras: [{ id: 'cam0', source: 'command:sleep 30; true', fps: 1 }] }));
    try {
      await rec.waitFor('online', () => rec.messages.some((m) => m.text === 'online'), 20_000);
      await sleep(300);
      const { code, ms } = await agent.terminate();
      assert.ok(ms < 5000, `SIGTERM took ${Math.round(ms)} ms`);
      assert.equal(rec.messages.at(-1)?.text, 'offline');
      // Exit 0 once the source can be interrupted; until then the watchdog ends the process (exit 1).
      assert.ok(code === 0 || /stop did not complete within 4500 ms; exiting/.test(agent.stderr()), `exit ${code}: ${agent.stderr().slice(-600)}`);
    } finally {
      agent.child.kill('SIGKILL');
      await rec.close();
    }
  });
});
