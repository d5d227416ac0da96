import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { CameraRunner } from '../../device/camera.ts';
import type { FrameResult } from '../../device/context.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { parseSourceSpec } from '../../device/sources/spec.ts';
import { FrameCounter, type Frame, type FrameSource } from '../../device/sources/types.ts';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { cameraFixture, CLASSES, ClockSkew, ScriptedSource, tableWith, waitUntil, type Fixture } from './camera-fixture.ts';
import { buildTinyModel } from './tiny-model.ts';

/**
 * CameraRunner's edges that camera-units.test.ts leaves open (found by the mutation run, issue 19):
 * the stall limit's boundary, the source options, the preprocessing options, the quality warning's
 * parts, a model that overflows, a crashed loop, and what stop() does while a read, a decode or an
 * inference is in flight.
 */

const { onnx } = onnxProto;
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

/** A camera of its own on an agent's context (the agent's own camera has an empty source and ends at once). */
async function standalone(deviceId: string, source: FrameSource | undefined, change: (cfg: Awaited<ReturnType<Fixture['config']>>) => void = () => {}) {
  const cfg = await fx.config(deviceId);
  change(cfg);
  const r = await fx.run(cfg, new MemorySource([]));
  await r.agent.finished();
  const cam = new CameraRunner(cfg.cameras[0], r.agent.ctx, source);
  fx.onCleanup(() => cam.stop());
  return { r, cam };
}

/** A source whose reads wait for the test: push() hands the waiting read a frame or an error; close() only counts (a pull source, e.g. a snapshot GET). */
class GatedSource implements FrameSource {
  readonly name = 'gated';
  closed = 0;
  reads = 0;
  private readonly counter = new FrameCounter('gated');
  private waiting: ((item: Buffer | Error) => void) | null = null;
  read(): Promise<Frame | null> {
    this.reads++;
    return new Promise((resolve, reject) => {
      this.waiting = (item) => (item instanceof Error ? reject(item) : resolve(this.counter.frame(item)));
    });
  }
  push(item: Buffer | Error): void {
    const w = this.waiting;
    this.waiting = null;
    w!(item);
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

/** A push source (an RTSP or MJPEG stream): a read waits for the next frame, and close() ends that wait with null. */
class PushSource implements FrameSource {
  readonly name = 'push';
  closed = 0;
  reads = 0;
  private readonly counter = new FrameCounter('push');
  private readonly pending: Buffer[] = [];
  private waiting: ((f: Frame | null) => void) | null = null;
  read(): Promise<Frame | null> {
    this.reads++;
    const next = this.pending.shift();
    if (next) return Promise.resolve(this.counter.frame(next));
    if (this.closed > 0) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }
  push(frame: Buffer): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(this.counter.frame(frame));
    } else this.pending.push(frame);
  }
  async close(): Promise<void> {
    this.closed++;
    const w = this.waiting;
    this.waiting = null;
    w?.(null);
  }
}

describe('camera health boundary', () => {
  test('online up to exactly the stall limit after the last frame, stalled 1 ms later', async () => {
    const { r, cam } = await standalone('edge', new MemorySource([]), (cfg) => {
      cfg.cameras[0].fps = 2;
      cfg.health.stallIntervals = 4;
      cfg.health.minStallS = 1;
    });
    // 4 intervals of 1/2 s = 2 s, above the 1 s minimum; the frame is later than the camera's start.
    const last = Date.now() + 60_000;
    r.agent.ctx.stats.camera('cam0').lastFrameAt = last;
    assert.deepEqual(cam.health(last + 2000), { status: 'online', reason: null });
    assert.deepEqual(cam.health(last + 2001), { status: 'stalled', reason: 'no frame for 2 s (limit 2 s)' });
  });
});

