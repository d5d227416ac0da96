import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { agentConfig, checkLabelSchema, freePort, makeWorkspace, Recorder, sleep, type Workspace } from './helpers.ts';
import { shippedModelLabelsTrueClasses, labelsOnePerFrame, sigkillPublishesWill, sigtermStopsCleanly, storeAndForward, type BrokerHandle } from './scenarios.ts';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let port: number;
let broker: EmbeddedBroker | null = null;
const handle: BrokerHandle = {
  get url() {
    return `mqtt://127.0.0.1:${port}`;
  },
  async start() {
    broker = await startBroker({ port, host: '127.0.0.1' });
  },
  async stop() {
    await broker?.close();
    broker = null;
  },
};

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  port = await freePort();
  await handle.start();
});
after(async () => {
  await handle.stop();
  await rm(ws.dir, { recursive: true, force: true });
});

describe('agent with an in-process aedes broker', () => {
  test('the shipped default model labels known test images with their true classes (pinned names)', async () => {
  await shippedModelLabelsTrueClasses(handle, ws, 'aedes-known');
});

test('one label per frame with the label schema; bad frames are counted and skipped; MQTT 3.1.1 fallback', async () => {
    await labelsOnePerFrame(handle, ws, 'aedes-labels', '3.1.1');
  });

  test('commands: set-fps, pause/resume, snapshot, switch-model (broken keeps the old one), stats', async () => {
    const id = 'aedes-cmd';
    const topics = deviceTopics(id);
    const rec = await Recorder.connect(handle.url, `edgeloom/${id}/#`);
    const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 10, loop: true, mqttUrl: handle.url });
    cfg.commands.enabled = ['snapshot'];
    const agent = await startAgent(cfg, quiet);
    const labels = () => rec.on(topics.label('cam0')).map((m) => JSON.parse(m.text) as { frame: number; model: { id: string } });
    const result = async (name: Parameters<typeof topics.command>[0], body: unknown) => {
      const n = rec.on(topics.commandResult(name)).length;
      await rec.client.publishAsync(topics.command(name), JSON.stringify(body), { qos: 1 });
      await rec.waitFor(`${name} result`, () => rec.on(topics.commandResult(name)).length > n);
      return JSON.parse(rec.on(topics.commandResult(name))[n].text) as { ok: boolean; error?: string; requestId: string | null; data?: Record<string, any> };
    };
    try {
      await rec.waitFor('labels', () => labels().length >= 2);
      const oldModel = labels()[0].model.id;

      const fps = await result('set-fps', { fps: 25, requestId: 'r1' });
      assert.equal(fps.ok, true);
      assert.equal(fps.requestId, 'r1');
      assert.equal(agent.ctx.cameras.get('cam0')!.fps, 25);
      await rec.waitFor('info with the new fps', () => rec.on(topics.info).some((m) => (JSON.parse(m.text) as { cameras: { fps: number }[] }).cameras[0].fps === 25));
      const badFps = await result('set-fps', { fps: -1 });
      assert.equal(badFps.ok, false);
      assert.match(badFps.error!, /fps/);

      assert.equal((await result('pause', {})).ok, true);
      await sleep(300);
      const whilePaused = labels().length;
      await sleep(600);
      assert.equal(labels().length, whilePaused, 'no labels while paused');
      assert.equal((await result('resume', {})).ok, true);
      await rec.waitFor('labels after resume', () => labels().length > whilePaused + 2);

      const snap = await result('snapshot', { camera: 'cam0' });
      assert.equal(snap.ok, true);
      assert.equal(Buffer.from(snap.data!.imageBase64, 'base64').subarray(1, 4).toString(), 'PNG');
      assert.equal((await result('snapshot', { camera: 'nope' })).ok, false);

      const broken = await result('switch-model', { model: basename(ws.brokenModel) });
      assert.equal(broken.ok, false);
      assert.match(broken.error!, /broken\.onnx/);
      const n = labels().length;
      await rec.waitFor('labels after the failed switch', () => labels().length > n + 2);
      assert.ok(labels().slice(n).every((l) => l.model.id === oldModel), 'the old model keeps serving');

      const good = await result('switch-model', { model: basename(ws.model2) });
      assert.equal(good.ok, true);
      const newModel = (good.data!.model as { id: string }).id;
      assert.notEqual(newModel, oldModel);
      await rec.waitFor('labels from the new model', () => labels().some((l) => l.model.id === newModel));

      await rec.waitFor('a stats message', () => rec.on(topics.stats).length > 0, 3000);
      const stats = JSON.parse(rec.on(topics.stats).at(-1)!.text) as Record<string, any>;
      assert.ok(stats.cameras.cam0.frames > 0);
      for (const k of ['inferenceMs', 'errors', 'queueDepth', 'dropped', 'rssBytes', 'cpuPercent', 'uptimeS']) assert.ok(k in stats, k);
      checkLabelSchema(rec.on(topics.label('cam0')).at(-1)!.text);
    } finally {
      await agent.stop({ drainTimeoutMs: 1000 });
      await rec.close();
    }
  });

  test('store and forward: a 3 s broker outage loses no label and keeps the order', async () => {
    await storeAndForward(handle, ws, 'aedes-saf', 3000, 10);
  });

  test('labels queued while the broker was unreachable are delivered after an agent restart', async () => {
    const id = 'aedes-restart';
    const topics = deviceTopics(id);
    const downPort = await freePort();
    const downUrl = `mqtt://127.0.0.1:${downPort}`;
    const first = await startAgent(await agentConfig(ws, { deviceId: id, source: `dir:${ws.framesDir}`, fps: 50, mqttUrl: downUrl }), quiet);
    await first.finished();
    assert.equal(first.ctx.queue.depth, 4);
    await first.stop({ drainTimeoutMs: 100 });
    const b = await startBroker({ port: downPort, host: '127.0.0.1' });
    try {
      const rec = await Recorder.connect(downUrl, topics.label('cam0'));
      const second = await startAgent(await agentConfig(ws, { deviceId: id, source: `dir:${ws.framesDir}`, fps: 50, mqttUrl: downUrl }), quiet);
      await second.finished();
      await rec.waitFor('8 labels', () => rec.messages.length >= 8);
      await second.stop();
      const ts = rec.messages.map((m) => Date.parse((JSON.parse(m.text) as { ts: string }).ts));
      assert.deepEqual([...ts].sort((a, c) => a - c), ts, 'the queued labels come first, in order');
      assert.deepEqual(rec.messages.map((m) => (JSON.parse(m.text) as { frame: number }).frame), [1, 2, 4, 6, 1, 2, 4, 6]);
      await rec.close();
    } finally {
      await b.close();
    }
  });

  test('SIGTERM: the agent process finishes, delivers, publishes offline and exits 0', async () => {
    await sigtermStopsCleanly(handle, ws, 'aedes-term');
  });

  test('SIGKILL of the agent process -> offline through the last will', async () => {
    await sigkillPublishesWill(handle, ws, 'aedes-kill');
  });
});
