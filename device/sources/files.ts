import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, basename } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { FrameCounter, SOURCE_DEFAULTS, type Frame, type FrameSource, type SourceOptions } from './types.ts';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

/** Reads files one by one; a file that vanished or grew too large is a frame error, not the end. */
abstract class FileListSource implements FrameSource {
  abstract readonly name: string;
  protected abstract readonly counter: FrameCounter;
  private index = 0;
  private closed = false;
  constructor(protected readonly opts: SourceOptions) {}
  protected abstract files(): Promise<string[]>;

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
    return this.counter.frame(await readFile(path));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** `dir:<path>`: the directory's images in name order (listed once, so added files need a restart). */
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
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw new UserError(`dir:${this.dir}: cannot list the directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    this.list = names.filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort().map((n) => join(this.dir, n));
    if (this.list.length === 0) throw new UserError(`dir:${this.dir}: no image files (expected ${[...IMAGE_EXTENSIONS].join(', ')})`);
    return this.list;
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
}
