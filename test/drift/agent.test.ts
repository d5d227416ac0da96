import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import type { DriftPayload, StatsPayload } from '../../src/mqtt/payloads.ts';
import { loadDataset } from '../../training/data/load.ts';
import { agentConfig, makeWorkspace, Recorder, type Workspace } from '../device/helpers.ts';
import { driftFixture, shuffledOrder } from './fixture.ts';

/** The drift feature in a real agent: real broker, real model with a profile, PNG frames. */
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let broker: EmbeddedBroker;
let model: string;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' });
  model = join(ws.dir, 'profiled.onnx');
  await copyFile((await driftFixture()).model, model);
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

async function frames(count: number, invertFrom: number): Promise<Buffer[]> {
  const { test: t } = await loadDataset({});
  const order = shuffledOrder(t.count, 31).slice(0, count);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    let px = t.images.subarray(order[i] * 784, (order[i] + 1) * 784);
    if (i >= invertFrom) px = px.map((v) => 255 - v);
    out.push(await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
  }
  return out;
}

test('drift reports on <device>/<camera>/drift (retained); ok on clean frames, alert on inverted ones; status in stats', async () => {
  const id = 'driftdev';
  const topics = deviceTopics(id);
  const rec = await Recorder.connect(broker.url, topics.drift('cam0'));
  const stats = await Recorder.connect(broker.url, topics.stats);
  const cfg = await agentConfig(ws, { deviceId: id, source: 'file:/unused', fps: 120, mqttUrl: broker.url, model });
  cfg.drift.windowSize = 50;
  cfg.cameras[0].invert = 'never';
  const agent = await startAgent(cfg, quiet, { sources: new Map([['cam0', new MemorySource(await frames(200, 100))]]) });
  try {
    assert.ok(agent.features.some((f) => f.name === 'drift'));
    await agent.finished();
    await rec.waitFor('4 drift reports', () => rec.messages.length >= 4);
    const reports = rec.messages.map((m) => JSON.parse(m.text) as DriftPayload);
    assert.deepEqual(reports.map((r) => [r.window.first, r.window.last]), [[1, 50], [51, 100], [101, 150], [151, 200]]);
    assert.deepEqual(reports.map((r) => r.status), ['ok', 'ok', 'alert', 'alert']);
    assert.equal(reports[0].camera, 'cam0');
    assert.equal(reports[0].model.id, agent.ctx.model.current.ref.id);
    for (const r of reports) assert.deepEqual(Object.keys(r.metrics.accuracy).sort(), ['pValue', 'threshold', 'value', 'verdict']);
    assert.ok(reports[2].reasons.length > 0);
    assert.equal(agent.ctx.stats.drift.cam0.status, 'alert');
    await stats.waitFor('stats with drift', () => stats.messages.some((m) => (JSON.parse(m.text) as StatsPayload).drift?.cam0?.status === 'alert'));
    const late = await Recorder.connect(broker.url, topics.drift('cam0'));
    await late.waitFor('retained drift report', () => late.messages.length > 0);
    assert.equal(late.messages[0].retain, true);
    assert.equal((JSON.parse(late.messages[0].text) as DriftPayload).window.last, 200);
    await late.close();
  } finally {
    await agent.stop();
    await rec.close();
    await stats.close();
  }
});

test('drift: false in the config, or a model without a profile: no drift reports', async () => {
  const id = 'nodrift';
  const cfg = await agentConfig(ws, { deviceId: id, source: 'file:/unused', fps: 120, mqttUrl: broker.url, model });
  cfg.drift.enabled = false;
  const agent = await startAgent(cfg, quiet, { sources: new Map([['cam0', new MemorySource([])]]) });
  assert.ok(!agent.features.some((f) => f.name === 'drift'));
  await agent.stop();
  // The workspace's tiny model has no profile: the feature starts, logs, and stays idle.
  const cfg2 = await agentConfig(ws, { deviceId: 'noprofile', source: 'file:/unused', fps: 120, mqttUrl: broker.url });
  cfg2.drift.windowSize = 20;
  const rec = await Recorder.connect(broker.url, deviceTopics('noprofile').drift('cam0'));
  const agent2 = await startAgent(cfg2, quiet, { sources: new Map([['cam0', new MemorySource(await frames(40, 40))]]) });
  await agent2.finished();
  await agent2.stop();
  assert.equal(rec.messages.length, 0);
  assert.deepEqual(agent2.ctx.stats.drift, {});
  await rec.close();
});

test('the agent falls back to <model>.drift.json; a profile for other classes is refused in one line', async () => {
  const { loadDriftReference } = await import('../../device/features/drift.ts');
  const { loadModel } = await import('../../device/model.ts');
  const { parseModelMetadata, writeModelMetadata } = await import('../../src/onnx/metadata.ts');
  const { parseDriftReference, sidecarPath } = await import('../../src/drift/profile.ts');
  const { readFile, writeFile } = await import('node:fs/promises');
  const bytes = await readFile(model);
  const meta = parseModelMetadata(bytes)!;
  const bare = join(ws.dir, 'bare.onnx');
  await writeFile(bare, writeModelMetadata(bytes, { ...meta, driftReference: undefined }));
  const loaded = await loadModel(bare);
  try {
    assert.equal((await loadDriftReference(loaded)).ref, null);
    await writeFile(sidecarPath(bare), JSON.stringify(meta.driftReference));
    const { ref, from } = await loadDriftReference(loaded);
    assert.equal(from, sidecarPath(bare));
    assert.deepEqual(ref, parseDriftReference(meta.driftReference, 'metadata'));
    // A consistent profile of another, two-class model (no OOD part, which would hold ten class means).
    const other = { ...(meta.driftReference as Record<string, unknown>), classes: ['a', 'b'], predictedClasses: [1, 1], ood: null };
    await writeFile(sidecarPath(bare), JSON.stringify(other));
    await assert.rejects(loadDriftReference(loaded), (e: Error) => /drift reference lists 2 classes, the model 10$/.test(e.message));
  } finally {
    await loaded.session.close();
  }
});
