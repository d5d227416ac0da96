import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { loadTestImages } from '../../device/sources/fashion-mnist.ts';
import { softmax, topK } from '../../src/scores.ts';
import { startDashboard, type DashboardServer } from '../../dashboard/server.ts';
import { loadTryModelAssets, SAMPLE_COUNT, TRY_MODEL_FILE, type TryModelInfo } from '../../dashboard/try-model.ts';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS } from '../../src/classes.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { cameraFrame } from '../preprocess/accuracy.ts';
import { ARTIFACTS, launch, noChromium, type Browser } from './browser.ts';

/**
 * "Try the model": the page runs the shipped int8 model with onnxruntime-web and the agent's
 * preprocessing. The same images go through the page (its file input) and through the agent's code
 * in Node (preprocessImage + onnxruntime-node): they must agree on the label for >= 99% of camera-
 * like photos and test images, and the 28x28 images must match.
 */
const COUNT = 100;
let broker: EmbeddedBroker;
let dash: DashboardServer;
let browser: Browser | null = null;

function get(port: number, path: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' });
  dash = await startDashboard({ mqttUrl: `ws://127.0.0.1:${broker.wsPort}`, port: 0 });
  if (!noChromium) browser = await launch();
});
after(async () => {
  await browser?.close();
  await dash.close();
  await broker.close();
});

test('the server hands out the shipped model, its classes, sample test images and the wasm, from fixed paths only', async () => {
  const model = await get(dash.port, '/try/model.onnx');
  assert.equal(model.status, 200);
  assert.deepEqual(model.body, await readFile(TRY_MODEL_FILE));
  const info = JSON.parse((await get(dash.port, '/try/model.json')).body.toString()) as TryModelInfo;
  assert.deepEqual(info.classes, [...FASHION_MNIST_CLASSES]);
  assert.match(info.id, /^default-[0-9a-f]{12}$/);
  assert.ok(info.accuracy !== null && info.accuracy > 0.9);
  assert.equal(info.samples.length, SAMPLE_COUNT);
  assert.deepEqual(new Set(info.samples.map((s) => s.label)).size, 10, 'every class among the samples');
  const wasm = await get(dash.port, '/ort/ort-wasm-simd-threaded.wasm');
  assert.equal(wasm.status, 200);
  assert.equal(wasm.type, 'application/wasm');
  assert.deepEqual([...wasm.body.subarray(0, 4)], [0, 0x61, 0x73, 0x6d], 'a WebAssembly module');
  for (const path of ['/models/default.onnx', '/try/../models/default.onnx', '/try/%2e%2e/package.json', '/try/model.onnx/..', '/try/edgenet.onnx',
    '/ort/../package.json', '/ort/%2e%2e/%2e%2e/package.json', '/ort/ort-wasm-simd-threaded.jsep.wasm', '/ort/ort.min.mjs', '/ort/', '/try/model.onnx%00']) {
    assert.equal((await get(dash.port, path)).status, 404, path);
  }
});

