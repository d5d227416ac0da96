import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startAgent } from '../../device/agent.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { TcpProxy } from './faults.ts';
import { agentConfig, checkLabelSchema, firstDeliveries, Recorder, sleep, type Workspace } from './helpers.ts';

/** A broker the scenarios can stop and start again on the same port (aedes in-process or mosquitto). */
export interface BrokerHandle {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** Every frame read gives one label (with the exact schema) or one counted error; the agent goes on. */
export async function labelsOnePerFrame(broker: BrokerHandle, ws: Workspace, deviceId: string, expectProtocol: '5' | '3.1.1'): Promise<void> {
  const topics = deviceTopics(deviceId);
  const rec = await Recorder.connect(broker.url, `edgeloom/${deviceId}/#`);
  const agent = await startAgent(await agentConfig(ws, { deviceId, source: `dir:${ws.framesDir}`, fps: 20, mqttUrl: broker.url }), quiet);
  await agent.finished();
  assert.equal(agent.ctx.mqtt.protocol, expectProtocol, 'MQTT 5 first, 3.1.1 when the broker refuses it');
  await agent.stop();
  await rec.waitFor('offline status', () => rec.on(topics.status).at(-1)?.text === 'offline');
  const labels = rec.on(topics.label('cam0'));
  const frames = labels.map((m) => checkLabelSchema(m.text).frame);
  // Sorted names: f0.jpg f1.png f1b-garbage.jpg f2.jpg f2b-empty.png f3.png -> frames 3 and 5 fail.
  assert.deepEqual(frames, [1, 2, 4, 6]);
  assert.deepEqual(labels.map((m) => (JSON.parse(m.text) as { file?: string }).file), ['f0.jpg', 'f1.png', 'f2.jpg', 'f3.png'], 'dir: labels name their file');
  assert.deepEqual(agent.ctx.stats.errorsByReason, { undecodable: 1, 'empty-frame': 1 });
  assert.equal(rec.on(topics.status)[0].text, 'online');
  const info = JSON.parse(rec.on(topics.info)[0].text) as { model: { id: string }; provider: string; cameras: { id: string }[] };
  assert.equal(info.provider, 'cpu');
  assert.deepEqual(info.cameras.map((c) => c.id), ['cam0']);
  assert.equal(info.model.id, (JSON.parse(labels[0].text) as { model: { id: string } }).model.id);
  await rec.close();
}

/** The broker goes away mid-run; labels wait in the queue and all arrive, in order, once it is back. */
export async function storeAndForward(broker: BrokerHandle, ws: Workspace, deviceId: string, outageMs: number, fps: number): Promise<void> {
  const topics = deviceTopics(deviceId);
  const total = Math.ceil(fps * (outageMs / 1000 + 3));
  let rec = await Recorder.connect(broker.url, topics.label('cam0'));
  // The agent reaches the broker through a proxy that stays shut after the restart until the
  // recorders have subscribed again: otherwise an agent that reconnects first delivers its queue
  // to a broker nobody is subscribed to yet (the labels arrive, but the test cannot see them).
  const proxy = await TcpProxy.start(Number(new URL(broker.url).port));
  const agent = await startAgent(await agentConfig(ws, { deviceId, source: 'fashion-mnist:test', fps, maxFrames: total, mqttUrl: proxy.url }), quiet);
  try {
    await rec.waitFor('first labels', () => rec.messages.length >= 3);
    const before = [...rec.messages];
    await rec.close();
    proxy.set('down');
    await broker.stop();
    await sleep(outageMs);
    assert.ok(agent.ctx.queue.depth > 0, 'labels were queued during the outage');
    assert.ok((agent.ctx.stats.droppedByReason['offline-qos0'] ?? 0) > 0, 'QoS 0 stats while offline are counted as dropped');
    await broker.start();
    rec = await Recorder.connect(broker.url, `edgeloom/${deviceId}/+/label`);
    const status = await Recorder.connect(broker.url, topics.status);
    proxy.set('up');
    // The restarted broker kept no retained messages: `online` is there because the agent re-sent it.
    await status.waitFor('online re-sent after the reconnect', () => status.messages.some((m) => m.text === 'online'));
    await status.close();
    const all = () => firstDeliveries([...before, ...rec.messages]);
    await rec.waitFor(`all ${total} labels`, () => all().length >= total, 30_000);
    assert.deepEqual(all(), Array.from({ length: total }, (_, i) => i + 1), 'every label arrives, in order');
  } finally {
    await agent.stop({ drainTimeoutMs: 1000 });
    await rec.close();
    await proxy.close();
  }
}

function spawnAgent(ws: Workspace, url: string, deviceId: string) {
  const child = spawn(process.execPath, [
    join(import.meta.dirname, '../../bin/edgeloom.js'), 'agent',
    '--source', 'fashion-mnist:test', '--loop', '--fps', '5', '--mqtt-url', url, '--device-id', deviceId,
    '--model', ws.model, '--queue-dir', join(ws.dir, `queue-${deviceId}`),
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'warn' } });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, stderr: () => stderr };
}

