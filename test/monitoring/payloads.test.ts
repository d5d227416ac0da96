import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import type { DriftPayload, LabelPayload, StatsPayload } from '../../src/mqtt/payloads.ts';
import { agentConfig, checkLabelSchema, makeWorkspace, Recorder, type Workspace } from '../device/helpers.ts';

/** What dashboards need from the payloads: ids inside them, per-camera stats, a retained last label. */
const ROOT = join(import.meta.dirname, '..', '..');
let ws: Workspace;
let broker: EmbeddedBroker;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

test('label and drift payloads name their device and camera; stats break errors and latency down per camera; a late subscriber gets the last label, retained, throttled to one a second', async () => {
  const id = 'late';
  const topics = deviceTopics(id);
  const rec = await Recorder.connect(broker.url, `edgeloom/${id}/#`);
  const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 40, maxFrames: 60, mqttUrl: broker.url, model: join(ROOT, 'models/default.onnx') });
  cfg.cameras.push({ ...cfg.cameras[0], id: 'side', fps: 40 });
  cfg.drift.windowSize = 20;
  cfg.statsIntervalS = 0.5;
  const started = Date.now();
  const agent = await startAgent(cfg, { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} });
  await agent.finished();
  const elapsedS = (Date.now() - started) / 1000;
  await rec.waitFor('stats', () => rec.on(topics.stats).length > 0);
  await agent.stop({ drainTimeoutMs: 1000 });
  try {
    for (const camera of ['cam0', 'side']) {
      const labels = rec.on(topics.label(camera)).map((m) => checkLabelSchema(m.text) as unknown as LabelPayload);
      assert.equal(labels.length, 60);
      assert.ok(labels.every((l) => l.device === id && l.camera === camera));
      const drift = rec.on(topics.drift(camera)).map((m) => JSON.parse(m.text) as DriftPayload);
      assert.ok(drift.length >= 3 && drift.every((d) => d.device === id && d.camera === camera));

      const last = rec.on(topics.lastLabel(camera));
      // 60 frames at 40 fps take ~1.5 s: a message per started second, plus the final one at stop.
      assert.ok(last.length >= 1 && last.length <= Math.ceil(elapsedS) + 2, `${last.length} last-label messages in ${elapsedS.toFixed(1)} s`);
      const late = await Recorder.connect(broker.url, topics.lastLabel(camera));
      await late.waitFor('retained last label', () => late.messages.length > 0);
      assert.equal(late.messages[0].retain, true);
      const retained = checkLabelSchema(late.messages[0].text) as unknown as LabelPayload;
      assert.equal(retained.frame, 60, 'the retained copy is the newest label');
      assert.deepEqual(retained, labels.at(-1));
      await late.close();
    }
    const stats = JSON.parse(rec.on(topics.stats).at(-1)!.text) as StatsPayload;
    assert.deepEqual(Object.keys(stats.cameras).sort(), ['cam0', 'side']);
    assert.deepEqual(stats.cameras.cam0.errorsByReason, {});
    assert.ok(stats.cameras.cam0.inferenceMs.p95 >= stats.cameras.cam0.inferenceMs.p50 && stats.cameras.cam0.inferenceMs.p50 > 0);
  } finally {
    await rec.close();
  }
});

test('per-camera error reasons and latency windows in the stats report', async () => {
  const { AgentStats } = await import('../../device/stats.ts');
  const s = new AgentStats(4);
  s.error('a', 'undecodable');
  s.error('a', 'undecodable');
  s.error('b', 'source');
  for (const ms of [1, 2, 3, 4, 100]) s.labelled('a', ms);
  s.labelled('b', 7);
  const r = s.report({ depth: 0, dropped: { total: 0, byReason: {} } });
  assert.deepEqual(r.cameras.a.errorsByReason, { undecodable: 2 });
  assert.deepEqual(r.cameras.b.errorsByReason, { source: 1 });
  assert.deepEqual(r.errors.byReason, { undecodable: 2, source: 1 });
  assert.deepEqual(r.cameras.a.inferenceMs, { p50: 3, p95: 100 }, 'the window keeps the last 4 of camera a');
  assert.deepEqual(r.cameras.b.inferenceMs, { p50: 7, p95: 7 });
  assert.equal(r.inferenceMs.count, 6);
});
