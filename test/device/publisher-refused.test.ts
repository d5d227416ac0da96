import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { DeviceMqttClient } from '../../device/mqtt/client.ts';
import type { PublisherOptions } from '../../device/mqtt/defaults.ts';
import { publishOutcome, reasonText, settleWindow } from '../../device/mqtt/publish-outcome.ts';
import { Publisher } from '../../device/mqtt/publisher.ts';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { AgentStats } from '../../device/stats.ts';
import { connack, scriptedPeer, type Peer } from '../helpers/mqtt-peer.ts';

/**
 * A broker that refuses one queued publish (MQTT 5 PUBACK reason >= 0x80) must not hold up every
 * label behind it: the publisher against a scripted MQTT 5 peer that answers each PUBLISH as the
 * test says, and the pure classification of the answers.
 */

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

const puback = (p: IPublishPacket, reasonCode = 0): Packet => ({ cmd: 'puback', messageId: p.messageId, reasonCode } as Packet);

/** A scripted MQTT 5 peer: CONNACK, then `onPublish` decides each PUBLISH's answer. */
async function peer(onPublish: (p: IPublishPacket, socket: import('node:net').Socket) => Packet[]): Promise<Peer> {
  const p = await scriptedPeer((packet, _version, socket) => {
    if (packet.cmd === 'connect') return [connack()];
    if (packet.cmd === 'publish') return onPublish(packet, socket);
    return [];
  });
  cleanups.push(() => p.close());
  return p;
}

const publishes = (p: Peer) => p.packets.filter((x): x is IPublishPacket => x.cmd === 'publish');
const texts = (ps: IPublishPacket[]) => ps.map((x) => String(x.payload));

