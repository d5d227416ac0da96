import { spawn } from 'node:child_process';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_TIMEOUT_MS, FrameCounter, type Frame, type FrameSource, type SourceOptions } from './types.ts';

/**
 * `command:<shell command>`: runs the command once per frame and takes its stdout as the image,
 * e.g. `rpicam-still -n -t 1 -o -`, `libcamera-still -n -o -`, `ffmpeg -i URL -frames:v 1 -f image2 -`.
 */
export class CommandSource implements FrameSource {
  readonly name: string;
  private readonly counter: FrameCounter;
  private closed = false;

  constructor(private readonly command: string, private readonly opts: SourceOptions = {}) {
    this.name = `command:${command}`;
    this.counter = new FrameCounter(this.name);
  }

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    return this.counter.frame(await runCapture(this.command, this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function runCapture(command: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: string | null = null;
    const timer = setTimeout(() => {
      failure = `timed out after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        failure = `output larger than ${maxBytes} bytes`;
        child.kill('SIGKILL');
      } else chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 500) stderr += c.toString();
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`command failed to start: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure) reject(new Error(`command ${failure}`));
      else if (code !== 0) reject(new Error(`command exited with ${code}: ${stderr.trim().split('\n')[0] ?? ''}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}
