import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IConnectPacket } from 'mqtt-packet';
import { connack, scriptedPeer as startPeer, type Peer } from '../helpers/mqtt-peer.ts';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { updatePasswordFile } from '../../device/broker-auth.ts';
import { DeviceMqttClient, describeError, type MqttConnectionOptions, type Will } from '../../device/mqtt/client.ts';
import { Publisher } from '../../device/mqtt/publisher.ts';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { AgentStats } from '../../device/stats.ts';
import { UserError } from '../../src/errors.ts';
import { freePort, Recorder } from './helpers.ts';

/**
 * The MQTT client wrapper and the publisher, in-process: against the embedded broker (aedes,
 * which speaks MQTT 3.1.1 only) and against a scripted MQTT peer that records the packets it is
 * sent and answers (or does not) as each test needs.
 */

const will: Will = { topic: 'edgeloom/t/status', payload: 'offline', qos: 1, retain: true };
let dir: string;
let broker: EmbeddedBroker;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  dir = await mkdtemp(join(tmpdir(), 'edgeloom-mqtt-'));
  broker = await startBroker({ port: 0, host: '127.0.0.1' });
});
// A failing test leaves its clients and peers behind: stop them all here, so the process ends.
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

function logged() {
  const lines: string[] = [];
  const push = (m: string) => lines.push(m);
  return { lines, log: { debug: push, info: push, warn: push, error: push } };
}

const fast = { reconnectMinMs: 50, reconnectMaxMs: 100, reconnectJitter: 0, connectTimeoutMs: 2000 };

function client(opts: Partial<MqttConnectionOptions> & { url: string }, w: Will = will) {
  const { lines, log } = logged();
  const c = new DeviceMqttClient({ clientId: `t-${Math.random().toString(16).slice(2)}`, ...fast, ...opts }, w, log);
  cleanups.push(() => c.stop());
  return { c, lines };
}