async function publisher(url: string, opts: Partial<PublisherOptions> = {}, onLine: (line: string) => void = () => {}) {
  const lines: string[] = [];
  const push = (m: string) => {
    lines.push(m);
    onLine(m);
  };
  const log = { debug: push, info: () => {}, warn: push, error: push };
  const c = new DeviceMqttClient({ url, clientId: `refused-${Math.random().toString(16).slice(2)}`, protocol: '5', reconnectMinMs: 50, reconnectMaxMs: 100, reconnectJitter: 0 },
    { topic: 'r/status', payload: 'offline', qos: 1, retain: false }, log);
  const queue = new MemoryQueue();
  const stats = new AgentStats();
  const pub = new Publisher(c, queue, stats, log, { reconnectJitter: 0, ...opts });
  cleanups.push(async () => {
    pub.stop();
    await c.stop();
  });
  return { c, queue, stats, pub, lines };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('publish outcomes (pure)', () => {
  const rejected = (message: string, code?: unknown): PromiseSettledResult<void> => ({ status: 'rejected', reason: Object.assign(new Error(message), code === undefined ? {} : { code }) });

  test('permanent refusals, transient ones, errors without a reason code, and reason codes that are successes', () => {
    assert.deepEqual(publishOutcome({ status: 'fulfilled', value: undefined }), { kind: 'acked' });
    for (const [code, name] of [[0x87, 'Not authorized'], [0x90, 'Topic Name invalid'], [0x95, 'Packet too large'], [0x99, 'Payload format invalid'], [0x80, 'Unspecified error'],
      [0x83, 'Implementation specific error']] as const) {
      assert.deepEqual(publishOutcome(rejected(`Publish error: ${name}`, code)), { kind: 'refused', reasonCode: code, reason: `${name} (0x${code.toString(16)})` });
    }
    assert.deepEqual(publishOutcome(rejected('Publish error: Quota exceeded', 0x97)), { kind: 'retry', reasonCode: 0x97, reason: 'Quota exceeded (0x97)' });
    for (const code of [0x91, 0x88, 0x89, 0x93, 0x96]) assert.equal(publishOutcome(rejected('Publish error: x', code)).kind, 'retry', `0x${code.toString(16)}`);
    assert.deepEqual(publishOutcome(rejected('Connection closed')), { kind: 'retry', reason: 'Connection closed' });
    assert.deepEqual(publishOutcome(rejected('read ECONNRESET', 'ECONNRESET')), { kind: 'retry', reason: 'read ECONNRESET' });
    assert.deepEqual(publishOutcome({ status: 'rejected', reason: 'a string' }), { kind: 'retry', reason: 'a string' });
    assert.deepEqual(publishOutcome({ status: 'rejected', reason: undefined }), { kind: 'retry', reason: 'undefined' });
    for (const code of [0x87 + 0.5, -1, 0x100]) assert.equal(publishOutcome(rejected('odd', code)).kind, 'retry', String(code));
    // MQTT.js rejects every PUBACK reason but 0 and 0x10; below 0x80 they are successes.
    for (const code of [0x01, 0x10, 0x7f]) assert.deepEqual(publishOutcome(rejected('Publish error: undefined', code)), { kind: 'acked' });
  });

  test('reason text: the name MQTT.js gives, or the code alone', () => {
    assert.equal(reasonText('Publish error: Not authorized', 0x87), 'Not authorized (0x87)');
    assert.equal(reasonText('Publish error: undefined', 0xa3), 'reason 0xa3');
    assert.equal(reasonText('Publish error: ', 0x80), 'reason 0x80');
    assert.equal(reasonText('Disconnected', 0x8e), 'Disconnected (0x8e)');
  });

  test('a window settles up to its first transient failure; refusals before it are done, after it are not', () => {
    const ok: PromiseSettledResult<void> = { status: 'fulfilled', value: undefined };
    const denied = rejected('Publish error: Not authorized', 0x87);
    const quota = rejected('Publish error: Quota exceeded', 0x97);
    assert.deepEqual(settleWindow([ok, denied, ok, quota, denied, ok]), {
      done: 3, refused: [{ index: 1, reasonCode: 0x87, reason: 'Not authorized (0x87)' }], retry: { index: 3, reasonCode: 0x97, reason: 'Quota exceeded (0x97)' },
    });
    const notAuthorized = { reasonCode: 0x87, reason: 'Not authorized (0x87)' };
    assert.deepEqual(settleWindow([denied, denied]), { done: 2, refused: [{ index: 0, ...notAuthorized }, { index: 1, ...notAuthorized }], retry: null });
    assert.deepEqual(settleWindow([rejected('Connection closed'), ok]), { done: 0, refused: [], retry: { index: 0, reasonCode: undefined, reason: 'Connection closed' } });
    assert.deepEqual(settleWindow([]), { done: 0, refused: [], retry: null });
  });
});

describe('Publisher against a peer that refuses publishes', () => {
  test('0x87 on one topic: each refused message is dropped and counted once, never resent; the rest arrive in order; one warning; nothing loops', async () => {
    const p = await peer((pkt) => [puback(pkt, pkt.topic === 'r/denied' ? 0x87 : 0)]);
    const { c, queue, stats, pub, lines } = await publisher(p.url);
    c.start();
    await new Promise<void>((resolve) => c.once('connect', () => resolve()));
    // 60 messages, every 4th on the denied topic: two windows of 32, refusals in both.
    const sent = Array.from({ length: 60 }, (_, i) => ({ topic: i % 4 === 1 ? 'r/denied' : 'r/ok', payload: String(i) }));
    for (const m of sent) await pub.send(m.topic, m.payload, { qos: 1 });
    assert.equal(await pub.drained(5000), true, 'the refused messages do not block the queue');
    assert.equal(queue.depth, 0);
    assert.deepEqual(stats.droppedByReason, { refused: 15 });
    assert.deepEqual(stats.report(queue).dropped, { total: 15, byReason: { refused: 15 } }, 'the stats payload shows the refusals');
    const wire = publishes(p);
    assert.deepEqual(texts(wire.filter((x) => x.topic === 'r/ok')), sent.filter((m) => m.topic === 'r/ok').map((m) => m.payload), 'delivered once each, in order');
    assert.deepEqual(texts(wire.filter((x) => x.topic === 'r/denied')), sent.filter((m) => m.topic === 'r/denied').map((m) => m.payload), 'each refusal sent once, not retried');
    assert.deepEqual(lines, ['mqtt: the broker refused a message on r/denied: Not authorized (0x87); dropped, not retried (stats dropped.byReason.refused)']);
    // The old publisher re-sent the refused window every 200 ms: 400 ms of quiet shows it no longer does.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(publishes(p).length, 60, 'nothing is sent again');
    assert.equal(lines.length, 1);
  });

  test('the refusal warning: once per topic per interval, and the next one says how many were held back', async () => {
    const p = await peer((pkt) => [puback(pkt, pkt.topic.startsWith('w/denied') ? 0x87 : 0)]);
    const { c, pub, lines, stats } = await publisher(p.url, { publishWarnIntervalMs: 300 });
    c.start();
    await new Promise<void>((resolve) => c.once('connect', () => resolve()));
    for (let i = 0; i < 5; i++) await pub.send('w/denied/a', String(i), { qos: 1 });
    await pub.send('w/denied/b', 'b', { qos: 1 });
    assert.equal(await pub.drained(5000), true);
    assert.deepEqual(lines, [
      'mqtt: the broker refused a message on w/denied/a: Not authorized (0x87); dropped, not retried (stats dropped.byReason.refused)',
      'mqtt: the broker refused a message on w/denied/b: Not authorized (0x87); dropped, not retried (stats dropped.byReason.refused)',
    ], 'one line per topic, not per message');
    const t = performance.now();
    await until('the interval', () => performance.now() - t > 350);
    await pub.send('w/denied/a', 'late', { qos: 1 });
    assert.equal(await pub.drained(5000), true);
    assert.equal(lines.length, 3);
    assert.ok(lines[2].startsWith(`${lines[0]} (+4 more refused on w/denied/a in the last `), lines[2]);
    assert.match(lines[2], / in the last \d+ s\)$/);
    assert.deepEqual(stats.droppedByReason, { refused: 7 });
  });

  test('0x97 Quota exceeded keeps the message: retried with a growing backoff, then delivered once accepted, in order; later messages resent', async () => {
    let quota = 3;
    const at: number[] = [];
    const p = await peer((pkt) => {
      if (pkt.topic !== 'q/x') return [puback(pkt)];
      at.push(performance.now());
      return [puback(pkt, quota-- > 0 ? 0x97 : 0)];
    });
    // A label that comes while the publisher backs off (the warning is logged once the retry is
    // armed) waits for the retry: it does not start a drain of its own.
    let during: Promise<void> | null = null;
    const { c, queue, stats, pub, lines } = await publisher(p.url, { publishRetryMinMs: 40, publishRetryMaxMs: 1000 }, (line) => {
      if (line.includes('retrying in') && !during) during = pub.send('q/ok', '3', { qos: 1 });
    });
    await pub.send('q/ok', '0', { qos: 1 });
    await pub.send('q/x', '1', { qos: 1 });
    await pub.send('q/ok', '2', { qos: 1 });
    c.start();
    await until('the first refusal', () => during !== null);
    await during;
    assert.equal(await pub.drained(5000), true);
    assert.equal(queue.depth, 0);
    assert.deepEqual(stats.droppedByReason, {});
    // A message after a transient failure is sent again (at-least-once; a duplicate at QoS 1), and
    // the committed prefix is never resent.
    assert.deepEqual(texts(publishes(p)), ['0', '1', '2', '1', '2', '3', '1', '2', '3', '1', '2', '3']);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    // 40, 80, 160 ms: the retries back off instead of spinning (a timer fires late, never early).
    for (const [i, wait] of [40, 80, 160].entries()) assert.ok(gaps[i] >= wait - 2, `retry ${i + 1} after ${gaps[i].toFixed(1)} ms, expected >= ${wait}`);
    assert.deepEqual(lines, ['mqtt: the broker did not take a message on q/x: Quota exceeded (0x97); kept in the queue, retrying in 40 ms'], 'warned once per interval');
  });

  test('a connection dropped mid-window: the window is sent again from its first unacked message, in order; nothing lost or dropped', async () => {
    let connection = 0;
    const p = await scriptedPeer((pkt, _v, socket) => {
      if (pkt.cmd === 'connect') {
        connection++;
        return [connack()];
      }
      if (pkt.cmd !== 'publish') return [];
      const n = Number(String(pkt.payload));
      if (connection > 1) return [puback(pkt)];
      // First connection: acks 0 and 1, leaves 2-4 unacked, then drops the link after 4.
      if (n === 4) socket.destroy();
      return n < 2 ? [puback(pkt)] : [];
    });
    cleanups.push(() => p.close());
    const { c, queue, stats, pub } = await publisher(p.url);
    for (let i = 0; i < 5; i++) await pub.send('d/x', String(i), { qos: 1 });
    c.start();
    assert.equal(await pub.drained(5000), true);
    assert.equal(connection, 2);
    assert.equal(queue.depth, 0);
    assert.deepEqual(stats.droppedByReason, {});
    const wire = publishes(p);
    assert.deepEqual(texts(wire), ['0', '1', '2', '3', '4', '2', '3', '4']);
    const reconnect = p.packets.findLastIndex((x) => x.cmd === 'connect');
    assert.deepEqual(p.packets.slice(reconnect).filter((x) => x.cmd === 'publish').map((x) => String((x as IPublishPacket).payload)), ['2', '3', '4'], 'resent on the new connection');
  });
});
