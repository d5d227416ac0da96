import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../training/data/load.ts';
import { writePhotos, type PhotoClass } from '../data/photos.ts';

/** Three of the user's own classes as photos the test makes (test/data/photos.ts): train/ and test/ folders. */
export const PHOTO_CLASSES: PhotoClass[] = [
  { name: 'jeans', fashionMnistClass: 1 }, { name: 'handbag', fashionMnistClass: 8 }, { name: 'trainers', fashionMnistClass: 7 },
];

export async function writePhotoFolder(trainPerClass: number, testPerClass: number): Promise<{ dir: string; spec: string }> {
  const fm = await loadDataset();
  const dir = join(await mkdtemp(join(tmpdir(), 'edgeloom-studies-')), 'photos');
  await writePhotos(dir, 'train', PHOTO_CLASSES, fm.test, trainPerClass);
  await writePhotos(dir, 'test', PHOTO_CLASSES, fm.test, testPerClass, trainPerClass);
  return { dir, spec: `folder:${dir}` };
}
