import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { startAgent, type Agent } from '../../device/agent.ts';
import { resolveAgentConfig, type AgentConfig } from '../../device/config.ts';
import { FEATURES } from '../../device/features/index.ts';
import type { Feature } from '../../device/context.ts';
import type { IncomingMessage } from '../../device/mqtt/client.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { deviceTopics, type CommandName, type Topics } from '../../src/mqtt/topics.ts';
import { Recorder } from './helpers.ts';
import { buildTinyModel } from './tiny-model.ts';

/**
 * The commands feature's edges, on a real aedes broker whose hooks play a factory broker's ACL: it
 * refuses the agent's subscription to its own `cmd/+` (the agent must say so) and, on demand, holds a
 * publish unacknowledged (a command that is still running when the feature stops). One agent; a
 * second commands feature is created from FEATURES on the same context under another device id, the
 * way the agent creates it, but started while the client is already connected.
 * The agent's ordinary runs and refusals are in commands-units.test.ts.
 */

interface Result { ok: boolean; command: string; requestId: string | null; code?: string; error?: string }

const REFUSED = 'c-edge';
let dir: string;
let aedes: Aedes;
let server: Server;
let url: string;
/** Agent publishes on these topics wait for their ack until the test releases them. */
const held = new Map<string, () => void>();
const holdTopics = new Set<string>();

