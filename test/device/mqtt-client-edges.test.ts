import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import mqttPacket, { writeToStream, type IConnectPacket, type IPublishPacket, type ISubscribePacket, type Packet } from 'mqtt-packet';
import { connack, scriptedPeer as startPeer, type Peer } from '../helpers/mqtt-peer.ts';
import { DeviceMqttClient, type MqttConnectionOptions, type Will } from '../../device/mqtt/client.ts';
import { MQTT_CONNECTION_DEFAULTS } from '../../device/mqtt/defaults.ts';
import { makeSelfSignedCert } from './broker-helpers.ts';
import { freePort } from './helpers.ts';

/**
 * DeviceMqttClient edges against a scripted MQTT peer, in-process: option defaults, the MQTT 5
 * fallback's limits, what goes on the wire for publish/subscribe, TLS verification, and stop.
 */

const will: Will = { topic: 'edgeloom/e/status', payload: 'offline', qos: 1, retain: true };
const fast = { reconnectMinMs: 50, reconnectMaxMs: 100, reconnectJitter: 0, connectTimeoutMs: 2000 };
const cleanups: (() => Promise<unknown>)[] = [];
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeloom-mqtt-edges-'));
});
after(async () => {
  // Last made, first stopped: a server's close waits for its clients' connections.
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

function client(opts: Partial<MqttConnectionOptions> & { url: string }) {
  const lines: string[] = [];
  const push = (m: string) => lines.push(m);
  const c = new DeviceMqttClient({ clientId: `e-${Math.random().toString(16).slice(2)}`, ...fast, ...opts }, will, { debug: push, info: push, warn: push, error: push });
  cleanups.push(() => c.stop());
  return { c, lines };
}

async function peer(answer: Parameters<typeof startPeer>[0]): Promise<Peer> {
  const p = await startPeer(answer);
  cleanups.push(() => p.close());
  return p;
}

/** The event, or a failure after 3 s (a hang would cost the mutation run its whole timeout). */
const once = (c: DeviceMqttClient, event: string) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event`)), 3000);
    c.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
const tick = () => new Promise((resolve) => setImmediate(resolve));

async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const connects = (p: Peer) => p.packets.filter((x): x is IConnectPacket => x.cmd === 'connect');

describe('DeviceMqttClient options and protocol fallback', () => {
  test('importing the client turns off mqtt-packet\'s packet-id number cache (agent memory)', () => {
    assert.equal(writeToStream.cacheNumbers, false);
  });

  test('options given as undefined keep their defaults (keepalive, protocol auto)', async () => {
    const p = await peer((x, version) => (x.cmd === 'connect' ? [connack(version === 5 ? 132 : 0)] : []));
    const { c } = client({ url: p.url, keepaliveS: undefined, protocol: undefined });
    c.start();
    await once(c, 'connect');
    assert.deepEqual(connects(p).map((x) => [x.protocolVersion, x.keepalive]), [[5, MQTT_CONNECTION_DEFAULTS.keepaliveS], [4, MQTT_CONNECTION_DEFAULTS.keepaliveS]]);
    assert.equal(c.protocol, '3.1.1');
    // The peer keeps the refused connection open (a broker should close it): the client cuts it.
    await until('the refused connection closed', () => p.sockets.size === 1);
  });

  test('auto: an MQTT 5 refusal for another reason (135 not authorized) is no fallback', async () => {
    const p = await peer((x) => (x.cmd === 'connect' ? [connack(135)] : []));
    const { c, lines } = client({ url: p.url });
    c.start();
    await until('two attempts', () => c.reconnectAttempts >= 2);
    assert.equal(c.protocol, '5');
    assert.ok(connects(p).every((x) => x.protocolVersion === 5));
    assert.equal(c.lastError?.code, 'CONNACK_REFUSED');
    assert.equal(c.lastError?.reasonCode, 135);
    assert.ok(!lines.some((l) => l.includes('falling back')), lines.join('\n'));
  });

  test('auto: an unreachable broker is no fallback; its error is not logged as a refusal', async () => {
    const port = await freePort();
    const { c, lines } = client({ url: `mqtt://127.0.0.1:${port}` });
    c.start();
    await until('two attempts', () => c.reconnectAttempts >= 2);
    assert.equal(c.protocol, '5');
    assert.equal(c.lastError?.code, 'ECONNREFUSED');
    const errors = lines.filter((l) => l.startsWith('mqtt: '));
    assert.deepEqual(errors, [`mqtt: ${c.lastError?.message}; retrying with backoff (50-100 ms)`]);
  });

  test('auto: MQTT 5 reason 132 falls back once; a 3.1.1 refusal of the version (1) is then an error, retried', async () => {
    const p = await peer((x, version) => (x.cmd === 'connect' ? [connack(version === 5 ? 132 : 1)] : []));
    const { c, lines } = client({ url: p.url });
    c.start();
    await until('two 3.1.1 attempts', () => connects(p).filter((x) => x.protocolVersion === 4).length >= 2);
    assert.equal(c.protocol, '3.1.1');
    assert.equal(lines.filter((l) => l.includes('falling back')).length, 1, lines.join('\n'));
    assert.equal(connects(p).filter((x) => x.protocolVersion === 5).length, 1);
    assert.equal(c.lastError?.code, 'CONNACK_REFUSED');
    assert.equal(c.lastError?.reasonCode, 1);
  });

  test('a fallback during an outage stays the same outage: one unreachable warning', async () => {
    // 1st CONNECT (MQTT 5) accepted, then the broker is swapped for a 3.1.1-only one that refuses us.
    let n = 0;
    const p = await peer((x, version) => {
      if (x.cmd !== 'connect') return [];
      n++;
      if (n === 1) return [connack()];
      return [connack(version === 5 ? 132 : 5)];
    });
    const { c, lines } = client({ url: p.url });
    c.start();
    await once(c, 'connect');
    for (const s of p.sockets) s.destroy();
    await until('refused on 3.1.1 twice', () => connects(p).filter((x) => x.protocolVersion === 4).length >= 2 && c.reconnectAttempts >= 1);
    assert.equal(c.protocol, '3.1.1');
    assert.equal(c.lastError?.reasonCode, 5);
    assert.equal(lines.filter((l) => l.includes('unreachable')).length, 1, lines.join('\n'));
  });

  test('a peer that closes the socket instead of answering CONNECT: CONNECTION_CLOSED', async () => {
    const p = await peer((x, _v, s) => {
      if (x.cmd === 'connect') s.destroy();
      return [];
    });
    const { c } = client({ url: p.url, protocol: '3.1.1', reconnectMinMs: 5000, reconnectMaxMs: 5000 });
    c.start();
    await until('the close', () => c.lastError !== null);
    assert.equal(c.lastError?.code, 'CONNECTION_CLOSED');
  });

  test('lastError is the latest attempt\'s reason: a refusal, then a bare close', async () => {
    let n = 0;
    const p = await peer((x, _v, s) => {
      if (x.cmd !== 'connect') return [];
      if (++n === 1) return [connack(5)];
      s.destroy();
      return [];
    });
    const { c } = client({ url: p.url, protocol: '3.1.1' });
    c.start();
    await until('the refusal', () => c.lastError?.code === 'CONNACK_REFUSED');
    await until('the second attempt closed', () => n >= 2 && c.lastError?.code === 'CONNECTION_CLOSED');
    assert.equal(c.lastError?.message, 'connection closed');
  });

  test('TLS: a self-signed broker certificate is refused unless rejectUnauthorized is false', async () => {
    const { cert, key } = await makeSelfSignedCert(dir);
    let secured = 0;
    const server: TlsServer = createTlsServer({ cert: await readFile(cert), key: await readFile(key) }, (s) => {
      secured++;
      s.on('error', () => {});
      s.once('data', () => s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])));
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `mqtts://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const strict = client({ url, protocol: '3.1.1', reconnectMinMs: 5000, reconnectMaxMs: 5000 }).c;
    strict.start();
    await until('the TLS error', () => strict.lastError !== null);
    assert.equal(strict.lastError?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.equal(strict.connected, false);
    await strict.stop();
    const lax = client({ url, protocol: '3.1.1', rejectUnauthorized: false }).c;
    lax.start();
    await once(lax, 'connect');
    assert.ok(secured >= 1);
    await lax.stop();
  });
});

describe('DeviceMqttClient publish, subscribe and stop on the wire', () => {
  const acking = (x: Packet, version: number): Packet[] => {
    if (x.cmd === 'connect') return [connack()];
    if (x.cmd === 'subscribe') return [{ cmd: 'suback', messageId: x.messageId, granted: x.subscriptions.map((s) => s.qos) } as Packet];
    if (x.cmd === 'publish' && x.qos === 1) return [{ cmd: 'puback', messageId: x.messageId, ...(version === 5 ? { reasonCode: 0 } : {}) } as Packet];
    return [];
  };

  test('publish without retain is not retained; subscribe asks for the QoS given; QoS 0 is never counted as unacked', async () => {
    const p = await peer(acking);
    const { c } = client({ url: p.url, protocol: '3.1.1' });
    c.start();
    await once(c, 'connect');
    // 64 KiB: more than the socket's buffer, so the write waits for 'drain' (the publish is pending).
    const zero = c.publish('w/zero', Buffer.alloc(64 * 1024, 'z'), { qos: 0 });
    assert.equal(c.oldestUnackedMs(Date.now() + 1000), 0, 'a QoS 0 publish waits for no ack');
    await zero;
    await c.publish('w/one', 'o', { qos: 1 });
    await c.subscribe('w/cmd/#', 1);
    const pubs = p.packets.filter((x): x is IPublishPacket => x.cmd === 'publish');
    assert.deepEqual(pubs.map((x) => [x.topic, x.qos, x.retain]), [['w/zero', 0, false], ['w/one', 1, false]]);
    const sub = p.packets.find((x): x is ISubscribePacket => x.cmd === 'subscribe');
    assert.deepEqual(sub?.subscriptions.map((s) => [s.topic, s.qos]), [['w/cmd/#', 1]]);
  });

  test('a QoS 0 publish while not connected fails at once and is not sent after the connect', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const p = await peer((x, version, s) => {
      if (x.cmd === 'connect') void held.then(() => s.write(mqttPacket.generate(connack(), { protocolVersion: version })));
      return [];
    });
    const { c } = client({ url: p.url, protocol: '3.1.1' });
    c.start();
    await until('the CONNECT', () => connects(p).length === 1);
    const early = c.publish('w/early', 'e', { qos: 0 }).then(() => 'sent', (e: Error) => e.message);
    release();
    await once(c, 'connect');
    assert.equal(await early, 'No connection to broker');
    await c.publish('w/later', 'l', { qos: 0 });
    await until('the later message', () => p.packets.some((x) => x.cmd === 'publish'));
    assert.deepEqual(p.packets.filter((x): x is IPublishPacket => x.cmd === 'publish').map((x) => x.topic), ['w/later'], 'the early QoS 0 message is gone');
  });

  test('stop without a last message, or while not connected: lastSent false', async () => {
    const p = await peer(acking);
    const a = client({ url: p.url, protocol: '3.1.1' }).c;
    a.start();
    await once(a, 'connect');
    assert.deepEqual(await a.stop(), { lastSent: false });
    const port = await freePort();
    const b = client({ url: `mqtt://127.0.0.1:${port}`, protocol: '3.1.1' }).c;
    b.start();
    await until('a failed attempt', () => b.lastError !== null);
    assert.deepEqual(await b.stop({ topic: 'w/status', payload: 'offline', opts: { qos: 1 } }), { lastSent: false });
  });

  test('stop: a last message the broker refuses (MQTT 5 PUBACK 135) is not sent; a clean disconnect does not wait for the end timeout', async () => {
    const p = await peer((x, version) => (x.cmd === 'publish' ? [{ cmd: 'puback', messageId: x.messageId, reasonCode: 135 } as Packet] : acking(x, version)));
    const { c } = client({ url: p.url, protocol: '5', stopEndTimeoutMs: 60_000 });
    c.start();
    await once(c, 'connect');
    const bound = new Promise((resolve) => setTimeout(resolve, 5000).unref()).then(() => 'still waiting');
    assert.deepEqual(await Promise.race([c.stop({ topic: 'w/status', payload: 'offline', opts: { qos: 1 } }), bound]), { lastSent: false });
    assert.ok(p.packets.some((x) => x.cmd === 'disconnect'), 'a clean DISCONNECT');
  });

  test('stop with a peer that never acks: in-flight publishes fail, and a reset during stop is no outage', async () => {
    const p = await peer((x) => (x.cmd === 'connect' ? [connack()] : []));
    const { c, lines } = client({ url: p.url, protocol: '3.1.1', reconnectMinMs: 5000, reconnectMaxMs: 5000, stopPublishTimeoutMs: 200, stopEndTimeoutMs: 100 });
    c.start();
    await once(c, 'connect');
    let offline = 0;
    c.on('offline', () => offline++);
    const inFlight: string[] = [];
    for (const t of ['w/1', 'w/2']) c.publish(t, 'x', { qos: 1 }).then(() => inFlight.push('acked'), (e: Error & { code?: string }) => inFlight.push(`${e.code}: ${e.message}`));
    await until('both sent', () => p.packets.filter((x) => x.cmd === 'publish').length === 2);
    const stopping = c.stop({ topic: 'w/status', payload: 'offline', opts: { qos: 1 } });
    await until('the last message sent', () => p.packets.filter((x) => x.cmd === 'publish').length === 3);
    for (const s of p.sockets) s.resetAndDestroy();
    assert.deepEqual(await stopping, { lastSent: false });
    await tick();
    assert.deepEqual(inFlight, Array(2).fill('MQTT_STOPPED: mqtt client stopped before the broker acked'));
    assert.equal(c.oldestUnackedMs(), 0);
    assert.equal(c.lastError, null);
    assert.equal(offline, 0);
    assert.deepEqual(lines, [`connected to ${p.url} (MQTT 3.1.1)`]);
  });
});
