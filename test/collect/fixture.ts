import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { loadTestImages } from '../../device/sources/fashion-mnist.ts';
import { synthesizeFrame } from '../preprocess/synth.ts';

export const DEFAULT_MODEL = new URL('../../models/default.onnx', import.meta.url).pathname;

/** `count` garment-on-table JPEGs (several sizes) from Fashion-MNIST test images, in a fresh temp folder. */
export async function makeFrames(count: number, first = 0): Promise<{ root: string; frames: string; files: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'edgeloom-collect-'));
  const frames = join(root, 'frames');
  await mkdir(frames);
  const test = await loadTestImages();
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const k = first + i;
    const pixels = test.images.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS);
    const big = i % 2 === 1;
    const jpeg = await synthesizeFrame(pixels, { width: big ? 640 : 320, height: big ? 480 : 240, garmentSize: big ? 300 : 150, seed: k + 1 });
    const name = `frame-${String(i).padStart(3, '0')}.jpg`;
    await writeFile(join(frames, name), jpeg);
    files.push(join(frames, name));
  }
  return { root, frames, files };
}

/** Photos (not sidecars) in a folder, sorted. */
export async function photosIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort();
}

export async function readJson(path: string): Promise<any> {
  return JSON.parse(await readFile(path, 'utf8'));
}
