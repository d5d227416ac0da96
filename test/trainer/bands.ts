import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { createRng } from '../../src/random.ts';
import type { ImageSet } from '../../training/data/dataset.ts';

/** Synthetic, learnable data: class c is a bright horizontal band at row 2c+4. */
export function bands(count: number, seed: number): ImageSet {
  const rng = createRng(seed);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 10;
    labels[i] = c;
    for (let p = 0; p < 784; p++) images[i * 784 + p] = Math.floor(rng() * 60);
    for (let x = 0; x < 28; x++) images[i * 784 + (2 * c + 4) * 28 + x] = 255;
  }
  return { images, labels, count, classNames: FASHION_MNIST_CLASSES };
}
