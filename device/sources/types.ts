/** One camera frame as read from a source: encoded bytes (JPEG/PNG/...), decoded later by sharp. */
export interface Frame {
  buffer: Buffer;
  /** The source's own counter, 0-based, +1 per frame it produced. */
  seq: number;
  ts: Date;
  sourceName: string;
  /** File sources (`dir:`, `file:`): the image's name, relative to the `dir:` directory. */
  file?: string;
}

/**
 * A pluggable frame source. `read()` resolves with the next frame, or null once the source is
 * exhausted (finite sources without `loop`). It may throw for a transient failure (HTTP 500, a
 * command that exited non-zero); the agent counts the error and reads again.
 */
export interface FrameSource {
  readonly name: string;
  read(): Promise<Frame | null>;
  close(): Promise<void>;
}

export interface SourceOptions {
  /** Finite sources (dir, file, fashion-mnist) start again at the end. */
  loop?: boolean;
  /** Largest frame accepted from streaming sources; bigger ones are errors, not memory blow-ups. */
  maxFrameBytes?: number;
  /** Per-read timeout for network and command sources. */
  timeoutMs?: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 20 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Shared counter/name bookkeeping so each implementation only produces buffers. */
export class FrameCounter {
  private next = 0;
  constructor(readonly sourceName: string) {}
  frame(buffer: Buffer): Frame {
    return { buffer, seq: this.next++, ts: new Date(), sourceName: this.sourceName };
  }
}
