import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, open, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent, type Agent } from '../../device/agent.ts';
import type { AgentConfig } from '../../device/config.ts';
import { deviceTopics, type CommandName } from '../../src/mqtt/topics.ts';
import { runKeygen, runSign } from '../../src/signing.ts';
import { UserError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { agentConfig, makeWorkspace, Recorder, sleep, type Workspace } from './helpers.ts';

/**
 * Hostile command payloads against a real broker (aedes) and a real agent: model names that try to
 * leave the model directory or read device files and FIFOs, oversize and tampered models, floods,
 * retained commands, disabled commands, out-of-range numbers, and secrets in URLs.
 */
const quiet: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const CLI = join(import.meta.dirname, '../../bin/edgeloom.js');
let ws: Workspace;
let broker: EmbeddedBroker;
let storeDir: string;
let outsideDir: string;

interface Result { ok: boolean; command: string; requestId: string | null; code?: string; error?: string; data?: Record<string, any> }

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' });
  storeDir = join(ws.dir, 'models');
  outsideDir = join(ws.dir, 'outside');
  await mkdir(storeDir);
  await mkdir(outsideDir);
  await copyFile(ws.model, join(storeDir, 'tiny.onnx'));
  await copyFile(ws.model2, join(storeDir, 'tiny2.onnx'));
  await copyFile(ws.model2, join(outsideDir, 'secret.onnx'));
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

/** An agent on the store directory, a recorder on its topics and a command helper. */
async function withAgent(id: string, tune: (cfg: AgentConfig) => void,
  body: (h: { agent: Agent; rec: Recorder; send: (name: CommandName, payload: unknown) => Promise<Result>; labels: () => number }) => Promise<void>, log = quiet) {
  const topics = deviceTopics(id);
  const rec = await Recorder.connect(broker.url, `edgeloom/${id}/#`);
  const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 20, loop: true, mqttUrl: broker.url, model: join(storeDir, 'tiny.onnx') });
  tune(cfg);
  const agent = await startAgent(cfg, log);
  const send = async (name: CommandName, payload: unknown) => {
    const n = rec.on(topics.commandResult(name)).length;
    await rec.client.publishAsync(topics.command(name), typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
    await rec.waitFor(`${name} result`, () => rec.on(topics.commandResult(name)).length > n);
    return JSON.parse(rec.on(topics.commandResult(name))[n].text) as Result;
  };
  try {
    await body({ agent, rec, send, labels: () => rec.on(topics.label('cam0')).length });
  } finally {
    await agent.stop({ drainTimeoutMs: 500 });
    await rec.close();
  }
}