/** SIGTERM: the agent finishes the frame in flight, delivers its labels, says `offline` and exits 0. */
export async function sigtermStopsCleanly(broker: BrokerHandle, ws: Workspace, deviceId: string): Promise<void> {
  const topics = deviceTopics(deviceId);
  const rec = await Recorder.connect(broker.url, `edgeloom/${deviceId}/#`);
  const { child, stderr } = spawnAgent(ws, broker.url, deviceId);
  try {
    await rec.waitFor('labels from the child agent', () => rec.on(topics.label('cam0')).length >= 2, 30_000);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `exit code (stderr: ${stderr().slice(0, 300)})`);
    await rec.waitFor('offline', () => rec.on(topics.status).at(-1)?.text === 'offline');
    const frames = firstDeliveries(rec.on(topics.label('cam0')));
    assert.deepEqual(frames, Array.from({ length: frames.length }, (_, i) => i + 1), 'no label lost before the exit');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rec.close();
  }
}

/** A SIGKILLed agent process cannot say goodbye: the broker publishes its `offline` will. */
export async function sigkillPublishesWill(broker: BrokerHandle, ws: Workspace, deviceId: string): Promise<void> {
  const topics = deviceTopics(deviceId);
  const rec = await Recorder.connect(broker.url, topics.status);
  const { child, stderr } = spawnAgent(ws, broker.url, deviceId);
  try {
    await rec.waitFor('online from the child agent', () => rec.messages.some((m) => m.text === 'online'), 30_000);
    const onlineAt = rec.messages.findIndex((m) => m.text === 'online');
    child.kill('SIGKILL');
    await rec.waitFor('offline via the last will', () => rec.messages.slice(onlineAt + 1).some((m) => m.text === 'offline'), 15_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}; agent stderr: ${stderr().slice(0, 500)}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rec.close();
  }
}

/**
 * Fashion-MNIST's class names in its own README's order, written out here on purpose: the product's
 * list (src/classes.ts) and the names inside the shipped model must agree with this, not with
 * themselves.
 */
export const PINNED_FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface KnownImages {
  dir: string;
  /** True class per file, in the agent's (name) order. */
  truth: number[];
}

/** The first `perClass` official test images of every class, as 28x28 PNG files named in frame order. */
export async function writeKnownTestImages(dir: string, perClass: number): Promise<KnownImages> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const sharp = (await import('sharp')).default;
  const { loadDataset } = await import('../../training/data/load.ts');
  const ds = await loadDataset();
  await mkdir(dir, { recursive: true });
  const truth: number[] = [];
  const seen = new Array<number>(10).fill(0);
  for (let i = 0; i < ds.test.count && truth.length < perClass * 10; i++) {
    const label = ds.test.labels[i];
    if (seen[label]++ >= perClass) continue;
    const png = await sharp(Buffer.from(ds.test.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
    await writeFile(join(dir, `img${String(truth.length).padStart(3, '0')}.png`), png);
    truth.push(label);
  }
  return { dir, truth };
}

const SHIPPED_DEFAULT = new URL('../../models/default.onnx', import.meta.url).pathname;

/**
 * End to end with the shipped default model: every published label names the true class of a
 * known test image (pinned names), `classId` is its index and `top[0]` the same class. The only
 * frames allowed to differ are those the model itself gets wrong when run directly (no agent code).
 */
export async function shippedModelLabelsTrueClasses(broker: BrokerHandle, ws: Workspace, deviceId: string): Promise<void> {
  const known = await writeKnownTestImages(join(ws.dir, `known-${deviceId}`), 2);
  const { createOnnxSession } = await import('../../src/onnx/session.ts');
  const { readFile, readdir } = await import('node:fs/promises');
  const sharp = (await import('sharp')).default;
  const session = await createOnnxSession(SHIPPED_DEFAULT);
  const direct: number[] = [];
  for (const f of (await readdir(known.dir)).sort()) {
    const raw = await sharp(await readFile(join(known.dir, f))).greyscale().raw().toBuffer();
    const logits = (await session.run(Float32Array.from(raw, (v) => v / 255), 1)).logits;
    direct.push(logits.indexOf(Math.max(...logits)));
  }
  await session.close();
  const right = direct.filter((p, i) => p === known.truth[i]).length;
  assert.ok(right >= 17, `the shipped model gets ${right}/20 known images right when run directly`);

  const topics = deviceTopics(deviceId);
  const rec = await Recorder.connect(broker.url, topics.label('cam0'));
  const agent = await startAgent(await agentConfig({ ...ws, model: SHIPPED_DEFAULT }, { deviceId, source: `dir:${known.dir}`, fps: 50, mqttUrl: broker.url }), quiet);
  await agent.finished();
  await rec.waitFor('20 labels', () => new Set(rec.on(topics.label('cam0')).map((m) => (JSON.parse(m.text) as { frame: number }).frame)).size === 20);
  await agent.stop();
  await rec.close();
  const byFrame = new Map<number, { label: string; classId: number; top: { label: string; classId: number }[] }>();
  for (const m of rec.on(topics.label('cam0'))) {
    const p = JSON.parse(m.text) as { frame: number; label: string; classId: number; top: { label: string; classId: number }[] };
    byFrame.set(p.frame, p);
  }
  for (let i = 0; i < known.truth.length; i++) {
    const p = byFrame.get(i + 1)!;
    assert.equal(p.classId, direct[i], `frame ${i + 1}: the agent's class is the model's own argmax`);
    assert.equal(p.label, PINNED_FASHION_MNIST_CLASSES[p.classId], `frame ${i + 1}: label is the name of classId`);
    assert.deepEqual([p.top[0].classId, p.top[0].label], [p.classId, p.label], `frame ${i + 1}: top[0] is the label`);
    if (direct[i] === known.truth[i]) assert.equal(p.label, PINNED_FASHION_MNIST_CLASSES[known.truth[i]], `frame ${i + 1}: a ${PINNED_FASHION_MNIST_CLASSES[known.truth[i]]}`);
  }
}
