import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import { FashionMnistSource } from '../../device/sources/fashion-mnist.ts';
import { RtspSource, hasFfmpeg } from '../../device/sources/network.ts';
import { SourceError } from '../../device/sources/types.ts';
import { correlation, meanAbsDiff } from '../preprocess/synth.ts';
import { freePort, liveProcesses } from './helpers.ts';

// A real RTSP server: GStreamer's gst-rtsp-server through Debian's python3-gi (see .ci/run), because
// our client insists on RTSP over TCP (interleaved) and the npm relay servers (rtsp-streaming-server
// 2.1) answer TCP SETUP with 461. Debian's python, not a pyenv one: only it sees python3-gi.
const PYTHON = '/usr/bin/python3';
const SERVER_SCRIPT = join(import.meta.dirname, 'rtsp-server.py');
const SIZE = 224;
const USER = 'admin';
const PASSWORD = 's3cret-pw';

const gstHere = spawnSync(PYTHON, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0')"], { stdio: 'ignore' }).status === 0;
const skip = !(await hasFfmpeg()) ? 'needs ffmpeg' : !gstHere ? 'needs gir1.2-gst-rtsp-server-1.0 and python3-gi (.ci/run installs them)' : false;

interface RtspServer {
  url: (path: string, credentials?: string) => string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

const servers: RtspServer[] = [];

/** Starts the server on 127.0.0.1, port 0; resolves once it printed the port it bound. */
async function startServer(image: string, auth?: [string, string]): Promise<RtspServer> {
  const child = spawn(PYTHON, [SERVER_SCRIPT, image, ...(auth ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()).slice(0, 4000));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rtsp-server.py printed no port in 15 s: ${stderr}`)), 15_000);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(Number(line));
    });
    child.once('exit', (code) => reject(new Error(`rtsp-server.py exited with ${code}: ${stderr}`)));
  });
  const server: RtspServer = {
    url: (path, credentials) => `rtsp://${credentials ? `${credentials}@` : ''}127.0.0.1:${port}${path}`,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  servers.push(server);
  return server;
}

/** Pids of the ffmpeg processes this test process started (RtspSource's decoders). */
function ffmpegChildren(): number[] {
  return liveProcesses().filter((p) => p.comm === 'ffmpeg' && p.ppid === process.pid).map((p) => p.pid);
}

/** Waits (polling /proc, no event exists for "a process ended") until no ffmpeg child is left. */
async function noFfmpegLeft(ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (ffmpegChildren().length > 0) {
    if (Date.now() > deadline) assert.fail(`ffmpeg still running after ${ms} ms: ${ffmpegChildren().join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function grey(image: Buffer): Promise<Buffer> {
  return sharp(image).greyscale().resize(SIZE, SIZE).raw().toBuffer();
}

// Generous timeouts: ffmpeg probes ~4 s of the 5 fps stream before its first frame, longer on a
// loaded 2-core machine.
const limits = { connectTimeoutMs: 20_000, idleTimeoutMs: 2_000 };

describe('rtsp:// against a real RTSP server', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let image: string;
  let original: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeloom-rtsp-'));
    // A real Fashion-MNIST garment, scaled up like a camera frame (RTP/JPEG wants multiples of 8).
    const garment = await new FashionMnistSource().read();
    const jpeg = await sharp(garment!.buffer).resize(SIZE, SIZE, { kernel: 'nearest' }).jpeg({ quality: 95 }).toBuffer();
    image = join(dir, 'garment.jpg');
    await writeFile(image, jpeg);
    original = await grey(jpeg);
  });

  after(async () => {
    for (const s of servers) await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('frames arrive as JPEGs of the served garment; a silent server trips idle-timeout and ffmpeg is killed', async () => {
    const server = await startServer(image);
    const src = new RtspSource(server.url('/cam'), limits);
    try {
      for (let i = 0; i < 3; i++) {
        const frame = await src.read();
        assert.ok(frame, 'a frame');
        const meta = await sharp(frame.buffer).metadata();
        assert.equal(meta.format, 'jpeg');
        assert.equal(meta.width, SIZE);
        assert.equal(meta.height, SIZE);
        const got = await grey(frame.buffer);
        // Two lossy JPEG encodes (server, ffmpeg) on the way: close, not equal; a flat or other
        // image correlates far below 0.9.
        assert.ok(correlation(got, original) > 0.95, `correlation ${correlation(got, original)}`);
        assert.ok(meanAbsDiff(got, original) < 10, `mean abs diff ${meanAbsDiff(got, original)}`);
      }
      assert.equal(ffmpegChildren().length, 1, 'one ffmpeg decoder');

      // The camera hangs: the server process stops, the TCP connection stays open, no frame comes.
      server.child.kill('SIGSTOP');
      const started = Date.now();
      let err: unknown = null;
      try {
        for (;;) if (!(await src.read())) break;
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SourceError, `expected SourceError, got ${String(err)}`);
      assert.equal(err.code, 'idle-timeout');
      assert.ok(Date.now() - started >= limits.idleTimeoutMs - 500, 'not before the idle timeout');
      await noFfmpegLeft();
      assert.equal(await src.read(), null, 'the dropped stream ends; the camera reopens a new one');
    } finally {
      await src.close();
      await server.stop();
    }
  });

  test('close() while streaming kills ffmpeg and ends read()', async () => {
    const server = await startServer(image);
    const src = new RtspSource(server.url('/cam'), limits);
    try {
      assert.ok(await src.read(), 'a frame');
      assert.equal(ffmpegChildren().length, 1);
      await src.close();
      await noFfmpegLeft();
      // Frames decoded before close() may still be handed out (at most the 2 buffered), then null.
      let left = 0;
      while (await src.read()) left++;
      assert.ok(left <= 2, `${left} frames after close()`);
    } finally {
      await src.close();
      await server.stop();
    }
  });

  test('a password-protected camera: right password streams, a refused one names no password', async () => {
    const server = await startServer(image, [USER, PASSWORD]);
    const good = new RtspSource(server.url('/cam', `${USER}:${PASSWORD}`), limits);
    try {
      const frame = await good.read();
      assert.equal((await sharp(frame!.buffer).metadata()).format, 'jpeg');
    } finally {
      await good.close();
    }
    const notRtspSockets: Socket[] = [];
    // ffmpeg's error line names the whole URL (`rtsp://admin:pw@host/cam: Invalid data found ...`)
    // when the peer is no RTSP server at all (a wrong port, a hostile host).
    const closedPort = await freePort();
    const notRtsp = createServer((socket) => {
      socket.on('error', () => undefined);
      notRtspSockets.push(socket);
      socket.once('data', () => socket.end('GARBAGE\r\n\r\n'));
    });
    await new Promise<void>((resolve) => notRtsp.listen(0, '127.0.0.1', resolve));
    const notRtspPort = (notRtsp.address() as AddressInfo).port;
    const refused: [string, RegExp][] = [
      [server.url('/cam', `${USER}:wrong-pw`), /401/],
      [server.url('/no-such-stream', `${USER}:${PASSWORD}`), /404/],
      [`rtsp://${USER}:${PASSWORD}@127.0.0.1:${closedPort}/cam`, /refused/i],
      [`rtsp://${USER}:${PASSWORD}@127.0.0.1:${notRtspPort}/cam`, /invalid data/i],
    ];
    try {
      for (const [url, reason] of refused) {
        const secret = new URL(url).password;
        const src = new RtspSource(url, limits);
        try {
          await assert.rejects(src.read(), (e: Error) => {
            assert.ok(e instanceof SourceError && e.code === 'exit', e.message);
            assert.match(e.message, reason);
            assert.ok(!e.message.includes(secret) && !String(e.stack).includes(secret), `password in: ${e.message}`);
            return true;
          });
        } finally {
          await src.close();
        }
      }
    } finally {
      for (const socket of notRtspSockets) socket.destroy();
      notRtsp.close();
    }
    await noFfmpegLeft();
    await server.stop();
  });
});
