import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS, classSlug } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { IMAGE_EXTENSIONS, isImageFileName } from '../../src/image-files.ts';
import { UNLABELLED_DIR } from '../../src/collect-layout.ts';
import { preprocessImage } from '../../src/preprocess.ts';
import { makeImageSet, type ImageSet, type SplitDataset } from './dataset.ts';
import { HOLDOUT_FRACTION, stratifiedSplit } from './csv.ts';
import { contentKey, imageCacheDir, readCachedImage, writeCachedImage } from './image-cache.ts';

/**
 * Photos sorted into one folder per class:
 *   ROOT/<class>/**\/*.jpg|png|...                     (test split held out: stratified 1/7, seeded)
 *   ROOT/train/<class>/...  and  ROOT/test/<class>/...
 * Folder names that are all Fashion-MNIST classes (by name, case-insensitive, or slug such as
 * "t-shirt-top") keep the Fashion-MNIST labels; otherwise the sorted folder names become the classes.
 * Every image goes through the device's preprocessing, so training sees what the camera will give;
 * the 28x28 results are cached by content (image-cache.ts). A class folder's sub-folders are read
 * too, in name order, as the agent's `dir:` source reads them; other files (Thumbs.db, notes.txt)
 * are skipped and counted. Extensions: src/image-files.ts, shared with `dir:`.
 */
export { IMAGE_EXTENSIONS };
const DECODE_CONCURRENCY = 4;

export interface ImageFolderOptions {
  seed: number;
  onProgress?: (message: string) => void;
  /** The preprocessed-image cache: a directory, or false for none (default: under the edgeloom cache dir). */
  cache?: string | false;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Entries that matter: hidden files (.DS_Store and the like) are not data. */
async function visibleEntries(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
}

/**
 * The class folders of `dir`. `unlabelled/` (where `edgeloom collect` saves photos nobody has
 * sorted yet) is not a class; non-image files are skipped into `skipped`; a stray image is an
 * error (a photo without a class is a mistake worth hearing about).
 */
async function classFolders(dir: string, skipped: string[] = []): Promise<string[]> {
  const out: string[] = [];
  for (const name of await visibleEntries(dir)) {
    // Photos `edgeloom collect` saved and nobody labelled yet are not a class.
    if (name === UNLABELLED_DIR) continue;
    if (!(await isDir(join(dir, name)))) {
      if (!isImageFileName(name)) {
        skipped.push(join(dir, name));
        continue;
      }
      throw new UserError(`${join(dir, name)}: expected only class folders in ${dir} (layout DIR/<class>/*.png or DIR/train/<class>/...)`);
    }
    out.push(name);
  }
  if (out.length === 0) throw new UserError(`${dir}: no class folders (layout DIR/<class>/*.png or DIR/train/<class>/...)`);
  return out;
}

/** Fashion-MNIST label for a folder name, or -1. */
export function fashionMnistLabel(folder: string): number {
  const lower = folder.toLowerCase();
  return FASHION_MNIST_CLASSES.findIndex((c) => c.toLowerCase() === lower || classSlug(c) === classSlug(folder));
}

/** Class names and each folder's label. */
export function resolveClasses(folders: readonly string[]): { classNames: readonly string[]; labelOf: Map<string, number> } {
  const fm = folders.map(fashionMnistLabel);
  if (fm.every((l) => l >= 0)) {
    return { classNames: FASHION_MNIST_CLASSES, labelOf: new Map(folders.map((f, i) => [f, fm[i]])) };
  }
  const names = [...new Set(folders)].sort();
  if (names.length > 256) throw new UserError(`image folder: ${names.length} class folders, at most 256 are supported`);
  return { classNames: names, labelOf: new Map(names.map((n, i) => [n, i])) };
}

interface FolderListing {
  files: { path: string; label: number }[];
  skipped: string[];
}

/** Image files of a class folder and its sub-folders, in name order; everything else goes to `skipped`. */
async function listClassFolder(dir: string, label: number, into: FolderListing): Promise<void> {
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.')) await listClassFolder(path, label, into);
    } else if (isImageFileName(entry.name)) into.files.push({ path, label });
    else into.skipped.push(path);
  }
}

