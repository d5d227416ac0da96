import { readdir, readFile, stat } from 'node:fs/promises';
import { join, basename, relative } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { IMAGE_EXTENSIONS, isImageFileName } from '../../src/image-files.ts';
import { FrameCounter, SOURCE_DEFAULTS, type Frame, type FrameSource, type SourceOptions } from './types.ts';

export { IMAGE_EXTENSIONS };

/** Image files under `dir`, recursively, in name order (a folder's files sort among its siblings by its name); hidden entries skipped. */
export async function listImageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.isDirectory()) out.push(...(await listImageFiles(join(dir, e.name))));
    else if (isImageFileName(e.name)) out.push(join(dir, e.name));
  }
  return out;
}

/** Reads files one by one; a file that vanished or grew too large is a frame error, not the end. */
abstract class FileListSource implements FrameSource {
  abstract readonly name: string;
  protected abstract readonly counter: FrameCounter;
  private index = 0;
  private closed = false;
  constructor(protected readonly opts: SourceOptions) {}
  protected abstract files(): Promise<string[]>;
  /** What a label payload's `file` says: never more of the path than the source spec already names. */
  protected abstract fileName(path: string): string;

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    const files = await this.files();
    if (this.index >= files.length) {
      if (!this.opts.loop || files.length === 0) return null;
      this.index = 0;
    }
    const path = files[this.index++];
    const info = await stat(path);
    // A FIFO or device named like an image would block the read (and the agent's shutdown) for ever.
    if (!info.isFile()) throw new Error(`${basename(path)}: not a regular file`);
    const max = this.opts.maxFrameBytes ?? SOURCE_DEFAULTS.maxFrameBytes;
    if (info.size > max) throw new Error(`${basename(path)}: frame too large (${info.size} bytes > ${max})`);
    return { ...this.counter.frame(await readFile(path)), file: this.fileName(path) };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * `dir:<path>`: the directory's images and those of its sub-directories, recursively, in name order
 * (listed once, so added files need a restart). Label payloads name each file relative to `path`.
 */
export class DirSource extends FileListSource {
  readonly name: string;
  protected readonly counter: FrameCounter;
  private list: string[] | null = null;
  constructor(private readonly dir: string, opts: SourceOptions = {}) {
    super(opts);
    this.name = `dir:${dir}`;
    this.counter = new FrameCounter(this.name);
  }
  protected async files(): Promise<string[]> {
    if (this.list) return this.list;
    try {
      this.list = await listImageFiles(this.dir);
    } catch (err) {
      throw new UserError(`dir:${this.dir}: cannot list the directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (this.list.length === 0) throw new UserError(`dir:${this.dir}: no image files in it or its sub-directories (expected ${IMAGE_EXTENSIONS.join(', ')})`);
    return this.list;
  }
  protected fileName(path: string): string {
    return relative(this.dir, path);
  }
}

/** `file:<path>`: one image, read again on every frame with `loop` (a still camera). */
export class FileSource extends FileListSource {
  readonly name: string;
  protected readonly counter: FrameCounter;
  constructor(private readonly path: string, opts: SourceOptions = {}) {
    super(opts);
    this.name = `file:${path}`;
    this.counter = new FrameCounter(this.name);
  }
  protected async files(): Promise<string[]> {
    return [this.path];
  }
  protected fileName(path: string): string {
    return basename(path);
  }
}
