import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { imageAt, type ImageSet } from '../../training/data/dataset.ts';
import { synthesizeFrame } from '../preprocess/synth.ts';

/**
 * A user's photo collection, made by the tests themselves: Fashion-MNIST garments printed onto a
 * noisy, unevenly lit table (test/preprocess/synth.ts), JPEG, at several frame sizes, garment sizes
 * and positions, saved as ROOT/<split>/<class>/IMG_<n>.jpg under the user's own class names.
 */
export interface PhotoClass {
  /** The user's name for the class (the folder name). */
  name: string;
  /** Which Fashion-MNIST class its garments come from. */
  fashionMnistClass: number;
}

const SIZES: readonly [number, number][] = [[192, 144], [240, 180], [160, 160], [256, 144]];

/** The `k`-th photo of a garment: frame size, garment size, position and table vary with k. */
export function photoOf(pixels: Uint8Array, k: number): Promise<Buffer> {
  const [width, height] = SIZES[k % SIZES.length];
  const short = Math.min(width, height);
  return synthesizeFrame(pixels, {
    width, height,
    garmentSize: Math.round(short * (0.55 + 0.1 * ((k * 7) % 4) / 3)),
    centerX: 0.4 + 0.05 * (k % 4), centerY: 0.45 + 0.04 * ((k >> 1) % 3),
    table: 190 + 5 * (k % 5), gradient: 25, noise: 8, seed: 1000 + k,
  });
}

/**
 * Writes `perClass` photos per class into ROOT/<split>/<name>/, taking garments of each class from
 * `source` starting at `offset` (so train and test photos show different garments). Returns the paths.
 */
export async function writePhotos(root: string, split: string, classes: readonly PhotoClass[], source: ImageSet, perClass: number, offset = 0): Promise<string[]> {
  const paths: string[] = [];
  for (const c of classes) {
    const dir = split ? join(root, split, c.name) : join(root, c.name);
    await mkdir(dir, { recursive: true });
    const members: number[] = [];
    for (let i = 0; i < source.count && members.length < offset + perClass; i++) if (source.labels[i] === c.fashionMnistClass) members.push(i);
    for (let k = 0; k < perClass; k++) {
      const path = join(dir, `IMG_${String(offset + k).padStart(4, '0')}.jpg`);
      await writeFile(path, await photoOf(imageAt(source, members[offset + k]), offset + k));
      paths.push(path);
    }
  }
  return paths;
}