/** 784 preprocessed pixels of a photo, from the content-keyed cache when it has them. */
async function preprocessCached(path: string, cacheDir: string | null): Promise<Uint8Array> {
  const bytes = await readFile(path);
  const key = cacheDir ? contentKey(bytes) : '';
  if (cacheDir) {
    const hit = await readCachedImage(cacheDir, key);
    if (hit) return hit;
  }
  let pixels: Uint8Array;
  try {
    pixels = (await preprocessImage(bytes)).pixels;
  } catch (err) {
    throw new UserError(`${path}: ${(err as Error).message}`);
  }
  if (cacheDir) await writeCachedImage(cacheDir, key, pixels);
  return pixels;
}

async function readSplit(root: string, dir: string, labelOf: Map<string, number>, classNames: readonly string[], opts: ImageFolderOptions, skipped: string[]): Promise<ImageSet> {
  const listing: FolderListing = { files: [], skipped: [] };
  const stray: string[] = [];
  for (const folder of await classFolders(dir, stray)) {
    const label = labelOf.get(folder);
    if (label === undefined) throw new UserError(`${join(dir, folder)}: class folder not in the training classes (${[...labelOf.keys()].join(', ')})`);
    await listClassFolder(join(dir, folder), label, listing);
  }
  skipped.push(...[...stray, ...listing.skipped].map((p) => relative(root, p)));
  const { files } = listing;
  if (files.length === 0) throw new UserError(`${dir}: no images in the class folders (expected ${IMAGE_EXTENSIONS.join(', ')})`);
  const cacheDir = opts.cache === false ? null : (opts.cache ?? imageCacheDir());
  const images = new Uint8Array(files.length * IMAGE_PIXELS);
  const labels = new Uint8Array(files.length);
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (next < files.length && !failed) {
      const i = next++;
      try {
        images.set(await preprocessCached(files[i].path, cacheDir), i * IMAGE_PIXELS);
      } catch (err) {
        failed ??= err;
      }
      labels[i] = files[i].label;
    }
  };
  await Promise.all(Array.from({ length: DECODE_CONCURRENCY }, worker));
  if (failed) throw failed;
  opts.onProgress?.(`${dir}: ${files.length} images in ${classNames.length} classes`);
  return makeImageSet(images, labels, classNames, dir, files.map((f) => relative(root, f.path)));
}

function skippedNote(skipped: string[]): string {
  return `${skipped.length} non-image file(s) skipped (${skipped.slice(0, 3).join(', ')}${skipped.length > 3 ? ', ...' : ''})`;
}

export async function loadImageFolder(root: string, opts: ImageFolderOptions): Promise<SplitDataset> {
  if (!(await isDir(root))) throw new UserError(`${root}: not a directory (expected DIR/<class>/*.png or DIR/train/<class>/...)`);
  const trainDir = join(root, 'train');
  const testDir = join(root, 'test');
  const skipped: string[] = [];
  let ds: SplitDataset;
  if (await isDir(trainDir)) {
    const hasTest = await isDir(testDir);
    const folders = [...(await classFolders(trainDir)), ...(hasTest ? await classFolders(testDir) : [])];
    for (const name of await visibleEntries(root)) if (name !== 'train' && name !== 'test' && !(await isDir(join(root, name)))) skipped.push(name);
    const { classNames, labelOf } = resolveClasses(folders);
    const train = await readSplit(root, trainDir, labelOf, classNames, opts, skipped);
    if (hasTest) {
      ds = { train, test: await readSplit(root, testDir, labelOf, classNames, opts, skipped), source: `folder: ${root}` };
    } else {
      const split = stratifiedSplit(train, HOLDOUT_FRACTION, opts.seed);
      ds = { ...split, source: `folder: ${root} (test = stratified 1/7 hold-out of train/, seed ${opts.seed})` };
    }
  } else {
    if (await isDir(testDir)) throw new UserError(`${trainDir}: not found (a test/ folder needs a train/ folder next to it)`);
    const { classNames, labelOf } = resolveClasses(await classFolders(root));
    const all = await readSplit(root, root, labelOf, classNames, opts, skipped);
    const split = stratifiedSplit(all, HOLDOUT_FRACTION, opts.seed);
    ds = { ...split, source: `folder: ${root} (test = stratified 1/7 hold-out, seed ${opts.seed})` };
  }
  if (skipped.length) {
    opts.onProgress?.(`${root}: ${skippedNote(skipped)}`);
    ds.skipped = skipped;
    ds.source += `; ${skippedNote(skipped)}`;
  }
  return ds;
}
