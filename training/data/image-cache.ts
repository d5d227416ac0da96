import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { cacheRoot } from '../../src/cache.ts';

/**
 * The 28x28 result of preprocessing a photo, stored under the edgeloom cache dir and keyed by the
 * photo's SHA-256 and the preprocessing's fingerprint: decoding and preprocessing a 640x480 JPEG
 * costs ~20 ms, reading back 784 bytes well under 1 ms, and a photo that is renamed or moved is
 * still a hit while an edited one (same name, new bytes) is not. One file per image, written
 * atomically, so concurrent commands and interrupted runs never see a torn entry.
 */
export const IMAGE_CACHE_DIR = 'images-v1';

/**
 * Bump when preprocessImage's output changes for the same input. Belt and braces: the source of
 * src/preprocess.ts, when it is on disk (running from the repository), is hashed in too, so an
 * edit there never serves stale images even if nobody bumped this.
 */
export const PREPROCESSING_CACHE_VERSION = 1;

let fingerprint: string | null = null;

export function preprocessingFingerprint(): string {
  if (fingerprint) return fingerprint;
  const h = createHash('sha256').update(`edgeloom-preprocess-${PREPROCESSING_CACHE_VERSION}`);
  for (const rel of ['../../src/preprocess.ts', '../../src/preprocess.js']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) h.update(readFileSync(path));
  }
  fingerprint = h.digest('hex').slice(0, 16);
  return fingerprint;
}

export function imageCacheDir(root = cacheRoot()): string {
  return join(root, IMAGE_CACHE_DIR, preprocessingFingerprint());
}

export function contentKey(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function entryPath(dir: string, key: string): string {
  return join(dir, key.slice(0, 2), `${key}.u8`);
}

/** The cached 784 pixels of the image with content `key`, or null. */
export async function readCachedImage(dir: string, key: string): Promise<Uint8Array | null> {
  try {
    const b = await readFile(entryPath(dir, key));
    return b.length === IMAGE_PIXELS ? new Uint8Array(b.buffer, b.byteOffset, b.length) : null;
  } catch {
    return null;
  }
}

export async function writeCachedImage(dir: string, key: string, pixels: Uint8Array): Promise<void> {
  await writeFileAtomic(entryPath(dir, key), pixels);
}
