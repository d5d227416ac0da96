import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Temporary sibling path: same directory, so the final rename stays on one file system. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes a file so that readers see either the old content or the whole new one, never half.
 * `mode` applies from creation on (secrets are never readable by others, not even briefly).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data, opts.mode !== undefined ? { mode: opts.mode } : {});
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Builds a directory under a temporary name and renames it into place once complete. */
export async function writeDirAtomic(path: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  await mkdir(tmp, { recursive: true });
  try {
    await build(tmp);
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
