import { FrameCounter, type Frame, type FrameSource, type SourceOptions } from './types.ts';

/** Frames held in memory: for tests, and for feeding frames from code. `push` adds more. */
export class MemorySource implements FrameSource {
  readonly name: string;
  private readonly counter: FrameCounter;
  private index = 0;
  private closed = false;

  constructor(private readonly frames: Buffer[], private readonly opts: SourceOptions = {}, name = 'memory') {
    this.name = name;
    this.counter = new FrameCounter(name);
  }

  push(buffer: Buffer): void {
    this.frames.push(buffer);
  }

  async read(): Promise<Frame | null> {
    if (this.closed || this.frames.length === 0) return null;
    if (this.index >= this.frames.length) {
      if (!this.opts.loop) return null;
      this.index = 0;
    }
    return this.counter.frame(this.frames[this.index++]);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
