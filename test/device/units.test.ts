import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { resolveAgentConfig } from '../../device/config.ts';
import { loadModel } from '../../device/model.ts';
import { softmax, topK } from '../../src/scores.ts';
import { percentile } from '../../device/stats.ts';
import { classifyFrameError } from '../../device/camera.ts';
import { createOnnxSession, providerCandidates, providerInstalled } from '../../src/onnx/session.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { firstLine, UserError } from '../../src/errors.ts';
import { preprocessImage } from '../../src/preprocess.ts';
import sharp from 'sharp';
import { buildTinyModel } from './tiny-model.ts';
import { pngHeader } from '../helpers/png-header.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgeloom-units-'));

process.on('exit', () => void rm(dir, { recursive: true, force: true }));

describe('config', () => {
  const base = { mqttUrl: 'mqtt://localhost:1883', deviceId: 'pi1' };

  test('flags alone give one camera cam0 with defaults', async () => {
    const c = await resolveAgentConfig({ ...base, source: 'dir:/tmp/x' }, {});
    assert.deepEqual(c.cameras.map((x) => [x.id, x.source, x.fps]), [['cam0', 'dir:/tmp/x', 1]]);
    assert.equal(c.mqtt.clientId, 'edgeloom-pi1');
    assert.equal(c.mqtt.qos.labels, 1);
    assert.equal(c.model, 'models/default.onnx');
    assert.equal(c.ep, 'auto', 'the agent picks the best provider unless told otherwise');
  });

  test('YAML file with several cameras; env overrides the file and flags override env', async () => {
    const file = join(dir, 'agent.yaml');
    await writeFile(file, [
      'deviceId: from-file', 'mqtt:', '  url: mqtt://file:1883', '  qos: { labels: 0 }',
      'cameras:', '  - { id: door, source: "http://cam1/capture", fps: 2, roi: { left: 1, top: 2, width: 30, height: 40 } }',
      '  - { id: shelf, source: "mjpeg:http://cam2/stream" }',
    ].join('\n'));
    const c = await resolveAgentConfig({ config: file, deviceId: 'from-flag' }, { EDGELOOM_DEVICE_ID: 'from-env', EDGELOOM_MQTT_URL: 'mqtt://env:1883', EDGELOOM_THREADS: '2' });
    assert.equal(c.deviceId, 'from-flag');
    assert.equal(c.mqtt.url, 'mqtt://env:1883');
    assert.equal(c.threads, 2);
    assert.equal(c.mqtt.qos.labels, 0);
    assert.deepEqual(c.cameras.map((x) => x.id), ['door', 'shelf']);
    assert.deepEqual(c.cameras[0].roi, { left: 1, top: 2, width: 30, height: 40 });
  });

  test('a bad field is named in the error', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ deviceId: 'x', mqtt: { url: 'mqtt://h' }, cameras: [{ id: 'c', source: 'dir:/', fps: 'fast' }] }));
    await assert.rejects(resolveAgentConfig({ config: file }, {}), (e: Error) => e instanceof UserError && /bad\.json: cameras\.0\.fps/.test(e.message));
    await assert.rejects(resolveAgentConfig({ ...base, source: 'dir:/', deviceId: 'has space' }, {}), /deviceId/);
    await writeFile(file, JSON.stringify({ deviceId: 'x', mqtt: { url: 'mqtt://h', colour: 1 }, cameras: [{ id: 'c', source: 'dir:/' }] }));
    await assert.rejects(resolveAgentConfig({ config: file }, {}), /mqtt.*colour/);
    await assert.rejects(resolveAgentConfig({ source: 'dir:/', deviceId: 'x' }, {}), /mqtt\.url: missing/);
    await assert.rejects(resolveAgentConfig({ ...base, source: 'dir:/' }, { EDGELOOM_FPS: 'quick' }), /EDGELOOM_FPS/);
  });
});