describe('camera source and preprocessing options', () => {
  test('a dir: source with `loop` starts again from the first file', async () => {
    const frames = join(fx.dir, 'loop');
    await mkdir(frames);
    for (const n of ['a.png', 'b.png']) await writeFile(join(frames, n), await tableWith());
    const cfg = await fx.config('loop', `dir:${frames}`);
    cfg.cameras[0].loop = true;
    cfg.maxFrames = 5;
    const r = await fx.run(cfg);
    await r.agent.finished();
    assert.deepEqual(r.labels().map((l) => l.file), ['a.png', 'b.png', 'a.png', 'b.png', 'a.png']);
  });

  test('a dir: source without `loop` ends the camera after its last file (it is not reopened)', { timeout: 5000 }, async () => {
    const frames = join(fx.dir, 'once');
    await mkdir(frames);
    for (const n of ['a.png', 'b.png']) await writeFile(join(frames, n), await tableWith());
    const r = await fx.run(await fx.config('once', `dir:${frames}`));
    await r.agent.finished();
    assert.deepEqual(r.labels().map((l) => [l.frame, l.file]), [[1, 'a.png'], [2, 'b.png']]);
    assert.equal(r.lines.some((l) => l.includes('stream ended')), false);
  });

  test('a source handed in is never reopened, even when the camera\'s spec names a live stream', { timeout: 5000 }, async () => {
    const src = new ScriptedSource([await tableWith(), null]);
    const { cam } = await standalone('given', src, (cfg) => {
      cfg.cameras[0].source = 'mjpeg:http://127.0.0.1:1/';
    });
    cam.start();
    await cam.finished();
    assert.equal(cam.frameNo, 1);
    assert.deepEqual(cam.health(), { status: 'offline', reason: 'source ended' });
    assert.equal(src.readAt.length, 2);
  });

  test('the camera\'s roi and invert setting reach preprocessing', async () => {
    const frame = await tableWith();
    const roi = { left: 0, top: 0, width: 30, height: 60 };
    const cfg = await fx.config('roi');
    cfg.cameras[0].roi = roi;
    cfg.cameras[0].invert = 'never';
    const r = await fx.run(cfg, new MemorySource([frame]));
    const seen: FrameResult[] = [];
    r.agent.ctx.frameObservers.add((f) => seen.push(f));
    await r.agent.finished();
    const want = await preprocessImage(frame, { roi, invert: 'never' });
    assert.equal(seen.length, 1);
    assert.deepEqual([...seen[0].pixels], [...want.pixels]);
    // Both settings matter for this frame: without either, the model would see other pixels.
    assert.notDeepEqual([...want.pixels], [...(await preprocessImage(frame, { invert: 'never' })).pixels]);
    assert.notDeepEqual([...want.pixels], [...(await preprocessImage(frame, { roi, invert: 'auto' })).pixels]);
  });
});

describe('camera quality warnings', () => {
  test('a good frame is not counted or logged as doubtful', async () => {
    const good = await tableWith();
    assert.deepEqual((await preprocessImage(good, { invert: 'auto' })).quality.issues, [], 'a garment on a table is a good frame');
    const r = await fx.run(await fx.config('goodq'), new MemorySource([good]));
    await r.agent.finished();
    assert.equal(r.labels().length, 1);
    assert.equal(r.agent.ctx.stats.qualityFlagged, 0);
    assert.deepEqual(r.lines, []);
  });

  test('the warning lists every issue and the fill in percent; a different set of issues is its own line', async () => {
    const twoThin = await tableWith([[5, 20, 55, 21], [5, 40, 55, 41]]);
    const twoWide = await tableWith([[5, 5, 20, 50], [40, 5, 55, 50]]);
    const a = (await preprocessImage(twoThin, { invert: 'auto' })).quality;
    const b = (await preprocessImage(twoWide, { invert: 'auto' })).quality;
    assert.deepEqual(a.issues, ['small-garment', 'several-blobs'], 'two thin lines: small and split');
    assert.deepEqual(b.issues, ['several-blobs'], 'two wide bars: split');
    assert.ok(a.fill >= 0.05 && a.fill < 0.1, `fill ${a.fill}`);
    const r = await fx.run(await fx.config('issues'), new MemorySource([twoThin, twoWide]));
    await r.agent.finished();
    assert.equal(r.agent.ctx.stats.qualityFlagged, 2);
    assert.deepEqual(r.lines, [
      `camera cam0: frame 1 labelled with a quality warning (small-garment, several-blobs; the garment fills ${(a.fill * 100).toFixed(0)}% of the image)`,
      `camera cam0: frame 2 labelled with a quality warning (several-blobs; the garment fills ${(b.fill * 100).toFixed(0)}% of the image)`,
    ]);
  });
});

/** The tiny model with every hidden unit forced on and class 3's weights at float32's top: its logit overflows to +Infinity. */
function overflowingModel(): Uint8Array {
  const model = onnx.ModelProto.decode(buildTinyModel({ seed: 5, metadata: { 'edgeloom.classes': JSON.stringify(CLASSES) } }));
  const init = (name: string) => {
    const t = model.graph!.initializer!.find((i) => i.name === name)!;
    const values = new Float32Array(Uint8Array.from(t.rawData!).buffer);
    return { t, values };
  };
  const b1 = init('b1');
  b1.values.fill(1000);
  b1.t.rawData = new Uint8Array(b1.values.buffer);
  const w2 = init('w2');
  for (let j = 0; j < w2.values.length / 10; j++) w2.values[j * 10 + 3] = 3e38;
  w2.t.rawData = new Uint8Array(w2.values.buffer);
  return onnx.ModelProto.encode(model).finish();
}

describe('camera model output', () => {
  test('a frame whose logits are not all finite is skipped, counted and logged, not labelled', async () => {
    const path = join(fx.dir, 'overflow.onnx');
    await writeFile(path, overflowingModel());
    const frame = await tableWith();
    const r = await fx.run(await fx.config('nan', 'file:/unused', 50, path), new MemorySource([frame]));
    await r.agent.finished();
    const { out } = await r.agent.ctx.model.run(toModelInput((await preprocessImage(frame, { invert: 'auto' })).pixels), 1);
    const logits = [...out.logits];
    assert.equal(logits[3], Infinity, 'the model overflows on class 3');
    assert.ok(logits.filter((l, i) => i !== 3).every(Number.isFinite), 'and only there');
    assert.deepEqual(r.labels(), []);
    assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, { 'model-output-nan': 1 });
    assert.deepEqual(r.lines, ['camera cam0: frame 1 skipped (model-output-nan: the model output NaN or infinite logits)']);
  });

  test('latencyMs.total is the time from the start of decoding to the label, within the run', async () => {
    const cfg = await fx.config('latency');
    const frame = await tableWith();
    const t0 = performance.now();
    const r = await fx.run(cfg, new MemorySource([frame]));
    await r.agent.finished();
    const window = performance.now() - t0;
    const [label] = r.labels();
    assert.ok(label.latencyMs.total >= label.latencyMs.inference, JSON.stringify(label.latencyMs));
    // Decoding started after the agent did, and the label was out before finished() (+ rounding).
    assert.ok(label.latencyMs.total <= window + 0.01, `${label.latencyMs.total} ms in a ${window} ms run`);
  });
});

