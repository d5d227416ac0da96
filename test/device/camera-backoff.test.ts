import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cameraFixture, ClockSkew, ScriptedSource, waitUntil, type Fixture } from './camera-fixture.ts';

/**
 * A failing source is retried after 0.5 s, then 1 s, ... (doubling, at most 30 s), and its errors are
 * logged once per 10 s with the count held back. Real waits: 0.5 s + 1 s; the 10 s of the rate limit
 * are skipped with a forward-moved clock.
 */

let fx: Fixture;
const clock = new ClockSkew();
before(async () => {
  fx = await cameraFixture();
  clock.install();
});
after(async () => {
  clock.restore();
  await fx.cleanup();
});

test('source errors are retried after 0.5 s, then 1 s; the next line after 10 s says how many were held back', { timeout: 8000 }, async () => {
  const src = new ScriptedSource([
    new Error('hiccup 1'),
    new Error('hiccup 2'),
    () => {
      clock.skew += 10_000;
      return new Error('hiccup 3');
    },
  ], clock.real);
  const r = await fx.run(await fx.config('backoff'), src);
  await waitUntil(() => r.lines.length === 2);
  const cam = r.agent.ctx.cameras.get('cam0')!;
  // The camera now waits 2 s before its 4th read: stop() ends that wait.
  await cam.stop();
  assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, { source: 3 });
  assert.equal(r.lines[0], 'camera cam0: source error: hiccup 1');
  // 11.5 s on the moved clock since the first line (10 s + the 1.5 s of retries).
  assert.match(r.lines[1], /^camera cam0: source error: hiccup 3 \(\+1 more source in the last 1[12] s\)$/);
  assert.equal(src.readAt.length, 3);
  const [first, second, third] = src.readAt;
  // setTimeout never fires early (1 ms of timer rounding allowed).
  assert.ok(second - first >= 499, `first retry after ${second - first} ms`);
  assert.ok(third - second >= 999, `second retry after ${third - second} ms`);
  assert.deepEqual(cam.health(), { status: 'offline', reason: 'stopped' });
});

test('a source that rejects with something other than an Error is a source error too, logged by its text', { timeout: 5000 }, async () => {
  const src = new ScriptedSource([
    () => {
      throw 'peer reset';
    },
  ], clock.real);
  const r = await fx.run(await fx.config('not-an-error'), src);
  await waitUntil(() => r.lines.length === 1);
  const cam = r.agent.ctx.cameras.get('cam0')!;
  await cam.stop();
  assert.equal(r.lines[0], 'camera cam0: source error: peer reset');
  assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, { source: 1 });
});
