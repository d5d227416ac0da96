import { keepHead, killGroup, spawnGroup } from './child.ts';
import { FrameCounter, SOURCE_DEFAULTS, SourceError, sourceLimits, type Frame, type FrameSource, type SourceLimits, type SourceOptions } from './types.ts';

/**
 * `command:<shell command>`: runs the command once per frame and takes its stdout as the image,
 * e.g. `rpicam-still -n -t 1 -o -`, `libcamera-still -n -o -`, `ffmpeg -i URL -frames:v 1 -f image2 -`.
 * Each run is its own process group, bounded by `readTimeoutMs` and `maxFrameBytes`, and the whole
 * group is killed when the run ends (whatever the command left behind) or the source closes.
 */
export class CommandSource implements FrameSource {
  readonly name: string;
  private readonly counter: FrameCounter;
  private readonly limits: SourceLimits;
  private closed = false;
  private running: Capture | null = null;

  constructor(private readonly command: string, opts: SourceOptions = {}) {
    this.name = `command:${command}`;
    this.counter = new FrameCounter(this.name);
    this.limits = sourceLimits(opts);
  }

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    const run = runCapture(this.command, this.limits);
    this.running = run;
    try {
      return this.counter.frame(await run.result);
    } catch (err) {
      if (this.closed) return null;
      throw err;
    } finally {
      this.running = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.running?.cancel(new SourceError('closed', 'source closed'));
  }
}

interface Capture {
  result: Promise<Buffer>;
  cancel(err: Error): void;
}

/**
 * Settles on the child's `exit` (plus at most `exitGraceMs` to read the rest of stdout), not on
 * `close`: `close` waits for every holder of the pipe, and a grandchild may hold it for ever.
 */
function runCapture(command: string, limits: SourceLimits): Capture {
  const child = spawnGroup('/bin/sh', ['-c', command]);
  const stderr = keepHead(child.stderr, SOURCE_DEFAULTS.maxStderrBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  let exit: { code: number | null; signal: string | null } | null = null;
  let stdoutEnded = false;
  let grace: NodeJS.Timeout | null = null;
  let settle: (err: Error | null) => void = () => undefined;

  const result = new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    settle = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      killGroup(child);
      child.stdout.destroy();
      child.stderr.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
  });
  const timer = setTimeout(() => settle(new SourceError('timeout', `command timed out after ${limits.readTimeoutMs} ms`)), limits.readTimeoutMs);
  const finishRun = () => {
    if (!exit) return;
    if (exit.code === 0) settle(null);
    else settle(new SourceError('exit', `command exited with ${exit.code ?? exit.signal}: ${stderr()}`));
  };
  child.stdout.on('data', (c: Buffer) => {
    size += c.length;
    if (size > limits.maxFrameBytes) settle(new SourceError('frame-too-large', `command output larger than ${limits.maxFrameBytes} bytes`));
    else chunks.push(c);
  });
  child.stdout.on('error', () => undefined);
  child.stdout.on('end', () => {
    stdoutEnded = true;
    finishRun();
  });
  child.on('error', (err) => settle(new SourceError('spawn', `command failed to start: ${err.message}`)));
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    // Whatever the command started in the background dies with it; then stdout reaches EOF.
    killGroup(child);
    if (stdoutEnded) finishRun();
    else grace = setTimeout(finishRun, SOURCE_DEFAULTS.exitGraceMs);
  });
  return { result, cancel: (err) => settle(err) };
}
