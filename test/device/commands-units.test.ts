import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent, type Agent } from '../../device/agent.ts';
import { resolveAgentConfig, type AgentConfig } from '../../device/config.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { deviceTopics, type CommandName } from '../../src/mqtt/topics.ts';
import { Recorder } from './helpers.ts';
import { buildTinyModel } from './tiny-model.ts';

/**
 * The commands feature in-process: a real agent on the embedded broker, commands published by a
 * test client, results read from `cmd/<name>/result`. Two cameras fed from memory (cam0 has two
 * frames, cam1 none), tiny models in a model directory. Two agents in all (each start costs a model
 * load): one that runs commands, one that refuses them. Bodies are checked in command-body.test.ts.
 */

interface Result { ok: boolean; command: string; requestId: string | null; code?: string; error?: string; data?: Record<string, any> }

let dir: string;
let models: string;
let frame: Buffer;
let broker: EmbeddedBroker;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const model1 = buildTinyModel({ seed: 11 });
const model2 = buildTinyModel({ seed: 12 });

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  dir = await mkdtemp(join(tmpdir(), 'edgeloom-cmd-'));
  models = join(dir, 'models');
  await mkdir(models);
  await writeFile(join(models, 'one.onnx'), model1);
  await writeFile(join(models, 'two.onnx'), model2);
  frame = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#406080' } }).png().toBuffer();
  broker = await startBroker({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

interface Harness {
  agent: Agent;
  rec: Recorder;
  lines: string[];
  send(name: CommandName, payload: unknown, opts?: { retain?: boolean }): Promise<Result>;
  publish(name: CommandName, payload: unknown): Promise<void>;
  results(name: CommandName): Result[];
}

async function withAgent(id: string, tune: (cfg: AgentConfig) => void, body: (h: Harness) => Promise<void>): Promise<void> {
  const topics = deviceTopics(id);
  const rec = await Recorder.connect(broker.url, `edgeloom/${id}/#`);
  const cfg = await resolveAgentConfig({ model: join(models, 'one.onnx'), source: 'file:/unused', fps: 50, deviceId: id, mqttUrl: broker.url, statsInterval: 3600 }, {});
  cfg.queue.type = 'memory';
  cfg.cameras.push({ ...cfg.cameras[0], id: 'cam1' });
  tune(cfg);
  const lines: string[] = [];
  const push = (m: string) => lines.push(m);
  const agent = await startAgent(cfg, { debug: () => {}, info: push, warn: push, error: push }, {
    sources: new Map([['cam0', new MemorySource([frame, frame])], ['cam1', new MemorySource([])]]),
  });
  await agent.finished();
  // Commands are subscribed on connect: wait for the retained info that follows it.
  await rec.waitFor('online', () => rec.on(topics.info).length > 0);
  const text = (payload: unknown) => (typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload));
  const results = (name: CommandName) => rec.on(topics.commandResult(name)).map((m) => JSON.parse(m.text) as Result);
  const h: Harness = {
    agent,
    rec,
    lines,
    results,
    publish: async (name, payload) => {
      await rec.client.publishAsync(topics.command(name), text(payload), { qos: 1 });
    },
    send: async (name, payload) => {
      const n = results(name).length;
      await rec.client.publishAsync(topics.command(name), text(payload), { qos: 1 });
      await rec.waitFor(`${name} result`, () => results(name).length > n);
      return results(name)[n];
    },
  };
  try {
    await body(h);
  } finally {
    await agent.stop({ drainTimeoutMs: 0 });
    await rec.close();
  }
}

test('an agent runs commands: set-fps, pause, resume, snapshot, models; refuses unknown cameras, oversize bodies, a full queue; ignores retained commands', async () => {
  const id = 'c-run';
  const topics = deviceTopics(id);
  const pub = await Recorder.connect(broker.url, 'unused/#');
  await pub.client.publishAsync(topics.command('pause'), '{}', { qos: 1, retain: true });
  try {
    await withAgent(id, (c) => Object.assign(c.commands, { burst: 1000, ratePerS: 1000, enabled: ['snapshot'], maxQueued: 1, maxPayloadBytes: 400 }),
      async ({ agent, rec, send, publish, results, lines }) => {
        const cams = agent.ctx.cameras;
        const cam0 = cams.get('cam0')!;
        // A retained command is ignored and not answered.
        await rec.waitFor('the retained pause seen', () => lines.some((l) => l.startsWith('command pause: ignored')));
        assert.ok(lines.includes(`command pause: ignored a retained message on ${topics.command('pause')} (commands must not be retained; clear it with an empty retained publish)`));
        assert.equal(cam0.paused, false);
        assert.equal(results('pause').length, 0);

        const infos = () => rec.on(topics.info).length;
        const before = infos();
        assert.deepEqual(await send('set-fps', { fps: 2.5, requestId: 'r1' }), { ok: true, command: 'set-fps', requestId: 'r1', data: { cameras: ['cam0', 'cam1'], fps: 2.5 } });
        assert.deepEqual([cam0.fps, cams.get('cam1')!.fps], [2.5, 2.5]);
        await rec.waitFor('info again', () => infos() > before);
        const info = JSON.parse(rec.on(topics.info).at(-1)!.text) as { cameras: { fps: number }[] };
        assert.deepEqual(info.cameras.map((c) => c.fps), [2.5, 2.5]);
        assert.deepEqual((await send('set-fps', { fps: 7, camera: 'cam1' })).data, { cameras: ['cam1'], fps: 7 });
        assert.deepEqual([cam0.fps, cams.get('cam1')!.fps], [2.5, 7]);
        assert.ok(lines.includes('command set-fps: ok'));
        assert.deepEqual(await send('pause', { camera: 'cam0' }), { ok: true, command: 'pause', requestId: null, data: { cameras: ['cam0'], paused: true } });
        assert.deepEqual([cam0.paused, cams.get('cam1')!.paused], [true, false]);
        assert.deepEqual((await send('pause', '')).data, { cameras: ['cam0', 'cam1'], paused: true }, 'an empty body is {}');
        assert.deepEqual((await send('resume', {})).data, { cameras: ['cam0', 'cam1'], paused: false });
        assert.deepEqual([cam0.paused, cams.get('cam1')!.paused], [false, false]);

        const unknown = await send('pause', { camera: 'door', requestId: 'q' });
        assert.deepEqual(unknown, { ok: false, command: 'pause', requestId: 'q', code: 'unknown-camera', error: 'camera: unknown camera "door" (have cam0, cam1)' });
        assert.ok(lines.includes('command pause: failed (unknown-camera): camera: unknown camera "door" (have cam0, cam1)'));
        const bad = await send('set-fps', '{"fps":0,"requestId":"b"}');
        assert.deepEqual([bad.ok, bad.code, bad.requestId], [false, 'bad-body', 'b']);
        assert.match(bad.error!, /^fps: /);
        assert.equal(cam0.fps, 2.5);

        const snap = await send('snapshot', {});
        assert.deepEqual(snap, { ok: true, command: 'snapshot', requestId: null,
          data: { camera: 'cam0', frame: 2, ts: cam0.lastFrame!.ts.toISOString(), bytes: frame.length, imageBase64: frame.toString('base64') } });
        assert.equal((await send('snapshot', { camera: 'cam0' })).data!.camera, 'cam0');
        assert.deepEqual(await send('snapshot', { camera: 'cam1', requestId: 's' }), { ok: false, command: 'snapshot', requestId: 's', code: 'no-frame', error: 'camera cam1: no frame read yet' });

        const switched = await send('switch-model', { model: 'two.onnx', sha256: sha(model2) });
        const m = agent.ctx.model.current;
        assert.equal(m.ref.sha256, sha(model2));
        assert.deepEqual(switched.data, { model: m.ref, path: join(models, 'two.onnx'), provider: m.provider, signedBy: null });
        const reloaded = await send('reload-model', {});
        assert.equal(reloaded.data!.model.sha256, sha(model2));
        assert.notEqual(agent.ctx.model.current, m, 'a fresh session');
        const wrong = await send('reload-model', { sha256: sha(model1), requestId: 'w' });
        assert.deepEqual([wrong.ok, wrong.requestId], [false, 'w']);
        assert.ok(wrong.code && wrong.code !== 'failed', `the model store's own code, not "failed": ${wrong.code}`);
        assert.equal(agent.ctx.model.current.ref.sha256, sha(model2), 'the old model keeps serving');
        // Errors are cut to 300 characters.
        const long = await send('switch-model', { model: `${'m'.repeat(250)}.onnx` });
        assert.equal(long.code, 'not-found');
        assert.equal(long.error!.length, 303, long.error);
        assert.ok(long.error!.endsWith('...'));

        // Bodies over commands.maxPayloadBytes are refused unread; one of exactly that size is read.
        const sized = (n: number) => JSON.stringify({ requestId: 'r'.repeat(n - JSON.stringify({ requestId: '' }).length) });
        assert.deepEqual(await send('pause', sized(401)), { ok: false, command: 'pause', requestId: null, code: 'too-large', error: 'body: 401 bytes, more than commands.maxPayloadBytes (400)' });
        assert.match((await send('pause', sized(400))).error!, /^requestId: /, 'read (and refused for its long requestId), not refused unread');

        // One running (a model switch), maxQueued (1) waiting, the next refused as busy.
        const n = { sw: results('switch-model').length, p: results('pause').length, r: results('resume').length };
        await Promise.all([publish('switch-model', { model: 'one.onnx' }), publish('pause', {}), publish('resume', { requestId: 'b' })]);
        await rec.waitFor('three results', () => results('switch-model').length > n.sw && results('pause').length > n.p && results('resume').length > n.r);
        assert.equal(results('switch-model')[n.sw].ok, true);
        assert.equal(results('pause')[n.p].ok, true);
        assert.deepEqual(results('resume')[n.r], { ok: false, command: 'resume', requestId: 'b', code: 'busy', error: 'busy: 1 commands already waiting (commands.maxQueued); try again later' });

        // Once the feature stopped, commands are no longer heard.
        await agent.features.find((f) => f.name === 'commands')!.stop();
        const heard = results('set-fps').length;
        await publish('set-fps', { fps: 3 });
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(results('set-fps').length, heard);
        assert.equal(cam0.fps, 2.5);
      });
  } finally {
    await pub.client.publishAsync(topics.command('pause'), '', { qos: 1, retain: true });
    await pub.close();
  }
});

test('an agent refuses disabled and opt-in commands, then rate-limits, naming the config keys', async () => {
  await withAgent('c-off', (c) => Object.assign(c.commands, { burst: 3, ratePerS: 0.001, disabled: ['resume'] }), async ({ agent, send }) => {
    assert.deepEqual(await send('resume', { requestId: 'd' }), { ok: false, command: 'resume', requestId: 'd', code: 'disabled',
      error: 'resume: disabled in this agent\'s config (commands.disabled)' });
    assert.deepEqual(await send('snapshot', {}), { ok: false, command: 'snapshot', requestId: null, code: 'disabled',
      error: 'snapshot: off unless enabled in this agent\'s config (commands.enabled: [snapshot])' });
    assert.equal((await send('pause', {})).ok, true);
    assert.equal(agent.ctx.cameras.get('cam0')!.paused, true);
    assert.deepEqual(await send('resume', { requestId: 'late' }), { ok: false, command: 'resume', requestId: null, code: 'rate-limited',
      error: 'rate limit: more than 3 commands at once or 0.001/s sustained (commands.burst, commands.ratePerS); try again later' });
  });
});
