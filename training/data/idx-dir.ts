import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { readIdxFile } from './idx.ts';
import { makeImageSet, type ImageSet, type SplitDataset } from './dataset.ts';

/** File names as Zalando publishes them; each may also carry a `.gz` suffix. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function locate(dir: string, name: string): string {
  for (const candidate of [name, `${name}.gz`]) {
    const p = join(dir, candidate);
    if (existsSync(p)) return p;
  }
  throw new UserError(`${join(dir, name)}[.gz]: file not found (expected the official Fashion-MNIST IDX files in ${dir})`);
}

export async function loadIdxPair(imagesPath: string, labelsPath: string, classNames: readonly string[] = FASHION_MNIST_CLASSES): Promise<ImageSet> {
  const images = await readIdxFile(imagesPath);
  const labels = await readIdxFile(labelsPath);
  if (images.dims.length !== 3 || images.dims[1] !== IMAGE_SIZE || images.dims[2] !== IMAGE_SIZE) {
    throw new UserError(`${imagesPath}: expected images of shape Nx${IMAGE_SIZE}x${IMAGE_SIZE}, found ${images.dims.join('x')}`);
  }
  if (labels.dims.length !== 1) throw new UserError(`${labelsPath}: expected a rank-1 label file, found dims ${labels.dims.join('x')}`);
  if (labels.dims[0] !== images.dims[0]) {
    throw new UserError(`${labelsPath}: ${labels.dims[0]} labels but ${imagesPath} holds ${images.dims[0]} images`);
  }
  return makeImageSet(images.data, labels.data, classNames, labelsPath);
}

/** Loads the four official IDX files (plain or gzipped) from a directory. */
export async function loadIdxDir(dir: string): Promise<SplitDataset> {
  const train = await loadIdxPair(locate(dir, IDX_FILES.trainImages), locate(dir, IDX_FILES.trainLabels));
  const test = await loadIdxPair(locate(dir, IDX_FILES.testImages), locate(dir, IDX_FILES.testLabels));
  return { train, test, source: dir };
}
