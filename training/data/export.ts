import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { basename, extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { IMAGE_PIXELS, IMAGE_SIZE, classSlug } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { writeDirAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { imageAt, type ImageSet } from './dataset.ts';
import { csvHeader } from './csv.ts';
import { IDX_FILES } from './idx-dir.ts';
import { encodeIdx } from './idx.ts';
import { loadDataset, type DataOptions } from './load.ts';

export type ExportFormat = 'idx' | 'csv' | 'png';
export type ExportSplit = 'train' | 'test' | 'all';

export interface ExportOptions extends DataOptions {
  format: ExportFormat;
  out: string;
  split?: string;
  gzip?: boolean;
}

export interface ExportResult {
  out: string;
  /** Written files, relative to `out`. */
  files: string[];
}

/** Marks a directory as ours, so that exporting into it again may replace it. */
export const EXPORT_MARKER = '.edgeloom-export.json';

/** Kaggle's file names for the two splits. */
export const CSV_FILES = { train: 'fashion-mnist_train.csv', test: 'fashion-mnist_test.csv' } as const;

const PNG_CONCURRENCY = 8;

async function writeIdx(dir: string, split: 'train' | 'test', set: ImageSet, gzip: boolean): Promise<string[]> {
  const names = split === 'train' ? [IDX_FILES.trainImages, IDX_FILES.trainLabels] : [IDX_FILES.testImages, IDX_FILES.testLabels];
  const blobs = [encodeIdx([set.count, IMAGE_SIZE, IMAGE_SIZE], set.images), encodeIdx([set.count], set.labels)];
  const files: string[] = [];
  for (const [i, name] of names.entries()) {
    const file = gzip ? `${name}.gz` : name;
    await writeFile(join(dir, file), gzip ? gzipSync(blobs[i]) : blobs[i]);
    files.push(file);
  }
  return files;
}

async function writeCsv(dir: string, split: 'train' | 'test', set: ImageSet): Promise<string[]> {
  const file = CSV_FILES[split];
  // Streamed: 60,000 lines of text are ~130 MB, no reason to hold them all.
  const stream = createWriteStream(join(dir, file));
  const write = async (text: string) => {
    if (!stream.write(text)) await once(stream, 'drain');
  };
  await write(`${csvHeader()}\n`);
  for (let i = 0; i < set.count; i++) await write(`${set.labels[i]},${imageAt(set, i).join(',')}\n`);
  stream.end();
  await once(stream, 'finish');
  return [file];
}

/** A source file's base name without extension, safe as part of a file name on any file system. */
export function fileStem(file: string): string {
  return basename(file, extname(file)).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
}

async function writePngs(dir: string, split: 'train' | 'test', set: ImageSet): Promise<string[]> {
  const slugs = set.classNames.map(classSlug);
  for (const slug of new Set(slugs)) await mkdir(join(dir, split, slug), { recursive: true });
  // Zero-padded so that a file listing sorts in data set order.
  const digits = String(Math.max(0, set.count - 1)).length;
  // Photos keep their name after the index (`007-IMG_0042.png`): which photo an exported image is.
  const files = Array.from({ length: set.count }, (_, i) => join(split, slugs[set.labels[i]], `${String(i).padStart(digits, '0')}${set.files ? `-${fileStem(set.files[i])}` : ''}.png`));
  let next = 0;
  const worker = async () => {
    while (next < set.count) {
      const i = next++;
      const pixels = Buffer.from(imageAt(set, i));
      const png = await sharp(pixels, { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } }).toColourspace('b-w').png().toBuffer();
      await writeFile(join(dir, files[i]), png);
    }
  };
  await Promise.all(Array.from({ length: PNG_CONCURRENCY }, worker));
  return files;
}

/** Writes already-loaded splits in one format into `out`, built in a temporary directory first. */
export async function exportImageSets(sets: { train?: ImageSet; test?: ImageSet }, format: ExportFormat, out: string, opts: { gzip?: boolean; source?: string } = {}): Promise<ExportResult> {
  if (existsSync(out)) {
    const entries = await readdir(out).catch(() => null);
    if (entries === null) throw new UserError(`--out ${out}: exists and is not a directory`);
    if (entries.length > 0 && !entries.includes(EXPORT_MARKER)) {
      throw new UserError(`--out ${out}: directory is not empty and was not written by edgeloom data export (choose a new directory)`);
    }
  }
  const files: string[] = [];
  await writeDirAtomic(out, async (tmp) => {
    for (const split of ['train', 'test'] as const) {
      const set = sets[split];
      if (!set) continue;
      if (set.images.length !== set.count * IMAGE_PIXELS) throw new Error(`export: ${split} set is inconsistent`);
      if (format === 'idx') files.push(...(await writeIdx(tmp, split, set, opts.gzip ?? false)));
      else if (format === 'csv') files.push(...(await writeCsv(tmp, split, set)));
      else files.push(...(await writePngs(tmp, split, set)));
    }
    const marker = { format, splits: Object.keys(sets), source: opts.source ?? null, classNames: (sets.train ?? sets.test)?.classNames ?? [] };
    await writeFile(join(tmp, EXPORT_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  });
  return { out, files };
}

export async function exportDataset(opts: ExportOptions): Promise<ExportResult> {
  const split = (opts.split ?? 'test') as ExportSplit;
  if (!['train', 'test', 'all'].includes(split)) throw new UserError(`--split: expected train, test or all, got "${opts.split}"`);
  if (!['idx', 'csv', 'png'].includes(opts.format)) throw new UserError(`--format: expected idx, csv or png, got "${opts.format}"`);
  if (opts.gzip && opts.format !== 'idx') throw new UserError('--gzip: only applies to --format idx');
  const log = createLogger('data');
  const ds = await loadDataset({ ...opts, onProgress: opts.onProgress ?? ((m) => log.info(m)) });
  const sets = { train: split === 'test' ? undefined : ds.train, test: split === 'train' ? undefined : ds.test };
  return exportImageSets(sets, opts.format, opts.out, { gzip: opts.gzip, source: ds.source });
}
