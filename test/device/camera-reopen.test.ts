import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { cameraFixture, ClockSkew, tableWith, waitUntil, type Fixture } from './camera-fixture.ts';

/**
 * A live stream (MJPEG over HTTP from a local server) that ends is reopened after 0.5 s, then 1 s,
 * ... (doubling while it brings no frame, back to 0.5 s after a frame); "stream ended" is logged once per 10 s with the count
 * held back. Real waits: 0.5 s + 1 s; the 10 s of the rate limit are skipped with a forward-moved clock.
 */

let fx: Fixture;
const clock = new ClockSkew();
let server: Server | null = null;
before(async () => {
  fx = await cameraFixture();
  clock.install();
});
after(async () => {
  clock.restore();
  server?.closeAllConnections();
  server?.close();
  await fx.cleanup();
});

test('an ended stream is reopened after 0.5 s, 1 s, ... until a frame comes; one "stream ended" line per 10 s; stop() ends the wait', { timeout: 8000 }, async () => {
  const jpeg = await sharp(await tableWith()).jpeg().toBuffer();
  // Connections 1 and 3 bring one frame, 2 none; each then ends. Connection 3 comes "10 s" later.
  const connectedAt: number[] = [];
  server = createServer((req, res) => {
    connectedAt.push(clock.real());
    if (connectedAt.length === 3) clock.skew += 10_000;
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=b' });
    // A 4th connection (a test stalled past the 0.5 s wait) stays silent until stop() closes it.
    if (connectedAt.length > 3) return;
    if (connectedAt.length !== 2) res.write(Buffer.concat([Buffer.from(`--b\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`), jpeg, Buffer.from('\r\n')]));
    res.end('--b--\r\n');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const r = await fx.run(await fx.config('reopen', `mjpeg:http://127.0.0.1:${port}/`));
  await waitUntil(() => r.lines.length === 2);
  const cam = r.agent.ctx.cameras.get('cam0')!;
  // The camera now waits 0.5 s with its stream closed: stop() ends that wait.
  await cam.stop();
  assert.deepEqual(r.labels().map((l) => l.frame), [1, 2]);
  assert.equal(r.lines[0], 'camera cam0: stream ended; reopening in 500 ms');
  // The second end (1 s) was held back; the third, "11.5 s" after the first line, says so; its
  // stream had brought a frame, so the wait is back to 0.5 s.
  assert.match(r.lines[1], /^camera cam0: stream ended; reopening in 500 ms \(\+1 more stream-ended in the last 1[12] s\)$/);
  assert.ok(connectedAt.length >= 3);
  // setTimeout never fires early (1 ms of timer rounding allowed).
  assert.ok(connectedAt[1] - connectedAt[0] >= 499, `reopened after ${connectedAt[1] - connectedAt[0]} ms`);
  assert.ok(connectedAt[2] - connectedAt[1] >= 999, `a stream without a frame: reopened again after ${connectedAt[2] - connectedAt[1]} ms`);
  assert.deepEqual(cam.health(), { status: 'offline', reason: 'stopped' });
  assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, {}, 'an ended stream is no source error');
});
