import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { UserError } from '../../src/errors.ts';
import { redactSecrets } from '../../src/redact.ts';
import { keepHead, killGroup, spawnGroup, type PipedChild } from './child.ts';
import { httpGet, readBodyCapped, type HttpGet } from './http-get.ts';
import { LatestFrameSource } from './stream-queue.ts';
import { JpegStreamSplitter, MultipartParser } from './stream-parsers.ts';
import { FrameCounter, SOURCE_DEFAULTS, SourceError, sourceLimits, Watchdog, type Frame, type FrameSource, type SourceLimits, type SourceOptions } from './types.ts';

function checkOk(res: IncomingMessage, what: string): void {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) {
    res.destroy();
    throw new SourceError('http-status', `${what} HTTP ${status} ${res.statusMessage ?? ''}`.trim());
  }
}

/**
 * `http(s)://...`: one GET per frame (camera snapshot endpoints: ESP32-CAM `/capture`, IP cameras).
 * The body is streamed and cut at `maxFrameBytes` whether or not a Content-Length was sent; the
 * whole GET is bounded by `readTimeoutMs`.
 */
export class HttpSnapshotSource implements FrameSource {
  readonly name: string;
  private readonly counter: FrameCounter;
  private readonly limits: SourceLimits;
  private closed = false;
  private inFlight: HttpGet | null = null;
  constructor(private readonly url: string, opts: SourceOptions = {}) {
    this.name = url;
    this.counter = new FrameCounter(url);
    this.limits = sourceLimits(opts);
  }

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    const get = httpGet(this.url, this.limits);
    this.inFlight = get;
    const { readTimeoutMs, maxFrameBytes } = this.limits;
    const timer = setTimeout(() => get.abort(new SourceError('timeout', `snapshot not complete after ${readTimeoutMs} ms`)), readTimeoutMs);
    try {
      const res = await get.response;
      checkOk(res, 'snapshot');
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > maxFrameBytes) {
        res.destroy();
        throw new SourceError('frame-too-large', `snapshot too large (${declared} bytes > ${maxFrameBytes})`);
      }
      return this.counter.frame(await readBodyCapped(res, maxFrameBytes));
    } catch (err) {
      if (this.closed) return null;
      throw err;
    } finally {
      clearTimeout(timer);
      this.inFlight = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.inFlight?.abort(new SourceError('closed', 'source closed'));
  }
}

/**
 * `mjpeg:<url>`: one long multipart/x-mixed-replace response, split into JPEG frames. A stream
 * that brings no complete frame for `idleTimeoutMs` (silent, or trickling) is dropped; the camera
 * then reopens it with backoff.
 */
export class MjpegSource extends LatestFrameSource {
  readonly name: string;
  protected readonly counter: FrameCounter;
  private readonly limits: SourceLimits;
  private get: HttpGet | null = null;
  private closing = false;
  constructor(private readonly url: string, opts: SourceOptions = {}) {
    super();
    this.name = `mjpeg:${url}`;
    this.counter = new FrameCounter(this.name);
    this.limits = sourceLimits(opts);
    this.maxBuffered = 3;
  }

  protected startStream(): void {
    this.pump().then(() => this.finish(null), (err: Error) => this.finish(this.closing ? null : err));
  }

  private async pump(): Promise<void> {
    const { maxFrameBytes, maxHeaderBytes, idleTimeoutMs } = this.limits;
    const get = httpGet(this.url, this.limits);
    this.get = get;
    const res = await get.response;
    checkOk(res, 'mjpeg');
    const type = res.headers['content-type'] ?? '';
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (!boundary) {
      res.destroy();
      throw new SourceError('not-multipart', `mjpeg: expected a multipart content type with a boundary, got "${type.slice(0, 100)}"`);
    }
    const idle = new Watchdog(idleTimeoutMs, () => get.abort(new SourceError('idle-timeout', `mjpeg: no frame for ${idleTimeoutMs} ms`)));
    try {
      const parser = new MultipartParser(boundary, maxFrameBytes, maxHeaderBytes);
      for await (const chunk of res as AsyncIterable<Buffer>) {
        for (const part of parser.push(chunk)) {
          if (Buffer.isBuffer(part)) idle.reset();
          this.deliver(part);
        }
      }
    } finally {
      idle.stop();
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.get?.abort(new SourceError('closed', 'source closed'));
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

/**
 * `rtsp://...`: decoded by an ffmpeg child process (its own process group) that writes JPEG frames
 * to a pipe. The first frame must come within connect + idle timeout, each next one within the
 * idle timeout, or ffmpeg is killed and the camera reopens the stream.
 */
export class RtspSource extends LatestFrameSource {
  readonly name: string;
  protected readonly counter: FrameCounter;
  private readonly limits: SourceLimits;
  private child: PipedChild | null = null;
  private closing = false;
  constructor(private readonly url: string, private readonly opts: SourceOptions & { fps?: number } = {}) {
    super();
    this.name = url;
    this.counter = new FrameCounter(url);
    this.limits = sourceLimits(opts);
  }

  override async read(): Promise<Frame | null> {
    if (!(await hasFfmpeg())) throw new UserError(`${redactSecrets(this.url)}: RTSP needs ffmpeg on the PATH (apt-get install ffmpeg)`);
    return super.read();
  }

  protected startStream(): void {
    const args = ['-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', this.url];
    if (this.opts.fps) args.push('-vf', `fps=${this.opts.fps}`);
    args.push('-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '4', '-');
    const child = spawnGroup('ffmpeg', args);
    this.child = child;
    const { idleTimeoutMs, connectTimeoutMs, maxFrameBytes } = this.limits;
    let failure: Error | null = null;
    const idle = new Watchdog(connectTimeoutMs + idleTimeoutMs, () => {
      failure = new SourceError('idle-timeout', `rtsp: no frame for ${idleTimeoutMs} ms`);
      killGroup(child);
    });
    const stderr = keepHead(child.stderr, SOURCE_DEFAULTS.maxStderrBytes);
    const splitter = new JpegStreamSplitter(maxFrameBytes);
    child.stdout.on('data', (c: Buffer) => {
      for (const f of splitter.push(c)) {
        if (Buffer.isBuffer(f)) idle.reset(idleTimeoutMs);
        this.deliver(f);
      }
    });
    child.stdout.on('error', () => undefined);
    child.on('error', (err) => {
      idle.stop();
      this.finish(new SourceError('spawn', `ffmpeg failed to start: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      idle.stop();
      killGroup(child);
      if (this.closing || (code === 0 && !failure)) this.finish(null);
      // ffmpeg names the whole URL, password included, when the peer is no RTSP server at all.
      else this.finish(failure ?? new SourceError('exit', `ffmpeg exited with ${code ?? signal}: ${redactSecrets(stderr())}`));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.child) killGroup(this.child);
    this.finish(null);
  }
}
