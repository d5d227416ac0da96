import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS, classSlug } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { UNLABELLED_DIR } from '../../src/collect-layout.ts';
import { preprocessImage } from '../../src/preprocess.ts';
import { makeImageSet, type ImageSet, type SplitDataset } from './dataset.ts';
import { HOLDOUT_FRACTION, stratifiedSplit } from './csv.ts';

/**
 * Photos sorted into one folder per class:
 *   ROOT/<class>/*.jpg|jpeg|png|webp                  (test split held out: stratified 1/7, seeded)
 *   ROOT/train/<class>/...  and  ROOT/test/<class>/...
 * Folder names that are all Fashion-MNIST classes (by name, case-insensitive, or slug such as
 * "t-shirt-top") keep the Fashion-MNIST labels; otherwise the sorted folder names become the classes.
 * Every image goes through the device's preprocessing, so training sees what the camera will give.
 */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
const DECODE_CONCURRENCY = 4;

export interface ImageFolderOptions {
  seed: number;
  onProgress?: (message: string) => void;
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

async function classFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await visibleEntries(dir)) {
    // Photos `edgeloom collect` saved and nobody labelled yet are not a class.
    if (name === UNLABELLED_DIR) continue;
    if (!(await isDir(join(dir, name)))) {
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

async function readSplit(dir: string, labelOf: Map<string, number>, classNames: readonly string[], log?: (m: string) => void): Promise<ImageSet> {
  const files: { path: string; label: number }[] = [];
  for (const folder of await classFolders(dir)) {
    const label = labelOf.get(folder);
    if (label === undefined) throw new UserError(`${join(dir, folder)}: class folder not in the training classes (${[...labelOf.keys()].join(', ')})`);
    for (const name of await visibleEntries(join(dir, folder))) {
      const path = join(dir, folder, name);
      if (await isDir(path)) throw new UserError(`${path}: unexpected folder inside a class folder (expected only images)`);
      if (!(IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase())) {
        throw new UserError(`${path}: not an image file (expected ${IMAGE_EXTENSIONS.join(', ')})`);
      }
      files.push({ path, label });
    }
  }
  if (files.length === 0) throw new UserError(`${dir}: no images in the class folders`);
  const images = new Uint8Array(files.length * IMAGE_PIXELS);
  const labels = new Uint8Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const { path, label } = files[i];
      try {
        images.set((await preprocessImage(await readFile(path))).pixels, i * IMAGE_PIXELS);
      } catch (err) {
        throw new UserError(`${path}: ${(err as Error).message}`);
      }
      labels[i] = label;
    }
  };
  await Promise.all(Array.from({ length: DECODE_CONCURRENCY }, worker));
  log?.(`${dir}: ${files.length} images in ${classNames.length} classes`);
  return makeImageSet(images, labels, classNames, dir);
}

export async function loadImageFolder(root: string, opts: ImageFolderOptions): Promise<SplitDataset> {
  if (!(await isDir(root))) throw new UserError(`${root}: not a directory (expected DIR/<class>/*.png or DIR/train/<class>/...)`);
  const trainDir = join(root, 'train');
  const testDir = join(root, 'test');
  if (await isDir(trainDir)) {
    const hasTest = await isDir(testDir);
    const folders = [...(await classFolders(trainDir)), ...(hasTest ? await classFolders(testDir) : [])];
    const { classNames, labelOf } = resolveClasses(folders);
    const train = await readSplit(trainDir, labelOf, classNames, opts.onProgress);
    if (hasTest) return { train, test: await readSplit(testDir, labelOf, classNames, opts.onProgress), source: `folder: ${root}` };
    const split = stratifiedSplit(train, HOLDOUT_FRACTION, opts.seed);
    return { ...split, source: `folder: ${root} (test = stratified 1/7 hold-out of train/, seed ${opts.seed})` };
  }
  if (await isDir(testDir)) throw new UserError(`${trainDir}: not found (a test/ folder needs a train/ folder next to it)`);
  const { classNames, labelOf } = resolveClasses(await classFolders(root));
  const all = await readSplit(root, labelOf, classNames, opts.onProgress);
  const split = stratifiedSplit(all, HOLDOUT_FRACTION, opts.seed);
  return { ...split, source: `folder: ${root} (test = stratified 1/7 hold-out, seed ${opts.seed})` };
}
