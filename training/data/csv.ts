import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { createRng, shuffleInPlace } from '../../src/random.ts';
import { makeImageSet, subset, type ImageSet, type SplitDataset } from './dataset.ts';
import { DEFAULT_SEED } from '../../src/defaults.ts';

/**
 * The Kaggle layout of Fashion-MNIST: one image per line, `label,pixel1,...,pixel784`, with an
 * optional header line. Without a test CSV, the test split is held out of the train CSV:
 * 1/7 of each class (the official 60,000/10,000 ratio), drawn with a fixed seed.
 */
export const CSV_COLUMNS = 1 + IMAGE_PIXELS;
export const HOLDOUT_FRACTION = 1 / 7;

export function csvHeader(): string {
  return ['label', ...Array.from({ length: IMAGE_PIXELS }, (_, i) => `pixel${i + 1}`)].join(',');
}

/** Reads one CSV file line by line (never the whole file in memory as text). */
export async function readCsvImages(path: string, classNames: readonly string[] = FASHION_MNIST_CLASSES): Promise<ImageSet> {
  if (!existsSync(path)) throw new UserError(`${path}: file not found (expected a CSV with label,pixel1..pixel784)`);
  // Grows by doubling: the file size does not tell how many lines it holds.
  let images = new Uint8Array(1024 * IMAGE_PIXELS);
  let labels = new Uint8Array(1024);
  let count = 0;
  let lineNo = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const raw of lines) {
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    if (lineNo === 1 && /^[a-z_]/i.test(line)) {
      if (!line.toLowerCase().startsWith('label')) throw new UserError(`${path}:1: header must start with "label" (Kaggle layout label,pixel1..pixel784)`);
      continue;
    }
    const cells = line.split(',');
    if (cells.length !== CSV_COLUMNS) {
      throw new UserError(`${path}:${lineNo}: expected ${CSV_COLUMNS} columns (label + ${IMAGE_PIXELS} pixels), found ${cells.length}`);
    }
    if (count === labels.length) {
      const grownImages = new Uint8Array(images.length * 2);
      grownImages.set(images);
      images = grownImages;
      const grownLabels = new Uint8Array(labels.length * 2);
      grownLabels.set(labels);
      labels = grownLabels;
    }
    labels[count] = parseCell(cells[0], classNames.length - 1, path, lineNo, 'label');
    const offset = count * IMAGE_PIXELS;
    for (let p = 0; p < IMAGE_PIXELS; p++) images[offset + p] = parseCell(cells[p + 1], 255, path, lineNo, `pixel${p + 1}`);
    count++;
  }
  if (count === 0) throw new UserError(`${path}: no images (expected lines of label,pixel1..pixel784)`);
  return makeImageSet(images.slice(0, count * IMAGE_PIXELS), labels.slice(0, count), classNames, path);
}

function parseCell(text: string, max: number, path: string, lineNo: number, column: string): number {
  const cell = text.trim();
  const n = Number(cell);
  if (cell === '' || !Number.isInteger(n) || n < 0 || n > max) {
    throw new UserError(`${path}:${lineNo}: ${column} "${cell}" is not an integer in 0..${max}`);
  }
  return n;
}

/**
 * Stratified hold-out: per class, a seeded shuffle, then the first round(n * fraction) go to test.
 * Every class keeps the same share, so a class-sorted file still gives a balanced test set.
 */
export function stratifiedSplit(set: ImageSet, fraction: number, seed: number): { train: ImageSet; test: ImageSet } {
  const rng = createRng(seed);
  const byClass: number[][] = set.classNames.map(() => []);
  for (let i = 0; i < set.count; i++) byClass[set.labels[i]].push(i);
  const train: number[] = [];
  const test: number[] = [];
  for (const members of byClass) {
    shuffleInPlace(members, rng);
    const held = Math.round(members.length * fraction);
    test.push(...members.slice(0, held));
    train.push(...members.slice(held));
  }
  // Original order within each split: reproducible and easy to compare with the source file.
  train.sort((a, b) => a - b);
  test.sort((a, b) => a - b);
  return { train: subset(set, train), test: subset(set, test) };
}

export async function loadCsvDataset(trainCsv: string, testCsv?: string, opts: { seed?: number } = {}): Promise<SplitDataset> {
  const all = await readCsvImages(trainCsv);
  if (testCsv) {
    const test = await readCsvImages(testCsv);
    return { train: all, test, source: `csv: ${trainCsv}, ${testCsv}` };
  }
  const seed = opts.seed ?? DEFAULT_SEED;
  const { train, test } = stratifiedSplit(all, HOLDOUT_FRACTION, seed);
  return { train, test, source: `csv: ${trainCsv} (test = stratified 1/7 hold-out, seed ${seed})` };
}
