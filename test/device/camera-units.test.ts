import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { CameraRunner, classifyFrameError } from '../../device/camera.ts';
import { RateLimitedWarnings } from '../../device/rate-limited-warnings.ts';
import type { Agent } from '../../device/agent.ts';
import type { AgentConfig } from '../../device/config.ts';
import type { FrameResult } from '../../device/context.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import type { FrameSource } from '../../device/sources/types.ts';
import { FrameDecodeError, preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { UserError } from '../../src/errors.ts';
import { cameraFixture, CLASSES, ScriptedSource, tableWith, type Fixture } from './camera-fixture.ts';

/**
 * CameraRunner in-process, without a broker (test/device/camera-fixture.ts): the agent's MQTT client
 * points at a closed port, so every QoS 1 label waits in the (memory) store-and-forward queue, where
 * the test reads it.
 */

let fx: Fixture;
let dir: string;
before(async () => {
  fx = await cameraFixture();
  dir = fx.dir;
});
after(() => fx.cleanup());

const config = (deviceId: string, source?: string, fps?: number) => fx.config(deviceId, source, fps);
const run = (cfg: AgentConfig, source?: FrameSource) => fx.run(cfg, source);

const png = (width: number, height: number, background: string) => sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();

/** A light table with a dark garment-sized rectangle on it. */
const garment = () => tableWith();

/** The expected label, worked out here: run the model on the preprocessed frame, softmax by hand, sort. */
async function expectedTop(agent: Agent, frame: Buffer) {
  const pre = await preprocessImage(frame, { invert: 'auto' });
  const { out } = await agent.ctx.model.run(toModelInput(pre.pixels), 1);
  const logits = [...out.logits.subarray(0, 10)];
  const exps = logits.map((l) => Math.exp(l));
  const sum = exps.reduce((a, b) => a + b, 0);
  const ranked = exps.map((e, classId) => ({ classId, p: e / sum })).sort((a, b) => b.p - a.p);
  return { pre, ranked };
}

describe('camera labels', () => {
  test('each frame is published on the label topic with the top class, top-3, frame number, ids and the model', async () => {
    const frames = [await garment(), await png(40, 30, '#203040'), await png(50, 30, '#c08040')];
    const cfg = await config('lab');
    const r = await run(cfg, new MemorySource(frames));
    const observed: FrameResult[] = [];
    r.agent.ctx.frameObservers.add((f) => observed.push(f));
    await r.agent.finished();
    const labels = r.labels();
    assert.deepEqual(labels.map((l) => l.frame), [1, 2, 3]);
    const queued = r.agent.ctx.queue.peek(1000).filter((m) => m.topic === 'edgeloom/lab/cam0/label');
    assert.equal(queued.length, 3, 'on <prefix>/<device>/<camera>/label');
    assert.ok(queued.every((m) => m.qos === 1), 'with the configured label QoS');
    for (const [i, label] of labels.entries()) {
      const { pre, ranked } = await expectedTop(r.agent, frames[i]);
      assert.equal(label.label, CLASSES[ranked[0].classId]);
      assert.equal(label.classId, ranked[0].classId);
      assert.ok(Math.abs(label.confidence - ranked[0].p) < 1e-5);
      assert.deepEqual(label.top.map((t) => t.classId), ranked.slice(0, 3).map((t) => t.classId));
      assert.deepEqual(label.top.map((t) => t.label), ranked.slice(0, 3).map((t) => CLASSES[t.classId]));
      for (const [k, t] of label.top.entries()) {
        assert.ok(Math.abs(t.confidence - ranked[k].p) < 1e-5);
        assert.equal(t.confidence, Number(t.confidence.toFixed(5)), 'confidences rounded to 5 decimals');
      }
      assert.equal(label.device, 'lab');
      assert.equal(label.camera, 'cam0');
      assert.deepEqual(label.model, r.agent.ctx.model.current.ref);
      assert.equal('file' in label, false, 'a memory source names no file');
      assert.ok(Date.now() - Date.parse(label.ts) < 60_000 && label.ts === new Date(label.ts).toISOString());
      for (const k of ['decode', 'preprocess', 'inference', 'total'] as const) assert.ok(label.latencyMs[k] >= 0 && Number.isFinite(label.latencyMs[k]));
      assert.ok(label.latencyMs.total >= label.latencyMs.inference);
      if (pre.quality.issues.length > 0) assert.deepEqual(label.quality, { fill: pre.quality.fill, blobs: pre.quality.blobs, issues: pre.quality.issues });
      else assert.equal('quality' in label, false, 'no quality field on a good frame');
    }
    assert.equal(r.agent.ctx.stats.camera('cam0').labels, 3);
    assert.equal(r.agent.ctx.stats.camera('cam0').frames, 3);
    // The observers see what was published, with the pixels the model saw.
    assert.deepEqual(observed.map((o) => [o.camera, o.frameNo]), [['cam0', 1], ['cam0', 2], ['cam0', 3]]);
    assert.deepEqual(observed.map((o) => o.label), labels);
    assert.deepEqual([...observed[0].pixels], [...(await preprocessImage(frames[0], { invert: 'auto' })).pixels]);
    assert.equal(observed[0].logits.length, 10);
    assert.equal(observed[0].frame.buffer, frames[0]);
    assert.equal(r.agent.ctx.cameras.get('cam0')!.lastFrame!.buffer, frames[2]);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('a doubtful frame carries `quality`, is counted, and logs one line naming the issue and the fill', async () => {
    const plain = await png(40, 30, '#808080');
    const pre = await preprocessImage(plain, { invert: 'auto' });
    assert.ok(pre.quality.issues.length > 0, 'a plain frame shows no garment');
    const r = await run(await config('qual'), new MemorySource([plain, plain]));
    await r.agent.finished();
    const labels = r.labels();
    assert.equal(labels.length, 2);
    assert.deepEqual(labels[0].quality, { fill: pre.quality.fill, blobs: pre.quality.blobs, issues: pre.quality.issues });
    assert.equal(r.agent.ctx.stats.qualityFlagged, 2);
    const issues = pre.quality.issues.join(', ');
    const warned = r.lines.filter((l) => l.includes('quality warning'));
    assert.deepEqual(warned, [`camera cam0: frame 1 labelled with a quality warning (${issues}; the garment fills ${Math.round(pre.quality.fill * 100)}% of the image)`], 'the second is held back');
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('a dir: source names each file; --max-frames stops the camera', async () => {
    const frames = join(dir, 'frames');
    await mkdir(frames);
    for (const n of ['a.png', 'b.png', 'c.png']) await writeFile(join(frames, n), await garment());
    const cfg = await config('files', `dir:${frames}`);
    cfg.maxFrames = 2;
    const r = await run(cfg);
    await r.agent.finished();
    assert.deepEqual(r.labels().map((l) => [l.frame, l.file]), [[1, 'a.png'], [2, 'b.png']]);
    assert.equal(r.agent.ctx.cameras.get('cam0')!.health().status, 'offline');
    assert.equal(r.agent.ctx.cameras.get('cam0')!.health().reason, 'source ended');
    await r.agent.stop({ drainTimeoutMs: 0 });
  });
});

describe('camera bad frames', () => {
  test('empty, oversize and undecodable frames are counted by reason and logged; a frame of exactly maxFrameBytes is labelled', async () => {
    const good = await garment();
    const frames = [Buffer.alloc(0), Buffer.concat([good, Buffer.alloc(1)]), good, Buffer.from('not an image at all'), Buffer.alloc(0)];
    const cfg = await config('bad');
    cfg.maxFrameBytes = good.length;
    const r = await run(cfg, new MemorySource(frames));
    await r.agent.finished();
    assert.deepEqual(r.labels().map((l) => l.frame), [3]);
    assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, { 'empty-frame': 2, 'frame-too-large': 1, undecodable: 1 });
    assert.equal(r.agent.ctx.stats.camera('cam0').frames, 5);
    const skipped = r.lines.filter((l) => l.includes('skipped'));
    assert.equal(skipped.length, 3, 'the second empty frame within 10 s is not logged again');
    assert.equal(skipped[0], 'camera cam0: frame 1 skipped (empty-frame: empty frame)');
    assert.equal(skipped[1], `camera cam0: frame 2 skipped (frame-too-large: ${good.length + 1} bytes)`);
    assert.match(skipped[2], /^camera cam0: frame 4 skipped \(undecodable: /);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('why a frame failed: the decoder\'s own reason, else `processing`', () => {
    assert.equal(classifyFrameError(new FrameDecodeError('undecodable', 'x')), 'undecodable');
    assert.equal(classifyFrameError(new Error('something else')), 'processing');
    assert.equal(classifyFrameError('a string'), 'processing');
  });
});

describe('camera sources', () => {
  test('a source error is counted, logged and retried; the camera goes on', async () => {
    const good = await garment();
    const src = new ScriptedSource([new Error('camera hiccup'), good, null]);
    const r = await run(await config('srcerr'), src);
    await r.agent.finished();
    assert.deepEqual(r.labels().map((l) => l.frame), [1]);
    assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, { source: 1 });
    assert.ok(r.lines.includes('camera cam0: source error: camera hiccup'), r.lines.join('\n'));
    assert.equal(src.closed, 1, 'closed once the camera ended');
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('an unusable source (UserError before any frame) ends the camera as stalled with the reason', async () => {
    const r = await run(await config('fatal'), new ScriptedSource([new UserError('cam: no such device /dev/video9')]));
    await r.agent.finished();
    const cam = r.agent.ctx.cameras.get('cam0')!;
    assert.equal(cam.fatal, 'cam: no such device /dev/video9');
    assert.deepEqual(cam.health(), { status: 'stalled', reason: 'cam: no such device /dev/video9' });
    assert.ok(r.lines.includes('camera cam0: cam: no such device /dev/video9'));
    assert.equal(r.agent.ctx.stats.camera('cam0').errors, 0, 'not counted as a source error');
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('a UserError after the first frame is a source error like any other', async () => {
    const good = await garment();
    const r = await run(await config('later'), new ScriptedSource([good, new UserError('gone'), good, null]));
    await r.agent.finished();
    const cam = r.agent.ctx.cameras.get('cam0')!;
    assert.equal(cam.fatal, null);
    assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, { source: 1 });
    assert.deepEqual(r.labels().map((l) => l.frame), [1, 2]);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('a source spec that cannot be opened ends the camera with its reason', async () => {
    const r = await run(await config('nodir', `dir:${join(dir, 'missing')}`));
    await r.agent.finished();
    const cam = r.agent.ctx.cameras.get('cam0')!;
    assert.equal(cam.health().status, 'stalled');
    assert.match(cam.health().reason!, /missing/);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });
});

describe('camera pacing, pause and health', () => {
  test('frames are read at most fps per second', async () => {
    const good = await garment();
    const r = await run(await config('pace', 'file:/unused', 25), new MemorySource([good, good, good]));
    const t0 = performance.now();
    await r.agent.finished();
    // Two waits of 1/25 s between three frames (setTimeout never fires early).
    assert.ok(performance.now() - t0 >= 75, `${performance.now() - t0} ms`);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('an fps change wakes a camera waiting for its next frame', async () => {
    const good = await garment();
    const r = await run(await config('wake', 'file:/unused', 0.01), new MemorySource([good, good]));
    const cam = r.agent.ctx.cameras.get('cam0')!;
    await waitUntil(() => r.labels().length === 1);
    assert.equal(cam.frameNo, 1, 'waiting 100 s for the next frame');
    cam.setFps(50);
    assert.equal(cam.fps, 50);
    await r.agent.finished();
    assert.equal(cam.frameNo, 2);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('pause holds frames back until resume; the pause is its own status', async () => {
    const good = await garment();
    const cfg = await config('pause');
    const r = await run(cfg, new MemorySource([]));
    await r.agent.finished();
    const cam = new CameraRunner(cfg.cameras[0], r.agent.ctx, new MemorySource([good]));
    fx.onCleanup(() => cam.stop());
    cam.setPaused(true);
    assert.equal(r.agent.ctx.stats.camera('cam0').paused, true);
    cam.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(cam.frameNo, 0);
    assert.deepEqual(cam.health(), { status: 'paused', reason: null });
    cam.setPaused(false);
    assert.equal(r.agent.ctx.stats.camera('cam0').paused, false);
    await cam.finished();
    assert.equal(cam.frameNo, 1);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('stalled after 3 frame intervals, at least 30 s, counted from the last frame or the last fps change', async () => {
    const cfg = await config('stall', 'file:/unused', 1);
    const r = await run(cfg, new MemorySource([]));
    await r.agent.finished();
    const cam = new CameraRunner(cfg.cameras[0], r.agent.ctx, new MemorySource([]));
    const t = Date.now();
    assert.deepEqual(cam.health(t + 30_000 - 50), { status: 'online', reason: null });
    assert.deepEqual(cam.health(t + 31_000 + 200), { status: 'stalled', reason: 'no frame for 31 s (limit 30 s)' });
    cam.setFps(0.02); // 3 intervals of 50 s
    const t2 = Date.now();
    assert.equal(cam.health(t2 + 149_000).status, 'online');
    assert.deepEqual(cam.health(t2 + 151_000 + 200), { status: 'stalled', reason: 'no frame for 151 s (limit 150 s)' });
    // A frame read later than the fps change restarts the clock.
    r.agent.ctx.stats.camera('cam0').lastFrameAt = t2 + 100_000;
    assert.equal(cam.health(t2 + 151_000).status, 'online');
    cam.setPaused(true);
    cam.setPaused(false);
    assert.equal(cam.health(Date.now() + 149_000).status, 'online', 'resume restarts the clock too');
    await r.agent.stop({ drainTimeoutMs: 0 });
  });

  test('stop ends a camera waiting for its next frame promptly, closes its source and reports it stopped', async () => {
    const good = await garment();
    const src = new ScriptedSource([good, good, good]);
    const r = await run(await config('stop', 'file:/unused', 0.01), src);
    const cam = r.agent.ctx.cameras.get('cam0')!;
    await waitUntil(() => r.labels().length === 1);
    await cam.stop();
    assert.equal(cam.frameNo, 1);
    assert.deepEqual(cam.health(), { status: 'offline', reason: 'stopped' });
    assert.ok(src.closed >= 1);
    await r.agent.stop({ drainTimeoutMs: 0 });
  });
});

describe('rate-limited warnings', () => {
  test('one line per key per interval; the next line says how many were held back and over how long', () => {
    const lines: string[] = [];
    let now = 1000;
    const w = new RateLimitedWarnings((m) => lines.push(m), 10_000, () => now);
    w.warn('a', 'first a');
    w.warn('b', 'first b');
    now += 5000;
    w.warn('a', 'second a');
    w.warn('a', 'third a');
    now += 4999;
    w.warn('a', 'fourth a');
    assert.deepEqual(lines, ['first a', 'first b']);
    now += 1; // exactly one interval after the first
    w.warn('a', 'fifth a');
    now += 10_000;
    w.warn('a', 'sixth a');
    w.warn('b', 'second b');
    assert.deepEqual(lines, ['first a', 'first b', 'fifth a (+3 more a in the last 10 s)', 'sixth a', 'second b']);
  });

  test('the default interval is 10 s', () => {
    const lines: string[] = [];
    let now = 0;
    const w = new RateLimitedWarnings((m) => lines.push(m), undefined, () => now);
    w.warn('k', 'one');
    now = 9999;
    w.warn('k', 'two');
    now = 10_000;
    w.warn('k', 'three');
    assert.deepEqual(lines, ['one', 'three (+1 more k in the last 10 s)']);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