function once(c: DeviceMqttClient, event: string): Promise<void> {
  return new Promise((resolve) => c.once(event, () => resolve()));
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The shared scripted peer, stopped with the rest after the tests. */
async function scriptedPeer(answer: Parameters<typeof startPeer>[0]): Promise<Peer> {
  const peer = await startPeer(answer);
  cleanups.push(() => peer.close());
  return peer;
}

describe('DeviceMqttClient connection', () => {
  test('before start: not connected, no error, publish and subscribe refuse, stop sends nothing', async () => {
    const { c } = client({ url: broker.url });
    assert.equal(c.connected, false);
    assert.equal(c.lastError, null);
    assert.equal(c.reconnectAttempts, 0);
    assert.equal(c.protocol, '5', 'auto starts with MQTT 5');
    await assert.rejects(c.publish('a', 'b', { qos: 1 }), /mqtt client not started/);
    await assert.rejects(c.subscribe('a', 1), /mqtt client not started/);
    assert.deepEqual(await c.stop({ topic: 'a', payload: 'b', opts: { qos: 1 } }), { lastSent: false });
    assert.equal(client({ url: broker.url, protocol: '3.1.1' }).c.protocol, '3.1.1');
  });

  test('CONNECT carries the client id, credentials, keepalive, clean session and the last will', async () => {
    const peer = await scriptedPeer((p) => (p.cmd === 'connect' ? [connack()] : []));
    const { c, lines } = client({ url: peer.url, clientId: 'edgeloom-pi7', username: 'pi7', password: 'pw7', keepaliveS: 17, protocol: '3.1.1' },
      { topic: 'edgeloom/pi7/status', payload: 'gone', qos: 2, retain: true });
    c.start();
    await once(c, 'connect');
    const connect = peer.packets[0] as IConnectPacket;
    assert.equal(connect.cmd, 'connect');
    assert.equal(connect.protocolVersion, 4);
    assert.equal(connect.clientId, 'edgeloom-pi7');
    assert.equal(connect.username, 'pi7');
    assert.equal(String(connect.password), 'pw7');
    assert.equal(connect.keepalive, 17);
    assert.equal(connect.clean, true);
    assert.equal(connect.will?.topic, 'edgeloom/pi7/status');
    assert.equal(String(connect.will?.payload), 'gone');
    assert.equal(connect.will?.qos, 2);
    assert.equal(connect.will?.retain, true);
    assert.deepEqual(lines, [`connected to ${peer.url} (MQTT 3.1.1)`]);
    assert.equal(c.connected, true);
    await c.stop();
    await peer.close();
  });

  test('auto: a broker that refuses MQTT 5 gets MQTT 3.1.1, and the refusal is no error', async () => {
    const { c, lines } = client({ url: broker.url });
    c.start();
    await once(c, 'connect');
    assert.equal(c.protocol, '3.1.1');
    assert.deepEqual(lines, ['broker refused MQTT 5; falling back to MQTT 3.1.1', `connected to ${broker.url} (MQTT 3.1.1)`]);
    assert.equal(c.lastError, null);
    assert.equal(c.reconnectAttempts, 0);
    await c.stop();
  });

  test('auto on an MQTT 5 broker stays on MQTT 5', async () => {
    const peer = await scriptedPeer((p) => (p.cmd === 'connect' ? [connack()] : []));
    const { c, lines } = client({ url: peer.url });
    c.start();
    await once(c, 'connect');
    assert.equal((peer.packets[0] as IConnectPacket).protocolVersion, 5);
    assert.deepEqual(lines, [`connected to ${peer.url} (MQTT 5)`]);
    await c.stop();
    await peer.close();
  });

  test('MQTT 5 forced: a refusal of the version is a CONNACK_REFUSED error, logged once, retried with backoff', async () => {
    const peer = await scriptedPeer((p) => (p.cmd === 'connect' ? [connack(132)] : []));
    const { c, lines } = client({ url: peer.url, protocol: '5' });
    c.start();
    await until('three attempts', () => c.reconnectAttempts >= 3);
    assert.equal(c.protocol, '5');
    assert.equal(c.connected, false);
    assert.equal(c.lastError?.code, 'CONNACK_REFUSED');
    assert.equal(c.lastError?.reasonCode, 132);
    assert.ok(peer.packets.filter((p) => p.cmd === 'connect').every((p) => (p as IConnectPacket).protocolVersion === 5));
    const refusals = lines.filter((l) => l.includes('refused the connection'));
    assert.equal(refusals.length, 1, lines.join('\n'));
    assert.match(refusals[0], new RegExp(`^mqtt: broker ${peer.url} refused the connection: .+ \\(reason 132\\); retrying with backoff \\(50-100 ms\\)$`));
    assert.equal(lines.filter((l) => l.includes('unreachable')).length, 1, 'one offline warning per outage');
    await c.stop();
    await peer.close();
  });

  test('a wrong password is CONNACK_REFUSED 4 and is retried (not given up); a refused 3.1.1 broker is no protocol fallback', async () => {
    const users = join(dir, 'users');
    await updatePasswordFile(users, 'pi', 'right');
    const secured = await startBroker({ port: 0, host: '127.0.0.1', users });
    cleanups.push(() => secured.close());
    try {
      const { c, lines } = client({ url: secured.url, username: 'pi', password: 'wrong', protocol: '3.1.1' });
      c.start();
      await until('two attempts', () => c.reconnectAttempts >= 2);
      assert.equal(c.lastError?.code, 'CONNACK_REFUSED');
      assert.equal(c.lastError?.reasonCode, 4);
      assert.ok(!Number.isNaN(Date.parse(c.lastError!.at)));
      assert.ok(lines.some((l) => l.startsWith(`mqtt: broker ${secured.url} refused the connection: `) && l.includes('(reason 4)')), lines.join('\n'));
      assert.ok(!lines.some((l) => l.includes('falling back')));
      await c.stop();
    } finally {
      await secured.close();
    }
  });

  test('an unreachable broker: ECONNREFUSED, one offline warning, the offline event; reconnects once it is there and says after how many attempts', async () => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const { c, lines } = client({ url, protocol: '3.1.1' });
    let offline = 0;
    c.on('offline', () => offline++);
    c.start();
    await until('two attempts', () => c.reconnectAttempts >= 2);
    assert.equal(c.lastError?.code, 'ECONNREFUSED');
    assert.ok(offline >= 1, 'the offline event');
    assert.deepEqual(lines.filter((l) => l.includes('unreachable')), [`broker ${url} unreachable; labels are queued until it is back`]);
    assert.equal(lines.filter((l) => l.startsWith('mqtt: ') && l.includes('ECONNREFUSED')).length, 1, 'the same error is logged once per outage');
    assert.ok(lines.some((l) => l.startsWith('mqtt: ') && l.endsWith('; retrying with backoff (50-100 ms)')));
    const b = await startBroker({ port, host: '127.0.0.1' });
    cleanups.push(() => b.close());
    try {
      await once(c, 'connect');
      assert.equal(c.reconnectAttempts, 0);
      assert.equal(c.lastError?.code, 'ECONNREFUSED', 'the last error is kept after a reconnect');
      assert.ok(lines.includes(`connected to ${url} (MQTT 3.1.1)`), 'the first connect says connected');
      // The broker goes away and comes back: a reconnect, counted.
      await b.close();
      await until('the loss', () => !c.connected);
      await until('a failed attempt', () => c.reconnectAttempts >= 1);
      const b2 = await startBroker({ port, host: '127.0.0.1' });
      cleanups.push(() => b2.close());
      try {
        const attempts = new Promise<number>((resolve) => c.once('connect', () => resolve(lines.length)));
        await attempts;
        assert.ok(lines.some((l) => new RegExp(`^reconnected to ${url} after \\d+ attempt\\(s\\)$`).test(l)), lines.join('\n'));
        assert.equal(lines.filter((l) => l.includes('unreachable')).length, 2, 'one warning per outage');
        await c.stop();
      } finally {
        await b2.close();
      }
    } finally {
      await b.close().catch(() => undefined);
    }
  });

  test('a peer that just closes the socket after CONNACK: CONNECTION_CLOSED', async () => {
    let n = 0;
    const peer = await scriptedPeer((p) => (p.cmd === 'connect' ? [connack()] : []));
    const { c } = client({ url: peer.url, protocol: '3.1.1', reconnectMinMs: 5000, reconnectMaxMs: 5000 });
    c.on('connect', () => {
      n++;
      for (const s of peer.sockets) s.end();
    });
    c.start();
    await until('the close', () => n === 1 && !c.connected && c.lastError !== null);
    assert.equal(c.lastError?.code, 'CONNECTION_CLOSED');
    assert.equal(c.lastError?.message, 'connection closed');
    await c.stop();
    await peer.close();
  });

  test('a peer that never answers CONNECT: CONNACK_TIMEOUT after connectTimeoutMs', async () => {
    const peer = await scriptedPeer(() => []);
    const { c } = client({ url: peer.url, protocol: '3.1.1', connectTimeoutMs: 100, reconnectMinMs: 5000, reconnectMaxMs: 5000 });
    c.start();
    await until('the timeout', () => c.lastError !== null);
    assert.equal(c.lastError?.code, 'CONNACK_TIMEOUT');
    await c.stop();
    await peer.close();
  });

  test('TLS files that cannot be read: one UserError naming the option and the file', () => {
    for (const what of ['ca', 'cert', 'key'] as const) {
      const { c } = client({ url: 'mqtts://127.0.0.1:1', [what]: join(dir, `no-${what}.pem`) });
      assert.throws(() => c.start(), (e: Error) => e instanceof UserError && e.message === `mqtt.tls.${what} ${join(dir, `no-${what}.pem`)}: cannot read (ENOENT)`);
    }
  });

  test('describeError: refusals, MQTT errors, errno codes, timeouts', () => {
    const d = (message: string, code?: number | string) => {
      const { at, ...rest } = describeError(Object.assign(new Error(message), code === undefined ? {} : { code }));
      assert.ok(!Number.isNaN(Date.parse(at)));
      return rest;
    };
    assert.deepEqual(d('Connection refused: Not authorized', 5), { code: 'CONNACK_REFUSED', reasonCode: 5, message: 'Connection refused: Not authorized' });
    assert.deepEqual(d('Disconnected: server shutting down', 139), { code: 'MQTT_ERROR', reasonCode: 139, message: 'Disconnected: server shutting down' });
    assert.deepEqual(d('connect ECONNRESET', 'ECONNRESET'), { code: 'ECONNRESET', message: 'connect ECONNRESET' });
    assert.deepEqual(d('connack timeout'), { code: 'CONNACK_TIMEOUT', message: 'connack timeout' });
    assert.deepEqual(d('Keepalive timeout'), { code: 'KEEPALIVE_TIMEOUT', message: 'Keepalive timeout' });
    assert.deepEqual(d('something odd'), { code: 'MQTT_ERROR', message: 'something odd' });
  });
});

