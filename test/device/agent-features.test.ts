import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import type { HttpFeatureHandle } from '../../device/features/http.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { agentConfig, checkLabelSchema, makeWorkspace, Recorder, type Workspace } from './helpers.ts';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let broker: EmbeddedBroker;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

describe('agent features', () => {
  test('odd, huge, truncated and empty frames are counted by reason; the next frame is still processed', async () => {
    const good = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#884422' } }).jpeg().toBuffer();
    const frames = [
      good,
      good.subarray(0, 40), // truncated JPEG
      Buffer.alloc(0),
      Buffer.alloc(5000, 7), // bigger than maxFrameBytes below
      await sharp({ create: { width: 1, height: 1, channels: 4, background: '#ffffff80' } }).png().toBuffer(), // 1x1 with alpha
      await sharp({ create: { width: 3, height: 900, channels: 3, background: '#000' } }).toColourspace('rgb16').png().toBuffer(), // 16-bit, extreme aspect
      Buffer.from('GIF89a but not really'),
      good,
      await sharp({ create: { width: 64, height: 48, channels: 3, background: '#884422' } }).toColourspace('rgb16').png().toBuffer(), // 16-bit: a good image
    ];
    const id = 'odd';
    const rec = await Recorder.connect(broker.url, deviceTopics(id).label('cam0'));
    const cfg = await agentConfig(ws, { deviceId: id, source: 'file:/unused', fps: 50, mqttUrl: broker.url });
    cfg.maxFrameBytes = 4000;
    const agent = await startAgent(cfg, quiet, { sources: new Map([['cam0', new MemorySource(frames)]]) });
    await agent.finished();
    await rec.waitFor('labels', () => rec.messages.length >= 3);
    await agent.stop();
    // 1x1 and a 3x900 strip are unusable (counted errors, docs/preprocessing.md); 16-bit is labelled.
    assert.deepEqual(rec.messages.map((m) => checkLabelSchema(m.text).frame), [1, 8, 9]);
    assert.deepEqual(agent.ctx.stats.errorsByReason, { undecodable: 2, 'empty-frame': 1, 'frame-too-large': 1, 'frame-too-small': 1, 'frame-extreme-aspect': 1 });
    assert.equal(agent.ctx.stats.camera('cam0').frames, 9);
    await rec.close();
  });

  test('/healthz and Prometheus /metrics on the HTTP port; Home Assistant discovery when enabled', async () => {
    const id = 'feat';
    const topics = deviceTopics(id);
    const rec = await Recorder.connect(broker.url, 'homeassistant/#');
    const agent = await startAgent(await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 20, loop: true, mqttUrl: broker.url, httpPort: 0, homeAssistant: true }), quiet);
    try {
      await rec.waitFor('discovery', () => rec.messages.length > 0);
      const disc = JSON.parse(rec.messages[0].text) as { availability_topic: string; components: Record<string, { state_topic: string }> };
      assert.equal(rec.messages[0].topic, topics.homeAssistantConfig);
      const late = await Recorder.connect(broker.url, topics.homeAssistantConfig);
      await late.waitFor('retained discovery', () => late.messages.length > 0);
      assert.equal(late.messages[0].retain, true, 'discovery is retained');
      await late.close();
      assert.equal(disc.availability_topic, topics.status);
      assert.equal(disc.components.cam0_label.state_topic, topics.label('cam0'));

      const http = agent.features.find((f) => f.name === 'http') as unknown as HttpFeatureHandle;
      const base = `http://127.0.0.1:${http.port}`;
      for (let i = 0; i < 50 && agent.ctx.stats.inferenceCount < 3; i++) await new Promise((r) => setTimeout(r, 50));
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { mqttConnected: boolean }).mqttConnected, true);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /edgeloom_frames_total\{camera="cam0",device="feat"\} [1-9]/);
      assert.match(metrics, /edgeloom_inference_seconds_bucket\{le="0.001",device="feat",camera="cam0"\} \d/);
      assert.match(metrics, /edgeloom_queue_depth\{device="feat"\} \d/);
      assert.match(metrics, /edgeloom_mqtt_connected\{device="feat"\} 1/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      await agent.stop({ drainTimeoutMs: 1000 });
      await rec.close();
    }
  });

  test('an unusable source (missing directory) ends that camera with the reason instead of retrying forever', async () => {
    const agent = await startAgent(await agentConfig(ws, { deviceId: 'nodir', source: `dir:${ws.dir}/missing`, mqttUrl: broker.url }), quiet);
    await agent.finished();
    await agent.stop({ drainTimeoutMs: 100 });
    assert.match(agent.ctx.cameras.get('cam0')!.fatal ?? '', /missing: cannot list the directory \(ENOENT\)/);
  });

  test('the embedded broker also speaks MQTT over WebSocket', async () => {
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}`);
    const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
    await client.subscribeAsync('ws/test');
    await client.publishAsync('ws/test', 'hello over ws');
    assert.equal(await got, 'hello over ws');
    await client.endAsync();
  });
});