test('a missing or broken model makes Try the model unavailable, with a reason that names no server path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-try-'));
  try {
    const missing = await loadTryModelAssets(join(dir, 'default.onnx'));
    assert.equal(missing.unavailable, 'Try the model is unavailable on this server: cannot read models/default.onnx');
    await writeFile(join(dir, 'default.onnx'), 'not a model');
    const broken = await loadTryModelAssets(join(dir, 'default.onnx'));
    assert.match(broken.unavailable ?? '', /^Try the model is unavailable on this server: default\.onnx: not an ONNX model/);
    for (const assets of [missing, broken]) {
      assert.equal(assets.files.has('/try/model.onnx'), false);
      assert.equal(assets.lazy.size, 0);
      const body = assets.files.get('/try/model.json')![1].toString();
      assert.equal(body.includes(dir), false, body);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

interface PageResult {
  seq: number;
  status: string;
  top: { classId: number; confidence: number }[];
  pixels: number[] | null;
}

/** Through the page's own code path: the file input, then what the page shows. */
async function tryInPage(page: Page, seq: number, name: string, mimeType: string, buffer: Buffer): Promise<PageResult> {
  await page.locator('section.tryit input[type="file"]').setInputFiles({ name, mimeType, buffer });
  return shown(page, seq);
}

/** Waits until the page has shown result `seq`, then reads it (no named functions: tsx would add __name). */
async function shown(page: Page, seq: number): Promise<PageResult> {
  const handle = await page.waitForFunction((n) => {
    const root = document.querySelector('section.tryit')!;
    const result = root.querySelector('.result')!;
    if (result.getAttribute('data-seq') !== String(n)) return null;
    const canvas = root.querySelector<HTMLCanvasElement>('canvas.seen')!;
    const rgba = canvas.hidden ? null : canvas.getContext('2d')!.getImageData(0, 0, 28, 28).data;
    return {
      seq: n,
      status: root.querySelector('.status')!.textContent ?? '',
      top: [...root.querySelectorAll('ol.top3 li')].map((li) => ({ classId: Number(li.getAttribute('data-class-id')), confidence: Number(li.getAttribute('data-confidence')) })),
      pixels: rgba ? Array.from({ length: 784 }, (_, i) => rgba[i * 4]) : null,
    };
  }, seq);
  return (await handle.jsonValue()) as PageResult;
}

test('browser and agent agree on >= 99% of camera-like photos and test images; the 28x28 images match', { skip: noChromium }, async () => {
  const { images } = await loadTestImages();
  const testPngs: Buffer[] = [];
  const photos: Buffer[] = [];
  // Test images from 1000 on (the page's samples are the first 20), photos of garments from 3000 on.
  for (let i = 0; i < COUNT; i++) {
    const png = Buffer.from(images.subarray((1000 + i) * IMAGE_PIXELS, (1001 + i) * IMAGE_PIXELS));
    testPngs.push(await sharp(png, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
    photos.push(await cameraFrame(images.subarray((3000 + i) * IMAGE_PIXELS, (3001 + i) * IMAGE_PIXELS), i));
  }

  // The agent: preprocessImage (sharp + src/preprocess) and onnxruntime-node, as device/camera.ts does.
  const session = await createOnnxSession(await readFile(TRY_MODEL_FILE), { ep: 'cpu', intraOpThreads: 1 });
  const agent = async (bytes: Buffer) => {
    const pre = await preprocessImage(bytes);
    const { logits } = await session.run(toModelInput(pre.pixels), 1);
    return { pixels: pre.pixels, top: topK(softmax(logits.subarray(0, 10)), [...FASHION_MNIST_CLASSES], 3) };
  };

  const page = await browser!.context.newPage();
  const errors: string[] = [];
  const urls: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => urls.push(r.url()));
  try {
    const origin = dash.url.replace('localhost', '127.0.0.1');
    await page.goto(origin);
    await page.locator('section.tryit button.sample').first().waitFor();

    let seq = 0;
    const compare = async (set: Buffer[], mime: string, ext: string) => {
      let agree = 0;
      let samePixels = 0;
      let diffSum = 0;
      let maxConfidenceDiff = 0;
      for (let i = 0; i < set.length; i++) {
        const b = await tryInPage(page, ++seq, `img${i}.${ext}`, mime, set[i]);
        const a = await agent(set[i]);
        assert.ok(b.pixels && b.top.length === 3, `image ${i}: the page shows a result (${b.status})`);
        if (b.top[0].classId === a.top[0].classId) {
          agree++;
          maxConfidenceDiff = Math.max(maxConfidenceDiff, Math.abs(b.top[0].confidence - a.top[0].confidence));
        }
        let d = 0;
        for (let p = 0; p < IMAGE_PIXELS; p++) d += Math.abs(b.pixels[p] - a.pixels[p]);
        if (d === 0) samePixels++;
        diffSum += d / IMAGE_PIXELS;
      }
      return { agree, samePixels, meanPixelDiff: diffSum / set.length, maxConfidenceDiff };
    };

    const tests = await compare(testPngs, 'image/png', 'png');
    // Lossless PNGs decode to the same pixels: the page's 28x28 images are the agent's, byte for byte.
    assert.equal(tests.samePixels, COUNT, `identical 28x28 images: ${JSON.stringify(tests)}`);
    assert.equal(tests.agree, COUNT, `same label on every test image: ${JSON.stringify(tests)}`);
    assert.ok(tests.maxConfidenceDiff < 1e-3, `same confidences (onnxruntime-web vs -node): ${JSON.stringify(tests)}`);

    const camera = await compare(photos, 'image/jpeg', 'jpg');
    await page.locator('section.tryit').screenshot({ path: join(ARTIFACTS, 'try-model.png') });
    // JPEG decoders round differently (a level or so per pixel); the label must not care.
    assert.ok(camera.agree >= 0.99 * COUNT, `browser and agent agree on ${camera.agree}/${COUNT} camera-like photos: ${JSON.stringify(camera)}`);
    assert.ok(camera.meanPixelDiff < 3, `28x28 images nearly equal: ${JSON.stringify(camera)}`);

    // A sample test image, picked by a click, is shown as the model saw it (28x28 passes through unchanged).
    const info = JSON.parse((await get(dash.port, '/try/model.json')).body.toString()) as TryModelInfo;
    await page.locator('section.tryit button.sample').nth(3).click();
    const sample = await shown(page, ++seq);
    assert.deepEqual(sample.pixels, [...Buffer.from(info.samples[3].pixels, 'base64')]);
    const sampleAgent = await agent(await sharp(Buffer.from(info.samples[3].pixels, 'base64'), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
    assert.equal(sample.top[0].classId, sampleAgent.top[0].classId);

    // What cannot be classified says why, in one line.
    const notImage = await tryInPage(page, ++seq, 'notes.jpg', 'image/jpeg', Buffer.from('not an image at all'));
    assert.match(notImage.status, /^cannot decode image: /);
    assert.equal(notImage.pixels, null);
    const tiny = await tryInPage(page, ++seq, 'pixel.png', 'image/png', await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer());
    assert.equal(tiny.status, 'unusable frame: 1x1 pixels (at least 8x8 needed)');
    const empty = await tryInPage(page, ++seq, 'empty.png', 'image/png', Buffer.alloc(0));
    assert.match(empty.status, /^cannot decode image: the file is empty/);

    assert.deepEqual(errors, []);
    assert.ok(urls.some((u) => u.endsWith('/ort/ort-wasm-simd-threaded.wasm')), 'the wasm comes from the dashboard server');
    const foreign = urls.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, [], 'no request leaves the dashboard server (no CDN)');
  } finally {
    await session.close();
    await page.close();
  }
});

