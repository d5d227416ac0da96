import { spawn, type ChildProcess } from 'node:child_process';
import { UserError } from '../../src/errors.ts';
import { LatestFrameSource } from './stream-queue.ts';
import { JpegStreamSplitter, MultipartParser } from './stream-parsers.ts';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_TIMEOUT_MS, FrameCounter, type Frame, type FrameSource, type SourceOptions } from './types.ts';

/** `http(s)://...`: one GET per frame (camera snapshot endpoints: ESP32-CAM `/capture`, IP cameras). */
export class HttpSnapshotSource implements FrameSource {
  readonly name: string;
  private readonly counter: FrameCounter;
  private closed = false;
  constructor(private readonly url: string, private readonly opts: SourceOptions = {}) {
    this.name = url;
    this.counter = new FrameCounter(url);
  }
  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    const res = await fetch(this.url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`snapshot HTTP ${res.status} ${res.statusText}`);
    }
    const max = this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > max) {
      await res.body?.cancel();
      throw new Error(`snapshot too large (${declared} bytes > ${max})`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > max) throw new Error(`snapshot too large (${body.length} bytes > ${max})`);
    return this.counter.frame(body);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** `mjpeg:<url>`: one long multipart/x-mixed-replace response, split into JPEG frames. */
export class MjpegSource extends LatestFrameSource {
  readonly name: string;
  protected readonly counter: FrameCounter;
  private readonly abort = new AbortController();
  constructor(private readonly url: string, private readonly opts: SourceOptions = {}) {
    super();
    this.name = `mjpeg:${url}`;
    this.counter = new FrameCounter(this.name);
    this.maxBuffered = 3;
  }
  protected startStream(): void {
    this.pump().then(() => this.finish(null), (err: Error) => this.finish(this.abort.signal.aborted ? null : err));
  }
  private async pump(): Promise<void> {
    const res = await fetch(this.url, { signal: this.abort.signal });
    const type = res.headers.get('content-type') ?? '';
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (!res.ok || !res.body) throw new Error(`mjpeg HTTP ${res.status} ${res.statusText}`);
    if (!boundary) throw new Error(`mjpeg: expected a multipart content type with a boundary, got "${type}"`);
    const parser = new MultipartParser(boundary, this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      for (const part of parser.push(Buffer.from(chunk))) this.deliver(part);
    }
  }
  async close(): Promise<void> {
    this.abort.abort();
    this.finish(null);
  }
}

/** True when `ffmpeg` runs; checked once per process. */
let ffmpegPresent: Promise<boolean> | null = null;
export function hasFfmpeg(): Promise<boolean> {
  ffmpegPresent ??= new Promise((resolve) => {
    const child = spawn('ffmpeg', ['-version'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
  return ffmpegPresent;
}

/** `rtsp://...`: decoded by an ffmpeg child process that writes JPEG frames to a pipe. */
export class RtspSource extends LatestFrameSource {
  readonly name: string;
  protected readonly counter: FrameCounter;
  private child: ChildProcess | null = null;
  private closing = false;
  constructor(private readonly url: string, private readonly opts: SourceOptions & { fps?: number } = {}) {
    super();
    this.name = url;
    this.counter = new FrameCounter(url);
  }
  override async read(): Promise<Frame | null> {
    if (!(await hasFfmpeg())) throw new UserError(`${this.url}: RTSP needs ffmpeg on the PATH (apt-get install ffmpeg)`);
    return super.read();
  }
  protected startStream(): void {
    const args = ['-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', this.url];
    if (this.opts.fps) args.push('-vf', `fps=${this.opts.fps}`);
    args.push('-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '4', '-');
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const splitter = new JpegStreamSplitter(this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      for (const f of splitter.push(c)) this.deliver(f);
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 500) stderr += c.toString();
    });
    child.on('close', (code) => {
      this.finish(this.closing || code === 0 ? null : new Error(`ffmpeg exited with ${code}: ${stderr.trim().split('\n')[0] ?? ''}`));
    });
  }
  async close(): Promise<void> {
    this.closing = true;
    this.child?.kill('SIGTERM');
    this.finish(null);
  }
}