describe('onnx session: execution providers', () => {
  test('candidate order: explicit choice then cpu; auto keeps only what the build has', () => {
    assert.deepEqual(providerCandidates('cpu', ['cpu', 'cuda']), ['cpu']);
    assert.deepEqual(providerCandidates('cuda', ['cpu']), ['cuda', 'cpu']);
    assert.deepEqual(providerCandidates('auto', ['cpu', 'webgpu', 'cuda', 'tensorrt']), ['tensorrt', 'cuda', 'cpu']);
    assert.deepEqual(providerCandidates('auto', ['cpu']), ['cpu']);
  });

  test('auto skips GPU providers whose add-on library is not installed beside the binding', () => {
    const cpuOnly = ['libonnxruntime.so.1', 'onnxruntime_binding.node'];
    const withCuda = [...cpuOnly, 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];
    assert.equal(providerInstalled('cuda', cpuOnly), false);
    assert.equal(providerInstalled('cuda', withCuda), true);
    assert.equal(providerInstalled('coreml', cpuOnly), true, 'providers built into the binding need no add-on');
    const all = ['cpu', 'cuda', 'tensorrt'];
    assert.deepEqual(providerCandidates('auto', all, (p) => providerInstalled(p, cpuOnly)), ['cpu']);
    assert.deepEqual(providerCandidates('auto', all, (p) => providerInstalled(p, withCuda)), ['cuda', 'cpu']);
    assert.deepEqual(providerCandidates('cuda', all, (p) => providerInstalled(p, cpuOnly)), ['cuda', 'cpu'], 'an explicit choice is still tried');
  });

  test('an unavailable provider falls back to cpu and reports the provider in use', async () => {
    const s = await createOnnxSession(buildTinyModel(), { ep: 'coreml', intraOpThreads: 1 });
    assert.equal(s.provider, 'cpu');
    const out = await s.run(new Float32Array(3 * 784).fill(0.5), 3);
    assert.equal(out.logits.length, 30);
    assert.equal(out.embeddingSize, 16);
    await s.close();
  });
});