describe('hostile commands', () => {
  test('switch-model: paths, device files, FIFOs, symlinks out of the directory, oversize and wrong sha256 are refused; the old model keeps serving', async () => {
    await symlink('/dev/zero', join(storeDir, 'zero.onnx'));
    await symlink('/dev/ptmx', join(storeDir, 'ptmx.onnx'));
    await symlink(join(outsideDir, 'secret.onnx'), join(storeDir, 'out.onnx'));
    await symlink('/nonexistent/dir/secret.onnx', join(storeDir, 'dangling.onnx'));
    await symlink(join(storeDir, 'tiny2.onnx'), join(storeDir, 'alias.onnx'));
    assert.equal(spawnSync('mkfifo', [join(storeDir, 'fifo.onnx')]).status, 0, 'mkfifo');
    // 8 GiB, sparse: reading it before checking the size would exhaust memory.
    const huge = await open(join(storeDir, 'huge.onnx'), 'w');
    await huge.truncate(8 * 1024 ** 3);
    await huge.close();

    await withAgent('hostile-store', (c) => (c.commands.burst = 1000), async ({ agent, send, rec, labels }) => {
      await rec.waitFor('labels', () => labels() >= 2);
      const before = agent.ctx.model.current.ref.id;
      const rssBefore = process.memoryUsage().rss;

      for (const model of ['/dev/zero', '/dev/ptmx', '../outside/secret.onnx', join(outsideDir, 'secret.onnx'), 'sub/x.onnx', '..\\x.onnx', '.hidden.onnx', 'tiny.txt', '', 'a\u0000.onnx']) {
        const r = await send('switch-model', { model, requestId: 'n' });
        assert.equal(r.ok, false, model);
        assert.equal(r.code, model === '' ? 'bad-body' : 'bad-name', `${model}: ${r.error}`);
      }
      const oldApi = await send('switch-model', { path: '/dev/zero' });
      assert.equal(oldApi.code, 'bad-body');
      assert.match(oldApi.error!, /^path: not accepted/);

      // Whatever is not a regular file inside the directory gets one message, whether an outside target exists or not.
      const refusals = new Map<string, string>();
      for (const name of ['zero.onnx', 'ptmx.onnx', 'fifo.onnx', 'out.onnx', 'dangling.onnx']) {
        const r = await send('switch-model', { model: name });
        assert.equal(r.ok, false, name);
        assert.equal(r.code, 'not-regular', `${name}: ${r.error}`);
        refusals.set(name, r.error!.replace(name, 'NAME'));
      }
      assert.equal(new Set(refusals.values()).size, 1, [...refusals.values()].join(' | '));
      assert.doesNotMatch(refusals.get('out.onnx')!, /outside|secret|nonexistent|\/dev/);

      const missing = await send('switch-model', { model: 'missing.onnx' });
      assert.equal(missing.code, 'not-found');
      const big = await send('switch-model', { model: 'huge.onnx' });
      assert.equal(big.code, 'too-large');
      assert.match(big.error!, /8589934592 bytes, more than the 67108864-byte limit/);
      const wrongSha = await send('switch-model', { model: 'tiny2.onnx', sha256: '0'.repeat(64) });
      assert.equal(wrongSha.code, 'sha256-mismatch');
      assert.equal((await send('switch-model', { model: 'tiny2.onnx', sha256: 'xyz' })).code, 'bad-body');

      assert.equal(agent.ctx.model.current.ref.id, before, 'the old model still serves');
      assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 ** 2, 'no unbounded read');
      const n = labels();
      await rec.waitFor('labels after the refusals', () => labels() > n + 2);

      // A symlink to a regular file inside the directory is fine, and so is the right sha256.
      const sha2 = createHash('sha256').update(await readFile(join(storeDir, 'tiny2.onnx'))).digest('hex');
      const good = await send('switch-model', { model: 'alias.onnx', sha256: sha2, requestId: 'ok-1' });
      assert.equal(good.ok, true, good.error);
      assert.equal(good.requestId, 'ok-1');
      assert.equal(good.data!.model.sha256, sha2);
      const reload = await send('reload-model', {});
      assert.equal(reload.ok, true, reload.error);
      assert.equal(reload.data!.model.sha256, sha2);
    });
  });

  test('signed models: keygen/sign CLI; with --trusted-key, unsigned, untrusted, tampered and forged models are refused, also at start', async () => {
    const dir = join(ws.dir, 'signed');
    await mkdir(dir);
    for (const [from, to] of [[ws.model, 'tiny.onnx'], [ws.model2, 'tiny2.onnx'], [ws.model2, 'unsigned.onnx'], [ws.model2, 'other-key.onnx'], [ws.model, 'swapped.onnx'],
      [ws.model2, 'forged.onnx']]) {
      await copyFile(from, join(dir, to));
    }
    const key = join(ws.dir, 'keys', 'signing.key');
    await mkdir(join(ws.dir, 'keys'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    const kg = cli('keygen', '--out', key, '--json');
    assert.equal(kg.status, 0, kg.stderr);
    assert.equal((await stat(key)).mode & 0o777, 0o600, 'private key is 0600');
    const again = cli('keygen', '--out', key);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /signing\.key: already exists; keygen never overwrites a key/);
    const sg = cli('sign', '--key', key, '--model', join(dir, 'tiny.onnx'), '--json');
    assert.equal(sg.status, 0, sg.stderr);
    assert.equal((JSON.parse(sg.stdout) as { signature: string }).signature, join(dir, 'tiny.onnx.sig'));

    await runSign({ key, model: join(dir, 'tiny2.onnx') });
    const other = await runKeygen({ out: join(ws.dir, 'keys', 'other.key') });
    await runSign({ key: other.privateKey, model: join(dir, 'other-key.onnx') });
    await copyFile(join(dir, 'tiny2.onnx.sig'), join(dir, 'swapped.onnx.sig'));
    const forged = JSON.parse(await readFile(join(dir, 'tiny2.onnx.sig'), 'utf8')) as Record<string, string>;
    await writeFile(join(dir, 'forged.onnx.sig'), JSON.stringify({ ...forged, signature: Buffer.alloc(64, 7).toString('base64') }));

    const trust = (c: AgentConfig, model: string) => {
      c.model = join(dir, model);
      c.models.dir = dir;
      c.models.trustedKeys = [`${key}.pub`];
    };
    await assert.rejects(
      startAgent(await agentConfig(ws, { deviceId: 'unsigned-start', source: 'fashion-mnist:test', mqttUrl: broker.url }).then((c) => (trust(c, 'unsigned.onnx'), c)), quiet),
      (e: Error) => e instanceof UserError && /unsigned\.onnx: unsigned \(no .*unsigned\.onnx\.sig\)/.test(e.message),
    );

    await withAgent('hostile-signed', (c) => trust(c, 'tiny.onnx'), async ({ agent, send }) => {
      assert.match(agent.ctx.model.current.signedBy ?? '', /^[0-9a-f]{16}$/);
      const expect: [string, string][] = [['unsigned.onnx', 'unsigned'], ['other-key.onnx', 'untrusted-key'], ['swapped.onnx', 'signature-mismatch'], ['forged.onnx', 'bad-signature']];
      for (const [model, code] of expect) {
        const r = await send('switch-model', { model });
        assert.equal(r.ok, false, model);
        assert.equal(r.code, code, `${model}: ${r.error}`);
      }
      const good = await send('switch-model', { model: 'tiny2.onnx' });
      assert.equal(good.ok, true, good.error);
      assert.equal(good.data!.signedBy, agent.ctx.model.current.signedBy);
    });
  });

  test('a flood of commands: a burst runs, the rest is answered rate-limited; bodies over the size cap are refused', async () => {
    await withAgent('hostile-flood', (c) => Object.assign(c.commands, { burst: 5, ratePerS: 1 }), async ({ agent, rec, send }) => {
      const topics = deviceTopics('hostile-flood');
      const started = performance.now();
      const flood = 40;
      await Promise.all(Array.from({ length: flood }, (_, i) => rec.client.publishAsync(topics.command('set-fps'), JSON.stringify({ fps: 1 + (i % 10), requestId: `f${i}` }), { qos: 1 })));
      await rec.waitFor('every flood command answered', () => rec.on(topics.commandResult('set-fps')).length >= flood);
      const elapsedS = (performance.now() - started) / 1000;
      const results = rec.on(topics.commandResult('set-fps')).map((m) => JSON.parse(m.text) as Result);
      const ran = results.filter((r) => r.ok);
      const limited = results.filter((r) => !r.ok);
      assert.ok(ran.length >= 5 && ran.length <= 5 + Math.ceil(elapsedS * 1), `${ran.length} ran in ${elapsedS.toFixed(2)} s`);
      assert.ok(limited.length >= flood - ran.length && limited.every((r) => r.code === 'rate-limited'), JSON.stringify(limited[0]));
      assert.equal(agent.ctx.cameras.get('cam0')!.fps, ran.at(-1)!.data!.fps, 'the last accepted command wins');

      await sleep(1100); // one token back at 1/s
      const big = await send('pause', JSON.stringify({ requestId: 'x'.repeat(100), pad: 'y'.repeat(70 * 1024) }));
      assert.equal(big.code, 'too-large');
      assert.match(big.error!, /more than commands\.maxPayloadBytes \(65536\)/);
      assert.equal(agent.ctx.cameras.get('cam0')!.paused, false);
    });
  });

  test('set-fps: 1e-7, NaN, Infinity, huge, zero, negative and strings are refused; the range ends work', async () => {
    await withAgent('hostile-fps', (c) => (c.commands.burst = 1000), async ({ agent, send }) => {
      const cam = agent.ctx.cameras.get('cam0')!;
      for (const raw of ['{"fps":1e-7}', '{"fps":NaN}', '{"fps":"NaN"}', '{"fps":1e999}', '{"fps":1e308}', '{"fps":0}', '{"fps":-1}', '{"fps":120.5}', '{"fps":"5"}', '{"fps":[5]}', '{}', '[1]',
        '{"fps":5,"extra":1}', '{"fps":5,"camera":"nope"}']) {
        const r = await send('set-fps', raw);
        assert.equal(r.ok, false, raw);
        assert.ok(r.code === 'bad-body' || r.code === 'unknown-camera', `${raw}: ${r.code}`);
        assert.equal(cam.fps, 20, `${raw} left fps alone`);
      }
      assert.equal((await send('set-fps', { fps: 0.01 })).ok, true);
      assert.equal(cam.fps, 0.01);
      assert.equal((await send('set-fps', { fps: 120, camera: 'cam0' })).ok, true);
      assert.equal(cam.fps, 120);
    });
  });

  test('disabled commands are refused; snapshot is off unless commands.enabled lists it; a retained cmd/pause is ignored', async () => {
    const topics = deviceTopics('hostile-off');
    const pub = await Recorder.connect(broker.url, 'unused/#');
    await pub.client.publishAsync(topics.command('pause'), '{}', { qos: 1, retain: true });
    const logs: string[] = [];
    const capture: Logger = { ...quiet, warn: (m) => void logs.push(m) };
    try {
      await withAgent('hostile-off', (c) => (c.commands.disabled = ['switch-model', 'resume']), async ({ agent, rec, send, labels }) => {
        await rec.waitFor('the retained pause was seen', () => logs.some((l) => /command pause: ignored a retained message/.test(l)));
        const n = labels();
        await rec.waitFor('labels keep coming', () => labels() > n + 3);
        assert.equal(agent.ctx.cameras.get('cam0')!.paused, false);
        assert.equal(rec.on(topics.commandResult('pause')).length, 0, 'a retained command is not run nor answered');

        const snap = await send('snapshot', { camera: 'cam0', requestId: 's1' });
        assert.deepEqual([snap.ok, snap.code, snap.requestId], [false, 'disabled', 's1']);
        assert.match(snap.error!, /commands\.enabled: \[snapshot\]/);
        assert.equal(snap.data, undefined, 'no image');
        for (const name of ['switch-model', 'resume'] as const) {
          const r = await send(name, name === 'switch-model' ? { model: 'tiny2.onnx' } : {});
          assert.deepEqual([r.ok, r.code], [false, 'disabled'], name);
        }
        assert.equal((await send('pause', {})).ok, true, 'live (not retained) commands still run');
      }, capture);
    } finally {
      await pub.client.publishAsync(topics.command('pause'), '', { qos: 1, retain: true });
      await pub.close();
    }
    await withAgent('hostile-snap', (c) => (c.commands.enabled = ['snapshot']), async ({ rec, send, labels }) => {
      await rec.waitFor('labels', () => labels() >= 1);
      assert.equal((await send('snapshot', {})).ok, true, 'enabled in the config');
    });
  });

  test('no secrets out: passwords in the camera and MQTT URLs and the config are *** in info, stats and the logs', async () => {
    const id = 'hostile-redact';
    const topics = deviceTopics(id);
    const rec = await Recorder.connect(broker.url, `edgeloom/${id}/#`);
    const source = 'http://admin:s3cr3t-cam@127.0.0.1:9/snap.jpg?user=admin&pwd=s3cr3t-q';
    const mqttUrl = broker.url.replace('mqtt://', 'mqtt://agent:s3cr3t-mqtt@');
    const child = spawn(process.execPath, [CLI, 'agent', '--source', source, '--fps', '5', '--mqtt-url', mqttUrl, '--device-id', id,
      '--model', ws.model, '--stats-interval', '0.3', '--queue-dir', join(ws.dir, `queue-${id}`)],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'debug', EDGELOOM_MQTT_PASSWORD: 's3cr3t-env' } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await rec.waitFor('info and stats', () => rec.on(topics.info).length > 0 && rec.on(topics.stats).length > 1, 30_000);
      const deadline = Date.now() + 10_000;
      while (!/source error/.test(stderr) && Date.now() < deadline) await sleep(50);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr.slice(-500));
      const info = JSON.parse(rec.on(topics.info)[0].text) as { cameras: { source: string }[] };
      assert.equal(info.cameras[0].source, 'http://admin:***@127.0.0.1:9/snap.jpg?user=admin&pwd=***');
      for (const m of rec.messages) assert.doesNotMatch(m.text, /s3cr3t/, m.topic);
      assert.match(stderr, /:\*\*\*@127\.0\.0\.1/, 'URLs are logged, redacted');
      assert.match(stderr, /effective config: .*"password":"\*\*\*"/, 'the config is logged (debug), redacted');
      assert.doesNotMatch(stderr, /s3cr3t/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rec.close();
    }
  });
});
