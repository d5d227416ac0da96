import type { Frame, FrameSource } from './types.ts';
import { FrameCounter } from './types.ts';

/**
 * Base for push-style sources (a long-lived HTTP stream or child process): keeps only the newest
 * few frames (oldest dropped first), like a camera does, so a slow consumer gets fresh frames
 * rather than a growing backlog.
 */
export abstract class LatestFrameSource implements FrameSource {
  abstract readonly name: string;
  protected abstract readonly counter: FrameCounter;
  private readonly pending: (Buffer | Error)[] = [];
  protected maxBuffered = 2;
  private ended = false;
  private endError: Error | null = null;
  private waiter: (() => void) | null = null;
  /** Frames replaced before anyone read them (the consumer was slower than the stream). */
  skipped = 0;

  protected deliver(item: Buffer | Error): void {
    this.pending.push(item);
    while (this.pending.length > this.maxBuffered) {
      this.pending.shift();
      this.skipped++;
    }
    this.wake();
  }

  protected finish(err: Error | null): void {
    this.ended = true;
    this.endError = err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  protected abstract startStream(): void;
  private started = false;

  async read(): Promise<Frame | null> {
    if (!this.started) {
      this.started = true;
      this.startStream();
    }
    for (;;) {
      const item = this.pending.shift();
      if (item) {
        if (item instanceof Error) throw item;
        return this.counter.frame(item);
      }
      if (this.ended) {
        if (this.endError) {
          const err = this.endError;
          this.endError = null;
          throw err;
        }
        return null;
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  abstract close(): Promise<void>;
}