describe('model loading', () => {
  test('valid model: class names from metadata, sha256 and id', async () => {
    const bytes = buildTinyModel({ seed: 3 });
    const path = join(dir, 'm.onnx');
    await writeFile(path, bytes);
    const m = await loadModel(path);
    assert.equal(m.ref.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(m.ref.id, `m-${m.ref.sha256.slice(0, 12)}`);
    assert.equal(m.metadata.classes[9], 'Ankle boot');
    assert.equal(m.metadata.arch, 'tiny-test-mlp');
    await m.session.close();
  });

  test('missing, broken and contract-breaking models are UserErrors naming the file', async () => {
    await assert.rejects(loadModel(join(dir, 'none.onnx')), (e: Error) => e instanceof UserError && /none\.onnx.*no such file/.test(e.message));
    await writeFile(join(dir, 'junk.onnx'), 'junk');
    await assert.rejects(loadModel(join(dir, 'junk.onnx')), (e: Error) => e instanceof UserError && /junk\.onnx/.test(e.message));
    await writeFile(join(dir, 'five.onnx'), buildTinyModel({ metadata: { 'edgeloom.classes': JSON.stringify(['a', 'b', 'c', 'd', 'e']) } }));
    await assert.rejects(loadModel(join(dir, 'five.onnx')), /five\.onnx.*classes/);
  });

  test('softmax and top-k', () => {
    const p = softmax([1000, 1001, 999]);
    assert.ok(Math.abs(p[0] + p[1] + p[2] - 1) < 1e-6);
    assert.ok(p[1] > p[0] && p[0] > p[2]);
    assert.deepEqual(topK([0.1, 0.5, 0.5, 0.2], ['a', 'b', 'c', 'd'], 3).map((t) => t.label), ['b', 'c', 'd']);
  });
});

describe('topics, stats, errors', () => {
  test('topic layout and command parsing', () => {
    const t = deviceTopics('pi1', 'site/a');
    assert.equal(t.status, 'site/a/pi1/status');
    assert.equal(t.label('door'), 'site/a/pi1/door/label');
    assert.equal(t.drift('door'), 'site/a/pi1/door/drift');
    assert.equal(t.commandResult('set-fps'), 'site/a/pi1/cmd/set-fps/result');
    assert.equal(t.parseCommand('site/a/pi1/cmd/pause'), 'pause');
    assert.equal(t.parseCommand('site/a/pi1/cmd/pause/result'), null);
    assert.equal(t.parseCommand('site/a/pi1/cmd/format-disk'), null);
    assert.equal(t.homeAssistantConfig, 'homeassistant/device/pi1/config');
  });

  test('nearest-rank percentiles', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(percentile(xs, 50), 5);
    assert.equal(percentile(xs, 95), 10);
    assert.equal(percentile([], 50), 0);
  });

  test('frame error reasons: the decoder\'s codes for real sharp failures, not its message text', async () => {
    const reason = (p: Promise<unknown>) => p.then(() => 'decoded', classifyFrameError);
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#888' } }).png().toBuffer();
    assert.equal(await reason(preprocessImage(Buffer.from('not an image at all'))), 'undecodable');
    assert.equal(await reason(preprocessImage(png.subarray(0, png.length >> 1))), 'undecodable');
    assert.equal(await reason(preprocessImage(png, { roi: { left: 30, top: 0, width: 20, height: 10 } })), 'roi-outside-frame');
    assert.equal(await reason(preprocessImage(pngHeader(20000, 20000))), 'frame-too-large');
    assert.equal(await reason(preprocessImage(new Uint8Array(0))), 'empty-frame');
    // The ROI is checked against the upright frame: a sideways phone photo (EXIF orientation 6) of 40x30 is 30x40.
    const sideways = await sharp(png).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    assert.equal(await reason(preprocessImage(sideways, { roi: { left: 0, top: 32, width: 30, height: 8 } })), 'decoded');
    assert.equal(await reason(preprocessImage(sideways, { roi: { left: 32, top: 0, width: 8, height: 8 } })), 'roi-outside-frame');
    // Other failures (the model, the publisher) are `processing`, whatever their message says.
    assert.equal(classifyFrameError(new Error('Input image exceeds pixel limit')), 'processing');
    assert.equal(classifyFrameError('a thrown string'), 'processing');
  });

  test('firstLine: the first line of an Error or of any thrown value', () => {
    assert.equal(firstLine(new Error('VipsJpeg: premature end\n  more detail')), 'VipsJpeg: premature end');
    assert.equal(firstLine('plain\nsecond'), 'plain');
    assert.equal(firstLine(42), '42');
    assert.equal(firstLine(new Error('')), '');
  });
});

describe('stats report', () => {
  test('fps per camera, errors by reason, queue and offline drops are all reported', async () => {
    const { AgentStats } = await import('../../device/stats.ts');
    const s = new AgentStats();
    for (let i = 0; i < 4; i++) s.frameRead('door');
    s.labelled('door', 2);
    s.labelled('door', 4);
    s.error('door', 'undecodable');
    s.drop('offline-qos0');
    const r = s.report({ depth: 7, dropped: { total: 3, byReason: { 'max-messages': 3, 'max-bytes': 0 } } });
    assert.equal(r.cameras.door.frames, 4);
    assert.ok(r.cameras.door.fps > 0);
    assert.equal(r.cameras.door.errors, 1);
    assert.deepEqual(r.errors, { total: 1, byReason: { undecodable: 1 } });
    assert.equal(r.queueDepth, 7);
    assert.deepEqual(r.dropped, { total: 4, byReason: { 'offline-qos0': 1, 'queue-max-messages': 3 } });
    assert.equal(r.inferenceMs.count, 2);
    assert.equal(r.inferenceMs.p95, 4);
    assert.equal(s.report({ depth: 0, dropped: { total: 0, byReason: {} } }).cameras.door.fps, 0, 'fps covers only the time since the last report');
  });
});