/** Event-driven waits on things the recorder does not see (log lines, the agent's own messages, held publishes). */
class Signal {
  private waiters = new Set<() => void>();
  fire = (): void => {
    for (const w of this.waiters) w();
  };
  async until(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}
const signal = new Signal();

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  dir = await mkdtemp(join(tmpdir(), 'edgeloom-cmd-edges-'));
  await mkdir(join(dir, 'models'));
  await writeFile(join(dir, 'models', 'one.onnx'), buildTinyModel({ seed: 21 }));
  await writeFile(join(dir, 'models', 'junk.onnx'), Buffer.from('not an onnx model\n'.repeat(8)));
  aedes = await Aedes.createBroker({
    authorizeSubscribe: (_client, sub, done) => done(null, sub.topic === deviceTopics(REFUSED).commandFilter ? null : sub),
    authorizePublish: (_client, packet, done) => {
      if (!holdTopics.has(packet.topic)) return done(null);
      held.set(packet.topic, () => done(null));
      signal.fire();
    },
  });
  server = createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const commandsDef = () => FEATURES.find((f) => f.name === 'commands')!;

/**
 * An agent on the test broker with one idle camera and a command rate limit out of the way; every
 * log line it writes is kept and fires `signal`.
 */
async function startCommandsAgent(deviceId: string): Promise<{ cfg: AgentConfig; agent: Agent; lines: string[] }> {
  const cfg = await resolveAgentConfig({ model: join(dir, 'models', 'one.onnx'), source: 'file:/unused', fps: 50, deviceId, mqttUrl: url, statsInterval: 3600 }, {});
  cfg.queue.type = 'memory';
  Object.assign(cfg.commands, { burst: 1000, ratePerS: 1000 });
  const lines: string[] = [];
  const push = (m: string) => {
    lines.push(m);
    signal.fire();
  };
  const agent = await startAgent(cfg, { debug: () => {}, info: push, warn: push, error: push }, { sources: new Map([['cam0', new MemorySource([])]]) });
  return { cfg, agent, lines };
}

test('a refused command subscription is reported once; a feature started while connected subscribes, answers at qos.commands, '
  + 'ignores other topics and unknown names, and drops its listeners on stop', async () => {
  const rec = await Recorder.connect(url, 'edgeloom/#');
  const qosOf = new Map<string, number>();
  rec.client.on('message', (topic, _payload, packet) => qosOf.set(topic, packet.qos));
  const { cfg, agent, lines } = await startCommandsAgent(REFUSED);
  let second: Feature | null = null;
  try {
    await agent.finished();
    const subscribeWarnings = () => lines.filter((l) => l.startsWith('subscribe commands: '));
    await signal.until('the refused subscription reported', () => subscribeWarnings().length > 0);
    assert.match(subscribeWarnings()[0], /^subscribe commands: Subscribe error/);

    const mqtt = agent.ctx.mqtt;
    const listeners = () => [mqtt.listenerCount('connect'), mqtt.listenerCount('message')];
    const baseline = listeners();
    const topics: Topics = deviceTopics('c-edge2');
    second = await commandsDef().create({ ...agent.ctx, topics });
    assert.equal(mqtt.connected, true);
    await second.start();
    assert.deepEqual(listeners(), [baseline[0] + 1, baseline[1] + 1]);

    const results = (t: Topics, name: string) => rec.on(t.commandResult(name as CommandName)).map((m) => JSON.parse(m.text) as Result);
    const send = async (name: CommandName, body: unknown): Promise<Result> => {
      const n = results(topics, name).length;
      await rec.client.publishAsync(topics.command(name), JSON.stringify(body), { qos: 1 });
      await rec.waitFor(`${name} result`, () => results(topics, name).length > n, 3000);
      return results(topics, name)[n];
    };
    // An unknown command name, then the agent's own (unsubscribed) device's commands reach the client
    // but are nobody's: only the pause is answered, at the configured qos.commands (1).
    await rec.client.publishAsync(`${topics.commandFilter.slice(0, -1)}reboot`, '{}', { qos: 1 });
    const cam0 = agent.ctx.cameras.get('cam0')!;
    assert.deepEqual(await send('pause', { requestId: 'p' }), { ok: true, command: 'pause', requestId: 'p', data: { cameras: ['cam0'], paused: true } });
    assert.equal(cam0.paused, true);
    assert.equal(qosOf.get(topics.commandResult('pause')), cfg.mqtt.qos.commands);
    assert.equal(cfg.mqtt.qos.commands, 1, 'the default; a qos-0 publish would arrive as 0');
    const answered = rec.messages.filter((m) => m.topic.includes('/cmd/')).map((m) => m.topic);
    assert.deepEqual(answered.filter((t) => t.endsWith('/result')), [topics.commandResult('pause')]);

    // A model that fails validation (not a refused file) is code "failed", not the error's own code.
    const junk = await send('switch-model', { model: 'junk.onnx', requestId: 'j' });
    assert.deepEqual([junk.ok, junk.code, junk.requestId], [false, 'failed', 'j']);
    assert.ok(junk.error && !junk.error.includes('\n'));

    // Error texts of exactly 300 characters are kept whole (301 and more are cut: commands-units).
    const probe = await send('switch-model', { model: 'x.onnx' });
    assert.equal(probe.code, 'not-found');
    const name = `${'m'.repeat(300 - (probe.error!.length - 'x.onnx'.length) - '.onnx'.length)}.onnx`;
    const exact = await send('switch-model', { model: name });
    assert.equal(exact.error, probe.error!.replace('x.onnx', name));
    assert.equal(exact.error!.length, 300);

    assert.deepEqual(lines.filter((l) => l.startsWith('command ') && !/^command [a-z-]+: (ok|failed)/.test(l)), []);
    assert.equal(subscribeWarnings().length, 1, 'one SUBSCRIBE at connect, not one more before it');

    await second.stop();
    second = null;
    assert.deepEqual(listeners(), baseline);
    assert.deepEqual(lines.filter((l) => l.includes('queued command(s) not run')), [], 'nothing was waiting');
  } finally {
    await second?.stop();
    await agent.stop({ drainTimeoutMs: 0 });
    await rec.close();
  }
});

test('stopping the commands feature waits for the running command and reports the waiting ones it discards', async () => {
  const rec = await Recorder.connect(url, 'edgeloom/#');
  const { agent, lines } = await startCommandsAgent('c-stop');
  const topics = agent.ctx.topics;
  const heard: string[] = [];
  const onMessage = (m: IncomingMessage) => {
    heard.push(m.topic);
    signal.fire();
  };
  try {
    await agent.finished();
    await rec.waitFor('online', () => rec.on(topics.info).length > 0);
    agent.ctx.mqtt.on('message', onMessage);
    // The first command's result is held by the broker, so it is still running when the rest arrive.
    holdTopics.add(topics.commandResult('set-fps'));
    await rec.client.publishAsync(topics.command('set-fps'), '{"fps":4}', { qos: 1 });
    await rec.client.publishAsync(topics.command('pause'), '{}', { qos: 1 });
    await rec.client.publishAsync(topics.command('resume'), '{}', { qos: 1 });
    await signal.until('the agent heard all three', () => heard.length === 3 && held.size === 1);
    const commands = agent.features.find((f) => f.name === 'commands')!;
    const stopped = commands.stop();
    held.get(topics.commandResult('set-fps'))!();
    await stopped;
    assert.ok(lines.includes('commands: 2 queued command(s) not run (agent stopping)'), lines.join('\n'));
    assert.equal(agent.ctx.cameras.get('cam0')!.fps, 4, 'the running one finished');
    assert.equal(agent.ctx.cameras.get('cam0')!.paused, false, 'the waiting ones did not run');
  } finally {
    holdTopics.clear();
    for (const release of held.values()) release();
    held.clear();
    agent.ctx.mqtt.off('message', onMessage);
    await agent.stop({ drainTimeoutMs: 0 });
    await rec.close();
  }
});
