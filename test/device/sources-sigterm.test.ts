import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import type { CameraStatusPayload } from '../../src/mqtt/payloads.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { groupMembers, makeWorkspace, Recorder, sleep, type Workspace } from './helpers.ts';

let ws: Workspace;
let broker: EmbeddedBroker;
const servers: Server[] = [];
const sockets = new Set<Socket>();

before(async () => {
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    connections++;
    handler!(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

test('SIGTERM stops the agent process within 5 s while its sources hang (command, silent MJPEG, slow-loris snapshot); the good camera labelled meanwhile', async () => {
  const id = 'term-hostile';
  const topics = deviceTopics(id);
  // Default timeouts (10 s): at SIGTERM every hostile source is in the middle of a wait.
  const silent = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=b' });
    res.flushHeaders();
  });
  const loris = await serve((req) => {
    const text = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Slow: ${'z'.repeat(500)}`);
    let i = 0;
    const t = setInterval(() => (req.socket.destroyed || i >= text.length ? clearInterval(t) : req.socket.write(text.subarray(i, ++i))), 100);
  });
  const pidFile = join(ws.dir, 'hang.pid');
  const config = join(ws.dir, 'term.json');
  await writeFile(config, JSON.stringify({
    deviceId: id,
    model: ws.model,
    mqtt: { url: broker.url },
    queue: { dir: join(ws.dir, 'queue-term') },
    cameras: [
      { id: 'good', source: 'fashion-mnist:test', loop: true, fps: 5 },
      { id: 'hang', source: `command:echo $$ > ${pidFile}; sleep 1000; true`, fps: 1 },
      { id: 'silent', source: `mjpeg:${silent.url}/stream`, fps: 1 },
      { id: 'loris', source: `${loris.url}/capture`, fps: 1 },
    ],
  }));
  const rec = await Recorder.connect(broker.url, `edgeloom/${id}/#`);
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/edgeloom.js'), 'agent', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await rec.waitFor('labels from the good camera', () => rec.on(topics.label('good')).length >= 2, 30_000);
    let pgid = 0;
    for (let i = 0; i < 100 && !pgid; i++) {
      pgid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      if (!pgid) await sleep(50);
    }
    assert.ok(pgid > 0 && groupMembers(pgid).length >= 2, 'the hanging command (sh + sleep) runs');
    assert.ok(silent.connections() >= 1 && loris.connections() >= 1, 'the silent and slow servers are being waited on');
    const t0 = performance.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(5000).then(() => 'still running after 5 s')]);
    const ms = performance.now() - t0;
    assert.equal(code, 0, `exit (stderr: ${stderr.slice(-500)})`);
    assert.ok(ms < 5000, `exited in ${Math.round(ms)} ms`);
    for (let i = 0; i < 40 && groupMembers(pgid).length > 0; i++) await sleep(50);
    assert.deepEqual(groupMembers(pgid), [], 'the command and its sleep died with the agent');
    await rec.waitFor('offline', () => rec.on(topics.status).at(-1)?.text === 'offline');
    const last = (cam: string) => (JSON.parse(rec.on(topics.cameraStatus(cam)).at(-1)?.text ?? '{}') as CameraStatusPayload).status;
    await rec.waitFor('every camera offline', () => ['good', 'hang', 'silent', 'loris'].every((c) => last(c) === 'offline'));
    assert.doesNotMatch(stderr, /source error/, 'closing sources at shutdown is not a source error');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rec.close();
  }
});
