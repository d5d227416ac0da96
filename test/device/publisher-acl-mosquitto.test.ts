import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from '../../device/agent.ts';
import type { HttpFeatureHandle } from '../../device/features/http.ts';
import { METRIC_NAMES } from '../../device/features/metrics.ts';
import { DeviceMqttClient } from '../../device/mqtt/client.ts';
import { Publisher } from '../../device/mqtt/publisher.ts';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { AgentStats } from '../../device/stats.ts';
import { findMosquitto, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { parseExposition, sampleValue } from '../monitoring/exposition.ts';
import { agentConfig, makeWorkspace, Recorder } from './helpers.ts';

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
    await writeFile(join(dir, 'acl'), ['user agent', 'topic write edgeloom/acl/#', 'topic deny edgeloom/acl/drift', '',
      // The whole agent (below): its own subtree, commands included, but for camera cam1's labels.
      'user line7', 'topic readwrite edgeloom/line7/#', 'topic deny edgeloom/line7/cam1/label', '', 'user watcher', 'topic read edgeloom/#', ''].join('\n'));
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

  test('the agent whose ACL denies one camera\'s label topic: the other camera\'s labels arrive, /metrics and stats count the refusals', async () => {
    const ws = await makeWorkspace();
    const rec = await Recorder.connect(broker.url, 'edgeloom/line7/#', { username: 'watcher' });
    const cfg = await agentConfig(ws, { deviceId: 'line7', source: `dir:${ws.framesDir}`, fps: 120, mqttUrl: broker.url, httpPort: 0 });
    cfg.mqtt.username = 'line7';
    cfg.cameras.push({ ...cfg.cameras[0], id: 'cam1' });
    const agent = await startAgent(cfg, { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} });
    try {
      await agent.finished();
      assert.equal(await agent.ctx.publisher.drained(10_000), true, 'the refused labels do not hold up the queue');
      const { stats } = agent.ctx;
      const cam0 = stats.camera('cam0').labels;
      const cam1 = stats.camera('cam1').labels;
      assert.ok(cam0 > 0 && cam1 > 0);
      await rec.waitFor('cam0 labels', () => rec.on('edgeloom/line7/cam0/label').length >= cam0);
      assert.equal(rec.on('edgeloom/line7/cam1/label').length, 0);
      assert.equal(stats.droppedByReason.refused, cam1);
      const http = agent.features.find((f) => f.name === 'http') as unknown as HttpFeatureHandle;
      const metrics = parseExposition(await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text());
      assert.equal(sampleValue(metrics, METRIC_NAMES.dropped, { reason: 'refused' }), cam1);
      // The stats message (every second here) says it too, on a topic the ACL allows.
      const counted = (m: { text: string }) => (JSON.parse(m.text) as { dropped: { byReason: Record<string, number> } }).dropped.byReason.refused === cam1;
      await rec.waitFor('a stats message with the refusals', () => rec.on('edgeloom/line7/stats').some(counted));
    } finally {
      await agent.stop({ drainTimeoutMs: 1000 });
      await rec.close();
      await rm(ws.dir, { recursive: true, force: true });
    }
  });
});