describe('DeviceMqttClient publish, subscribe, stop', () => {
  test('publish and subscribe through the broker; retained messages are marked retained', async () => {
    const { c } = client({ url: broker.url, protocol: '3.1.1' });
    c.start();
    await once(c, 'connect');
    const got: { topic: string; payload: string; retain: boolean }[] = [];
    c.on('message', (m: { topic: string; payload: Buffer; retain: boolean }) => got.push({ topic: m.topic, payload: m.payload.toString(), retain: m.retain }));
    await c.publish('u/retained', 'kept', { qos: 1, retain: true });
    await c.subscribe('u/#', 1);
    await c.publish('u/live', Buffer.from('now'), { qos: 1 });
    await c.publish('u/zero', 'zero', { qos: 0 });
    await until('three messages', () => got.length === 3);
    assert.deepEqual(got, [{ topic: 'u/retained', payload: 'kept', retain: true }, { topic: 'u/live', payload: 'now', retain: false }, { topic: 'u/zero', payload: 'zero', retain: false }]);
    assert.equal(c.oldestUnackedMs(), 0);
    await c.publish('u/retained', '', { qos: 1, retain: true });
    await c.stop();
  });

  test('stop publishes the last message and disconnects cleanly: no will', async () => {
    const rec = await Recorder.connect(broker.url, 'edgeloom/stop/#');
    cleanups.push(() => rec.close());
    const { c } = client({ url: broker.url, protocol: '3.1.1' }, { topic: 'edgeloom/stop/status', payload: 'will', qos: 1, retain: false });
    c.start();
    await once(c, 'connect');
    assert.deepEqual(await c.stop({ topic: 'edgeloom/stop/status', payload: 'offline', opts: { qos: 1 } }), { lastSent: true });
    assert.equal(c.connected, false);
    await rec.waitFor('offline', () => rec.messages.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(rec.messages.map((m) => m.text), ['offline']);
    await rec.close();
  });

  test('a peer that never acks: the age of the oldest QoS 1 publish grows, and stop is bounded and cuts the socket', async () => {
    const peer = await scriptedPeer((p) => (p.cmd === 'connect' ? [connack()] : []));
    const { c } = client({ url: peer.url, protocol: '3.1.1', stopPublishTimeoutMs: 100, stopEndTimeoutMs: 100 });
    c.start();
    await once(c, 'connect');
    const t = Date.now();
    void c.publish('x/1', 'a', { qos: 1 }).catch(() => undefined);
    void c.publish('x/0', 'b', { qos: 0 });
    await until('both published', () => peer.packets.filter((p) => p.cmd === 'publish').length === 2);
    assert.ok(c.oldestUnackedMs(t + 5000) >= 5000 - 5 && c.oldestUnackedMs(t + 5000) <= 5000, 'the QoS 1 publish, not the QoS 0 one');
    const t0 = Date.now();
    assert.deepEqual(await c.stop({ topic: 'x/status', payload: 'offline', opts: { qos: 1 } }), { lastSent: false });
    assert.ok(Date.now() - t0 < 2000);
    await until('the socket cut', () => peer.sockets.size === 0);
    await peer.close();
  });
});

describe('Publisher', () => {
  async function setup(connect: boolean) {
    const { c } = client({ url: broker.url, protocol: '3.1.1' });
    const queue = new MemoryQueue();
    const stats = new AgentStats();
    const { lines, log } = logged();
    const pub = new Publisher(c, queue, stats, log);
    if (connect) {
      c.start();
      await once(c, 'connect');
    }
    return { c, queue, stats, pub, lines };
  }

  test('QoS 0 while offline is dropped and counted; sendLive says false; nothing queued', async () => {
    const { queue, stats, pub } = await setup(false);
    await pub.send('p/a', 'x', { qos: 0 });
    assert.deepEqual(stats.droppedByReason, { 'offline-qos0': 1 });
    assert.equal(queue.depth, 0);
    assert.equal(await pub.sendLive('p/a', 'x', { qos: 1 }), false);
    assert.equal(queue.depth, 0);
  });

  test('QoS 1 goes through the queue in order, also past a window of 32, and is committed once acked', async () => {
    const rec = await Recorder.connect(broker.url, 'p1/#');
    cleanups.push(() => rec.close());
    const { c, queue, stats, pub } = await setup(false);
    for (let i = 0; i < 40; i++) await pub.send(`p1/${i}`, String(i), { qos: 1 });
    assert.equal(queue.depth, 40, 'held while offline');
    assert.equal(await pub.drained(20), false, 'not drained while offline');
    c.start();
    assert.equal(await pub.drained(5000), true);
    assert.equal(queue.depth, 0);
    await rec.waitFor('40 labels', () => rec.messages.length >= 40);
    assert.deepEqual(rec.messages.map((m) => m.text), Array.from({ length: 40 }, (_, i) => String(i)));
    await pub.send('p1/zero', 'z', { qos: 0 });
    assert.equal(await pub.sendLive('p1/live', 'l', { qos: 1, retain: false }), true);
    await rec.waitFor('two more', () => rec.messages.length >= 42);
    assert.deepEqual(rec.messages.slice(40).map((m) => m.topic), ['p1/zero', 'p1/live']);
    assert.deepEqual(stats.droppedByReason, {});
    assert.equal(await pub.drained(0), true, 'an empty queue is drained at once');
    pub.stop();
    await c.stop();
    await rec.close();
  });

  test('retained QoS 1 messages keep their retain flag through the queue', async () => {
    const { c, pub } = await setup(true);
    await pub.send('p2/state', 'on', { qos: 1, retain: true });
    assert.equal(await pub.drained(5000), true);
    const rec = await Recorder.connect(broker.url, 'p2/#');
    cleanups.push(() => rec.close());
    await rec.waitFor('the retained copy', () => rec.messages.length >= 1);
    assert.deepEqual(rec.messages.map((m) => [m.text, m.retain]), [['on', true]]);
    await c.publish('p2/state', '', { qos: 1, retain: true });
    await rec.close();
    pub.stop();
    await c.stop();
  });

  test('stop: no more draining, and a waiter for the drain is released at once', async () => {
    const { c, queue, pub } = await setup(false);
    await pub.send('p3/a', 'a', { qos: 1 });
    const waiting = pub.drained(60_000);
    pub.stop();
    assert.equal(await waiting, false);
    c.start();
    await once(c, 'connect');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(queue.depth, 1, 'a stopped publisher sends nothing');
    await c.stop();
  });
});
