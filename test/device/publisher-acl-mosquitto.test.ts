import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceMqttClient } from '../../device/mqtt/client.ts';
import { Publisher } from '../../device/mqtt/publisher.ts';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { AgentStats } from '../../device/stats.ts';
import { findMosquitto, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { Recorder } from './helpers.ts';

/**
 * An integrator's ACL that denies the agent one of its topics (here drift) on a real mosquitto 2:
 * the labels on the allowed topics still arrive. Why MQTT 5 matters: mosquitto 2 answers a denied
 * QoS 1 PUBLISH from an MQTT 5 client with PUBACK 0x87 Not authorized (measured on 2.0.11, the
 * first test), which the agent counts as `refused`; an MQTT 3.1.1 client gets a plain PUBACK for
 * the message mosquitto threw away (the second test), so the agent cannot see the denial at all.
 */

const binary = findMosquitto();
const skip = binary ? false : 'mosquitto is not installed (apt-get install -y mosquitto); skipping the mosquitto tests';

let dir: string;
let broker: Mosquitto;

describe('publisher against mosquitto with a topic ACL', { skip }, () => {
  before(async () => {
    process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
    dir = await mkdtemp(join(tmpdir(), 'edgeloom-acl-'));
    await chmod(dir, 0o755); // mosquitto started as root reads its ACL after dropping to user mosquitto
    // No rule = denied; the agent may write under edgeloom/acl/ except its drift topic.
    await writeFile(join(dir, 'acl'), 'user agent\ntopic write edgeloom/acl/#\ntopic deny edgeloom/acl/drift\n\nuser watcher\ntopic read edgeloom/#\n');
    broker = await startMosquitto(binary!, dir, 'acl', `acl_file ${join(dir, 'acl')}\n`);
  });
  after(async () => {
    await broker?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function run(protocol: '5' | '3.1.1') {
    const rec = await Recorder.connect(broker.url, 'edgeloom/acl/#', { username: 'watcher' });
    const lines: string[] = [];
    const push = (m: string) => lines.push(m);
    const log = { debug: push, info: () => {}, warn: push, error: push };
    const will = { topic: 'edgeloom/acl/status', payload: 'offline', qos: 1 as const, retain: false };
    const c = new DeviceMqttClient({ url: broker.url, clientId: `acl-agent-${protocol}`, username: 'agent', protocol }, will, log);
    const queue = new MemoryQueue();
    const stats = new AgentStats();
    const pub = new Publisher(c, queue, stats, log);
    c.start();
    try {
      await new Promise<void>((resolve) => c.once('connect', () => resolve()));
      // A drift status after every third label: the denied topic sits between allowed ones in every window.
      for (let i = 0; i < 40; i++) {
        await pub.send('edgeloom/acl/labels/cam0', `label ${i}`, { qos: 1 });
        if (i % 3 === 2) await pub.send('edgeloom/acl/drift', `drift ${i}`, { qos: 1 });
      }
      assert.equal(await pub.drained(10_000), true, 'the denied topic does not hold up the queue');
      await rec.waitFor('40 labels', () => rec.on('edgeloom/acl/labels/cam0').length >= 40);
      assert.deepEqual(rec.on('edgeloom/acl/labels/cam0').map((m) => m.text), Array.from({ length: 40 }, (_, i) => `label ${i}`), 'in order, once each');
      assert.deepEqual(rec.on('edgeloom/acl/drift'), [], 'mosquitto delivers no denied message');
      return { stats, lines, queue };
    } finally {
      pub.stop();
      await c.stop();
      await rec.close();
    }
  }

  test('MQTT 5: mosquitto refuses the denied topic with 0x87; the refusals are counted and warned once, the labels arrive', async () => {
    const { stats, lines, queue } = await run('5');
    assert.deepEqual(stats.droppedByReason, { refused: 13 });
    assert.deepEqual(stats.report(queue).dropped, { total: 13, byReason: { refused: 13 } });
    const warning = 'mqtt: the broker refused a message on edgeloom/acl/drift: Not authorized (0x87); dropped, not retried (stats dropped.byReason.refused)';
    assert.deepEqual(lines.filter((l) => l.includes('refused')), [warning]);
  });

  test('MQTT 3.1.1: mosquitto acks the denied publish and drops it; the agent cannot tell (nothing counted), the labels arrive', async () => {
    const { stats, lines } = await run('3.1.1');
    assert.deepEqual(stats.droppedByReason, {});
    assert.deepEqual(lines.filter((l) => l.includes('refused')), []);
  });
});
