import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ISubscribePacket, Packet } from 'mqtt-packet';
import { DeviceMqttClient } from '../../device/mqtt/client.ts';
import { connack, scriptedPeer, type Peer } from '../helpers/mqtt-peer.ts';

/**
 * A broker that keeps the link alive but never acks a SUBSCRIBE must not leave the subscription (the
 * commands feature's) pending forever: it fails with a code after subscribeTimeoutMs.
 */

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function connectedTo(answerSubscribe: (p: ISubscribePacket) => Packet[]): Promise<{ c: DeviceMqttClient; peer: Peer }> {
  const peer = await scriptedPeer((p) => {
    if (p.cmd === 'connect') return [connack()];
    if (p.cmd === 'pingreq') return [{ cmd: 'pingresp' } as Packet];
    if (p.cmd === 'subscribe') return answerSubscribe(p);
    return [];
  });
  const c = new DeviceMqttClient({ url: peer.url, clientId: 'sub-timeout', protocol: '3.1.1', subscribeTimeoutMs: 300 }, { topic: 's/status', payload: 'offline', qos: 1, retain: false }, quiet);
  cleanups.push(() => peer.close(), () => c.stop());
  const connected = new Promise<void>((resolve) => c.once('connect', () => resolve()));
  c.start();
  await connected;
  return { c, peer };
}

test('a SUBSCRIBE the broker never acks fails with MQTT_SUBSCRIBE_TIMEOUT, naming the filter', { timeout: 5000 }, async () => {
  const { c, peer } = await connectedTo(() => []);
  await assert.rejects(c.subscribe('s/cmd/+', 1), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MQTT_SUBSCRIBE_TIMEOUT');
    assert.match(err.message, /s\/cmd\/\+ within 300 ms/);
    return true;
  });
  assert.ok(peer.packets.some((p) => p.cmd === 'subscribe'), 'the SUBSCRIBE was sent');
  assert.equal(c.connected, true, 'the link itself stays up');
});

test('an acked SUBSCRIBE resolves', async () => {
  const { c } = await connectedTo((p) => [{ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((s) => s.qos) } as Packet]);
  let settled = 'pending';
  await c.subscribe('s/cmd/+', 1).then(() => (settled = 'resolved'), (err: Error) => (settled = `rejected: ${err.message}`));
  assert.equal(settled, 'resolved');
});

test('a SUBSCRIBE the broker refuses (SUBACK 0x80) rejects at once', { timeout: 5000 }, async () => {
  const { c } = await connectedTo((p) => [{ cmd: 'suback', messageId: p.messageId, granted: [0x80] } as Packet]);
  await assert.rejects(c.subscribe('s/cmd/+', 1), (err: Error & { code?: string }) => err.code !== 'MQTT_SUBSCRIBE_TIMEOUT');
});