describe('camera loop failures', () => {
  test('a loop that fails outside the per-frame handling ends the camera as stalled with the reason, logged', async () => {
    const { r, cam } = await standalone('crash', undefined, (cfg) => {
      cfg.cameras[0].source = 'bogus:x';
    });
    const reason = (() => {
      try {
        parseSourceSpec('bogus:x');
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('bogus:x parsed');
    })();
    cam.start();
    await cam.finished();
    assert.equal(cam.fatal, reason);
    assert.equal(cam.ended, true);
    assert.deepEqual(cam.health(), { status: 'stalled', reason });
    assert.deepEqual(r.lines, [`camera cam0: stopped (${reason})`]);
  });
});

describe('camera stop while work is in flight', () => {
  test('a push source waiting for its next frame is closed by stop(), which ends the wait', { timeout: 5000 }, async () => {
    const src = new PushSource();
    const r = await fx.run(await fx.config('push'), src);
    src.push(await tableWith());
    await waitUntil(() => r.labels().length === 1 && src.reads === 2);
    await r.agent.ctx.cameras.get('cam0')!.stop();
    assert.ok(src.closed >= 1);
    assert.deepEqual(r.agent.ctx.cameras.get('cam0')!.health(), { status: 'offline', reason: 'stopped' });
  });

  test('stop() after the source ended does not close it again', async () => {
    const src = new ScriptedSource([await tableWith(), null]);
    const r = await fx.run(await fx.config('ended'), src);
    await r.agent.finished();
    assert.equal(src.closed, 1);
    await r.agent.ctx.cameras.get('cam0')!.stop();
    assert.equal(src.closed, 1);
  });

  test('a frame a read returns after stop() is not labelled', { timeout: 5000 }, async () => {
    const src = new GatedSource();
    const r = await fx.run(await fx.config('late'), src);
    const cam = r.agent.ctx.cameras.get('cam0')!;
    await waitUntil(() => src.reads === 1);
    src.push(await tableWith());
    await waitUntil(() => r.labels().length === 1 && src.reads === 2);
    const stopped = cam.stop();
    src.push(await tableWith());
    await stopped;
    assert.equal(cam.frameNo, 1);
    assert.equal(r.labels().length, 1);
  });

  test('a read that fails because stop() closed the source is no source error', { timeout: 5000 }, async () => {
    const src = new GatedSource();
    const r = await fx.run(await fx.config('closing'), src);
    const cam = r.agent.ctx.cameras.get('cam0')!;
    await waitUntil(() => src.reads === 1);
    const stopped = cam.stop();
    src.push(new Error('source closed'));
    await stopped;
    assert.deepEqual(r.agent.ctx.stats.camera('cam0').errorsByReason, {});
    assert.deepEqual(r.lines, []);
  });

  test('stop() during the previous frame\'s inference ends the camera without waiting a frame interval', { timeout: 5000 }, async () => {
    const good = await tableWith();
    // The first read takes longer than the 10 ms interval, so the second frame is read at once.
    const src = new ScriptedSource([async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return good;
    }, good, good]);
    const cfg = await fx.config('midway', 'file:/unused', 100);
    const r = await fx.run(cfg, src);
    const cam = r.agent.ctx.cameras.get('cam0')!;
    let stopped: Promise<void> | null = null;
    r.agent.ctx.frameObservers.add((f) => {
      if (f.frameNo !== 1) return;
      // The loop now waits for this inference with frame 2 read: after it, the next wait is 100 s.
      cam.setFps(0.01);
      stopped = cam.stop();
    });
    await waitUntil(() => stopped !== null);
    await stopped;
    assert.equal(cam.frameNo, 2);
    assert.equal(src.readAt.length, 2);
  });

  test('the time a read took counts against the frame interval', { timeout: 5000 }, async () => {
    const good = await tableWith();
    // Each read "takes" 99.99 s of the 100 s interval (fps 0.01): the next read follows 10 ms later.
    const slow = () => {
      clock.skew += 99_990;
      return good;
    };
    const cfg = await fx.config('slowread', 'file:/unused', 0.01);
    cfg.maxFrames = 2;
    const r = await fx.run(cfg, new ScriptedSource([slow, slow]));
    await r.agent.finished();
    assert.deepEqual(r.labels().map((l) => l.frame), [1, 2]);
  });
});
