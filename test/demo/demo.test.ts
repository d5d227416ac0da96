import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { buildTinyModel } from '../device/tiny-model.ts';
import { freePort } from '../device/helpers.ts';

const CLI = resolve(import.meta.dirname, '..', '..', 'bin', 'edgeloom.js');

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function demo(args: string[], cwd = process.cwd()): Run {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'info' } });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { child, stderr: () => err, exit };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Subscribes to edgeloom/# as soon as the demo's broker accepts connections. */
async function watch(port: number): Promise<{ client: MqttClient; messages: { topic: string; text: string }[] }> {
  const messages: { topic: string; text: string }[] = [];
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 50, connectTimeout: 1000 });
  client.on('message', (topic, payload) => messages.push({ topic, text: payload.toString() }));
  client.on('error', () => {}); // refused until the broker is up; reconnects
  await new Promise<void>((res) => client.once('connect', () => res()));
  await client.subscribeAsync('edgeloom/#', { qos: 1 });
  return { client, messages };
}

describe('edgeloom demo', { timeout: 60_000 }, () => {
  let dir: string;
  let model: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeloom-demo-'));
    model = join(dir, 'tiny.onnx');
    await writeFile(model, buildTinyModel({ seed: 3 }));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--max-frames: labels arrive on edgeloom/demo/cam0/label, then the demo stops by itself and says offline', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const run = demo(['--model', model, '--port', String(port), '--ws-port', String(wsPort), '--max-frames', '5', '--fps', '4']);
    const { client, messages } = await watch(port);
    try {
      const { code } = await run.exit;
      assert.equal(code, 0, run.stderr());
      await waitFor('offline status', () => messages.some((m) => m.topic === 'edgeloom/demo/status' && m.text === 'offline'), 5000);
      const frames = messages.filter((m) => m.topic === 'edgeloom/demo/cam0/label').map((m) => (JSON.parse(m.text) as { frame: number }).frame);
      // The subscriber may connect after the first frame or two; the last ones must all be there.
      assert.ok(frames.length >= 3, `labels: ${frames.join(',')}`);
      assert.deepEqual(frames, [...frames].sort((a, b) => a - b));
      assert.equal(frames[frames.length - 1], 5);
      assert.match(run.stderr(), new RegExp(`mosquitto_sub -h localhost -p ${port} -t 'edgeloom/#' -v`));
      assert.match(run.stderr(), new RegExp(`ws://localhost:${wsPort}`));
    } finally {
      await client.endAsync(true);
    }
  });

  test('SIGTERM stops it cleanly: exit code 0 and `offline` published', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const run = demo(['--model', model, '--port', String(port), '--ws-port', String(wsPort), '--fps', '10']);
    const { client, messages } = await watch(port);
    try {
      // Also over WebSocket: a dashboard connects to the same broker.
      const ws = await mqtt.connectAsync(`ws://127.0.0.1:${wsPort}`, { reconnectPeriod: 0 });
      await ws.endAsync(true);
      await waitFor('a label', () => messages.some((m) => m.topic === 'edgeloom/demo/cam0/label'));
      run.child.kill('SIGTERM');
      const { code } = await run.exit;
      assert.equal(code, 0, run.stderr());
      await waitFor('offline status', () => messages.some((m) => m.topic === 'edgeloom/demo/status' && m.text === 'offline'), 5000);
      assert.match(run.stderr(), /SIGTERM, stopping/);
    } finally {
      await client.endAsync(true);
    }
  });

  test('without models/default.onnx: one line saying so and how to produce one, exit code 1', async () => {
    const run = demo([], dir); // no models/ in the temp dir
    const { code } = await run.exit;
    assert.equal(code, 1);
    const lines = run.stderr().trim().split('\n');
    assert.equal(lines.length, 1, run.stderr());
    assert.match(lines[0], /^edgeloom: models\/default\.onnx not found/);
    assert.match(lines[0], /edgeloom export .*edgeloom quantize .*--out models\/default\.onnx/);
    assert.match(lines[0], /--model FILE/);
  });
});
