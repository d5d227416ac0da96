/**
 * The agent's frame path end to end: real aedes broker, real agent, the shipped default model.
 * Unusable frames are counted errors with their reason (never labels), doubtful frames are labelled
 * with a `quality` field and counted, NaN logits are errors, a NaN-weight model is refused at load,
 * and labels stay in frame order while decoding overlaps inference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { startAgent } from '../../device/agent.ts';
import { startBroker } from '../../device/broker.ts';
import { resolveAgentConfig } from '../../device/config.ts';
import { loadModel } from '../../device/model.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { UserError } from '../../src/errors.ts';
import type { LabelPayload } from '../../src/mqtt/payloads.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { imageAt } from '../../training/data/dataset.ts';
import { argmaxRows } from '../../training/eval/metrics.ts';
import { loadTestSet } from '../../training/eval/evaluate.ts';
import { Recorder } from '../device/helpers.ts';
import { buildTinyModel } from '../device/tiny-model.ts';
import { DEFAULT_MODEL } from './accuracy.ts';
import { synthesizeFrame } from './synth.ts';

const { onnx } = onnxProto;
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
test.after(() => broker.close());
const dir = await mkdtemp(join(tmpdir(), 'edgeloom-frames-'));

async function runAgent(deviceId: string, model: string, frames: Buffer[], expectLabels: number) {
  const rec = await Recorder.connect(broker.url, deviceTopics(deviceId).label('cam0'));
  const config = await resolveAgentConfig({ deviceId, source: 'file:/unused', mqttUrl: broker.url, model, ep: 'cpu', threads: 1, maxFrames: frames.length, statsInterval: 3600 }, {});
  config.queue.type = 'memory';
  config.cameras[0].fps = 1e9;
  const agent = await startAgent(config, quiet, { sources: new Map([['cam0', new MemorySource(frames)]]) });
  try {
    await agent.finished();
    await rec.waitFor(`${expectLabels} labels`, () => rec.messages.length >= expectLabels);
  } finally {
    await agent.stop({ drainTimeoutMs: 2000 });
    await rec.close();
  }
  return { labels: rec.messages.map((m) => JSON.parse(m.text) as LabelPayload), stats: agent.ctx.stats };
}

/** Garments the default model gets right through the camera path (so the test checks the agent, not the model). */
async function rightGarments(n: number): Promise<{ pixels: Uint8Array; label: number }[]> {
  const sample = await loadTestSet(30, 9);
  const session = await createOnnxSession(await readFile(DEFAULT_MODEL), { ep: 'cpu', intraOpThreads: 1 });
  const out: { pixels: Uint8Array; label: number }[] = [];
  for (let i = 0; i < sample.count && out.length < n; i++) {
    const pre = await preprocessImage(await synthesizeFrame(imageAt(sample, i), { seed: i }));
    const [predicted] = argmaxRows((await session.run(toModelInput(pre.pixels), 1)).logits, 10);
    if (predicted === sample.labels[i]) out.push({ pixels: imageAt(sample, i), label: sample.labels[i] });
  }
  await session.close();
  return out;
}

test('unusable frames are counted errors with their reason; a frame with a detached patch is labelled right with a quality field', async () => {
  const [g0, g1, g2] = await rightGarments(3);
  const gray = (w: number, h: number) => sharp(Buffer.alloc(w * h, 120), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
  const frames = [
    await synthesizeFrame(g0.pixels, { seed: 1 }),
    await gray(1, 1),
    await gray(3, 500),
    await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer(),
    await synthesizeFrame(g1.pixels, { seed: 2, texture: 8, centerX: 0.35, garmentSize: 140, patches: [{ left: 262, top: 24, width: 36, height: 30, level: 45 }] }),
    await sharp(await synthesizeFrame(g2.pixels, { seed: 3 })).toColourspace('rgb16').png().toBuffer(),
  ];
  const { labels, stats } = await runAgent('frames-a', DEFAULT_MODEL, frames, 3);
  assert.deepEqual(labels.map((l) => l.frame), [1, 5, 6]);
  assert.deepEqual(labels.map((l) => l.classId), [g0.label, g1.label, g2.label]);
  assert.equal(labels[0].quality, undefined);
  assert.equal(labels[2].quality, undefined, 'a 16-bit PNG is a good image');
  assert.deepEqual(labels[1].quality && { blobs: labels[1].quality.blobs, issues: labels[1].quality.issues }, { blobs: 2, issues: ['several-blobs'] });
  assert.ok((labels[1].quality?.fill ?? 0) > 0.1);
  assert.deepEqual(stats.errorsByReason, { 'frame-too-small': 1, 'frame-extreme-aspect': 1, 'frame-transparent': 1 });
  const report = stats.report({ depth: 0, dropped: { total: 0, byReason: {} } });
  assert.deepEqual(report.quality, { total: 1, byIssue: { 'several-blobs': 1 } });
  assert.equal(report.errors.total, 3);
});

/** The tiny contract model with `logits` = Sqrt(Gemm(...)): negative pre-activations give NaN. */
function nanOutputModel(): Uint8Array {
  const model = onnx.ModelProto.decode(buildTinyModel({ seed: 3 }));
  const nodes = model.graph?.node ?? [];
  nodes[nodes.length - 1].output = ['pre_logits'];
  nodes.push(onnx.NodeProto.create({ opType: 'Sqrt', input: ['pre_logits'], output: ['logits'] }));
  return onnx.ModelProto.encode(model).finish();
}

test('NaN logits are counted errors (model-output-nan), never published as labels', async () => {
  const path = join(dir, 'nan-out.onnx');
  await writeFile(path, nanOutputModel());
  const [g] = await rightGarments(1);
  const frame = await synthesizeFrame(g.pixels, { seed: 4 });
  const { labels, stats } = await runAgent('frames-b', path, [frame, frame], 0);
  assert.deepEqual(labels, []);
  assert.deepEqual(stats.errorsByReason, { 'model-output-nan': 2 });
});

test('a model whose weights contain NaN is refused at load, naming the file and the weight', async () => {
  const model = onnx.ModelProto.decode(buildTinyModel({ seed: 4 }));
  const w2 = model.graph?.initializer?.find((t) => t.name === 'w2');
  assert.ok(w2?.rawData);
  const values = new Float32Array(new Uint8Array(w2.rawData).buffer);
  values[5] = Number.NaN;
  w2.rawData = new Uint8Array(values.buffer);
  const path = join(dir, 'nan-weights.onnx');
  await writeFile(path, onnx.ModelProto.encode(model).finish());
  await assert.rejects(loadModel(path), (err: unknown) => err instanceof UserError && err.message === `${path}: weight \`w2\` contains NaN or infinite values (a corrupt or diverged model; export ` +
    `or train it again)`);
  // The same model without the NaN loads.
  await writeFile(path, buildTinyModel({ seed: 4 }));
  await (await loadModel(path)).session.close();
});
