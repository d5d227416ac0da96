import { link, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UNLABELLED_DIR } from '../../src/collect-layout.ts';
import { writeFileAtomic, tempPathFor } from '../../src/fs-atomic.ts';
import type { FrameGuess } from './policy.ts';

/** File extension from the first bytes, so photos keep the format the camera sent (no re-encoding). */
export function imageExtension(bytes: Uint8Array): string | null {
  const b = (i: number) => bytes[i] ?? -1;
  const ascii = (from: number, s: string) => [...s].every((c, i) => b(from + i) === c.charCodeAt(0));
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpg';
  if (b(0) === 0x89 && ascii(1, 'PNG')) return 'png';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'GIF8')) return 'gif';
  if ((ascii(0, 'II') && b(2) === 42 && b(3) === 0) || (ascii(0, 'MM') && b(2) === 0 && b(3) === 42)) return 'tif';
  if (ascii(0, 'BM')) return 'bmp';
  if (ascii(4, 'ftypavif') || ascii(4, 'ftypavis')) return 'avif';
  return null;
}

/** `20261201T152244123Z`: UTC, fixed width, so names sort by capture time. */
export function timeStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '');
}

/** Everything about a saved frame except the file name, written as `<name>.json` next to it. */
export interface CollectSidecar extends FrameGuess {
  ts: string;
  source: string;
  camera: string | null;
  frame: number;
  model: { id: string; sha256: string; path: string };
  /** Why the frame was kept: the collect policy. */
  when: string;
  bytes: number;
}

export interface StoreBounds {
  maxFiles: number;
  maxBytes: number;
}

export type SaveOutcome = { saved: true; file: string; bytes: number } | { saved: false; reason: 'full-files' | 'full-bytes' | 'not-an-image' };

/**
 * `DIR/unlabelled/`, bounded by photo count and bytes (photos plus sidecars, including what was
 * there at open). Never overwrites: a photo is written under a temporary name and hard-linked to its
 * final name, which fails rather than replaces if the name exists; the sidecar follows, so readers
 * that list `*.json` always find a complete photo behind it.
 */
export class CollectStore {
  files = 0;
  bytes = 0;
  private seq = 0;

  private constructor(readonly dir: string, readonly bounds: StoreBounds) {}

  static async open(root: string, bounds: StoreBounds): Promise<CollectStore> {
    const store = new CollectStore(join(root, UNLABELLED_DIR), bounds);
    await mkdir(store.dir, { recursive: true });
    for (const name of await readdir(store.dir)) {
      if (name.startsWith('.')) continue;
      const st = await lstat(join(store.dir, name)).catch(() => null);
      if (!st?.isFile()) continue;
      store.bytes += st.size;
      if (!name.endsWith('.json')) store.files++;
    }
    return store;
  }

  get full(): boolean {
    return this.files >= this.bounds.maxFiles || this.bytes >= this.bounds.maxBytes;
  }

  async save(photo: Uint8Array, sidecar: Omit<CollectSidecar, 'bytes'>, tag: string): Promise<SaveOutcome> {
    const ext = imageExtension(photo);
    if (!ext) return { saved: false, reason: 'not-an-image' };
    const side = (name: string) => `${JSON.stringify({ file: name, ...sidecar, bytes: photo.length }, null, 2)}\n`;
    // The sidecar's size barely depends on the name: estimate it before anything is written.
    const total = photo.length + Buffer.byteLength(side('x'.repeat(48)));
    if (this.files + 1 > this.bounds.maxFiles) return { saved: false, reason: 'full-files' };
    if (this.bytes + total > this.bounds.maxBytes) return { saved: false, reason: 'full-bytes' };
    const stem = `${timeStamp(new Date(sidecar.ts))}-${safeTag(tag)}-${String(++this.seq).padStart(6, '0')}`;
    const tmp = tempPathFor(join(this.dir, `${stem}.${ext}`));
    await writeFile(tmp, photo);
    try {
      for (let n = 1; ; n++) {
        const name = `${stem}${n > 1 ? `-${n}` : ''}.${ext}`;
        try {
          await link(tmp, join(this.dir, name));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST' && n < 100) continue;
          throw err;
        }
        const text = side(name);
        await writeFileAtomic(join(this.dir, `${name}.json`), text);
        this.files++;
        this.bytes += photo.length + Buffer.byteLength(text);
        return { saved: true, file: name, bytes: photo.length };
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

/** Camera ids and source names in file names: letters, digits, - and _ only, at most 32. */
function safeTag(tag: string): string {
  return tag.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'frame';
}
