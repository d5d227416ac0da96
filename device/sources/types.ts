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
 * command that exited non-zero, a stream that went silent); the agent counts the error and reads
 * again. `close()` ends a read in flight promptly (kills a child, aborts a request).
 */
export interface FrameSource {
  readonly name: string;
  read(): Promise<Frame | null>;
  close(): Promise<void>;
}

/**
 * Every bound a source applies to what it reads, with its default. A camera is a network peer or
 * a child process: nothing it sends (or fails to send) may grow memory or block a read for long.
 * The agent passes `maxFrameBytes` from `maxFrameBytes` and the timeouts from the `sources`
 * config section.
 */
export const SOURCE_DEFAULTS = {
  /** Largest frame accepted (HTTP body, MJPEG part, command stdout, file); bigger ones are errors. */
  maxFrameBytes: 20 * 1024 * 1024,
  /** From the request (or spawn) to the response headers: an unreachable camera fails this fast. */
  connectTimeoutMs: 10_000,
  /**
   * Streams (`mjpeg:`, `rtsp://`): the longest wait for the next complete frame before the stream
   * is dropped and reopened. Counting frames, not bytes, also catches a stream that trickles a
   * byte at a time (slow loris) and never completes one.
   */
  idleTimeoutMs: 10_000,
  /** One whole snapshot (`http(s)://`) or one `command:` run, from start to the last byte. */
  readTimeoutMs: 10_000,
  /** MJPEG part headers (and HTTP response headers) larger than this are refused. */
  maxHeaderBytes: 64 * 1024,
  /** How much of a child's stderr is kept for the error message. */
  maxStderrBytes: 2048,
  /** After a `command:` exited, how long a grandchild may hold its stdout open before it is cut. */
  exitGraceMs: 1000,
} as const;

export interface SourceOptions {
  /** Finite sources (dir, file, fashion-mnist) start again at the end. */
  loop?: boolean;
  maxFrameBytes?: number;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  readTimeoutMs?: number;
  maxHeaderBytes?: number;
}

/** SourceOptions with every bound filled in from SOURCE_DEFAULTS. */
export type SourceLimits = Required<Omit<SourceOptions, 'loop'>>;

export function sourceLimits(opts: SourceOptions): SourceLimits {
  return {
    maxFrameBytes: opts.maxFrameBytes ?? SOURCE_DEFAULTS.maxFrameBytes,
    connectTimeoutMs: opts.connectTimeoutMs ?? SOURCE_DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs ?? SOURCE_DEFAULTS.idleTimeoutMs,
    readTimeoutMs: opts.readTimeoutMs ?? SOURCE_DEFAULTS.readTimeoutMs,
    maxHeaderBytes: opts.maxHeaderBytes ?? SOURCE_DEFAULTS.maxHeaderBytes,
  };
}

/** Shared counter/name bookkeeping so each implementation only produces buffers. */
export class FrameCounter {
  private next = 0;
  constructor(readonly sourceName: string) {}
  frame(buffer: Buffer): Frame {
    return { buffer, seq: this.next++, ts: new Date(), sourceName: this.sourceName };
  }
}

/** A source failure with a stable `code` (`connect-timeout`, `idle-timeout`, `frame-too-large`, ...). */
export class SourceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Calls `onExpire` once when `reset` was not called for `ms`; `stop` disarms it. */
export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly ms: number, private readonly onExpire: () => void) {
    this.reset();
  }
  reset(ms = this.ms): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onExpire();
    }, ms);
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
