import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { DeviceMqttClient } from '../../device/mqtt/client.ts';
import { Publisher } from '../../device/mqtt/publisher.ts';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { AgentStats } from '../../device/stats.ts';
import type { Logger } from '../../src/log.ts';

/** What the mutation run of the publisher found unpinned (docs/testing.md). */

let broker: EmbeddedBroker;
before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  broker = await startBroker({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
});

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function deviceClient(clientId: string, log: Logger = quiet): DeviceMqttClient {
  return new DeviceMqttClient({ url: broker.url, clientId, protocol: '3.1.1' }, { topic: 'pe/status', payload: 'offline', qos: 1, retain: false }, log);
}

/** Starts the client and resolves once it is connected to the test broker. */
function connect(c: DeviceMqttClient): Promise<void> {
  const connected = new Promise<void>((resolve) => c.once('connect', () => resolve()));
  c.start();
  return connected;
}

test('draining the queue until it is empty logs nothing', async () => {
  const lines: string[] = [];
  const push = (m: string) => lines.push(m);
  const log = { debug: push, info: push, warn: push, error: push };
  const c = deviceClient('pub-edges', log);
  const pub = new Publisher(c, new MemoryQueue(), new AgentStats(), log);
  try {
    await connect(c);
    lines.length = 0;
    await pub.send('pe/ok', 'x', { qos: 1 });
    assert.equal(await pub.drained(5000), true);
    assert.deepEqual(lines, [], 'an emptied queue is no error');
  } finally {
    pub.stop();
    await c.stop();
  }
});

test('a stopped publisher leaves no listener on the client, so publishers can come and go on one client', () => {
  const c = deviceClient('pub-listeners');
  const before = c.listenerCount('connect');
  for (let i = 0; i < 3; i++) {
    const pub = new Publisher(c, new MemoryQueue(), new AgentStats(), quiet);
    assert.equal(c.listenerCount('connect'), before + 1, 'a running publisher listens for reconnects');
    pub.stop();
  }
  assert.equal(c.listenerCount('connect'), before);
});

test('a stopped publisher sends nothing more: what is queued after stop stays queued for the next start', async () => {
  const c = deviceClient('pub-stopped');
  const queue = new MemoryQueue();
  const pub = new Publisher(c, queue, new AgentStats(), quiet);
  try {
    await connect(c);
    await pub.send('pe/before', 'x', { qos: 1 });
    assert.equal(await pub.drained(5000), true, 'a running publisher drains');
    pub.stop();
    await pub.send('pe/after', 'y', { qos: 1 });
    assert.equal(await pub.drained(300), false);
    assert.equal(queue.depth, 1, 'kept on the queue, not sent');
  } finally {
    await c.stop();
  }
});
