import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import { CommandSource } from '../../device/sources/command.ts';
import { FileSource } from '../../device/sources/files.ts';
import { HttpSnapshotSource, MjpegSource } from '../../device/sources/network.ts';
import { JpegStreamSplitter, MultipartParser } from '../../device/sources/stream-parsers.ts';
import { SOURCE_DEFAULTS } from '../../device/sources/types.ts';
import { groupMembers } from './helpers.ts';

/**
 * Camera servers and camera commands that misbehave on purpose. Each test bounds what the source
 * read (bytes the server could write, bytes the parser holds) and how long it waited.
 */
const work = await mkdtemp(join(tmpdir(), 'edgeloom-hostile-'));
const jpeg = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#5a7' } }).jpeg().toBuffer();
await writeFile(join(work, 'frame.jpg'), jpeg);
const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await rm(work, { recursive: true, force: true });
});

/** Starts a loopback HTTP server; `written` counts the body bytes the handler managed to send. */
async function hostile(handler: (req: IncomingMessage, res: ServerResponse, count: (n: number) => void) => void): Promise<{ url: string; written: () => number; connections: () => number }> {
  let written = 0;
  let connections = 0;
  const server = createServer((req, res) => {
    connections++;
    res.on('error', () => undefined);
    handler(req, res, (n) => (written += n));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, written: () => written, connections: () => connections };
}

/** Writes `chunk` for ever, respecting backpressure, until the client goes away. */
function endless(res: ServerResponse, chunk: Buffer, count: (n: number) => void): void {
  const pump = () => {
    while (!res.destroyed) {
      count(chunk.length);
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  res.socket?.on('close', () => res.destroy());
  pump();
}

/** Writes `text` one byte every `ms` until the client goes away. */
function trickle(res: ServerResponse | Socket, text: Buffer, ms: number, count: (n: number) => void = () => {}): void {
  let i = 0;
  const t = setInterval(() => {
    if (res.destroyed || i >= text.length) return clearInterval(t);
    count(1);
    res.write(text.subarray(i, ++i));
  }, ms);
}

const MIB = 1024 * 1024;
/** Loopback socket buffers let a server write a few MB more than the client took. */
const SOCKET_SLACK = 16 * MIB;

async function timed<T>(p: Promise<T>): Promise<{ ms: number; result: T | Error }> {
  const t0 = performance.now();
  try {
    return { ms: performance.now() - t0, result: await p };
  } catch (err) {
    return { ms: performance.now() - t0, result: err as Error };
  }
}

function mjpegHeaders(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=b' });
  res.flushHeaders();
}
const part = (body: Buffer) => Buffer.concat([Buffer.from(`--b\r\nContent-Type: image/jpeg\r\nContent-Length: ${body.length}\r\n\r\n`), body, Buffer.from('\r\n')]);

describe('hostile camera servers', () => {
  test('MJPEG silent after headers (and after one frame): idle timeout, the stream ends, a new one reconnects', async () => {
    const srv = await hostile((_req, res) => {
      mjpegHeaders(res);
      res.write(part(jpeg)); // then nothing, connection open
    });
    const src = new MjpegSource(srv.url, { idleTimeoutMs: 300 });
    assert.ok((await src.read())!.buffer.equals(jpeg));
    const stalled = await timed(src.read());
    assert.match(String(stalled.result), /no frame for 300 ms/);
    assert.ok(stalled.ms < 2000, `noticed in ${stalled.ms} ms`);
    assert.equal(await src.read(), null, 'the stream is over: the camera reopens it');
    await src.close();
    const again = new MjpegSource(srv.url, { idleTimeoutMs: 300 });
    assert.ok((await again.read())!.buffer.equals(jpeg), 'a new connection works');
    await again.close();
    assert.equal(srv.connections(), 2);
    const silent = await hostile((_req, res) => mjpegHeaders(res));
    const never = new MjpegSource(silent.url, { idleTimeoutMs: 300 });
    assert.match(String((await timed(never.read())).result), /no frame for 300 ms/);
    await never.close();
  });

  test('the MJPEG idle timeout defaults to 10 s', () => {
    assert.equal(SOURCE_DEFAULTS.idleTimeoutMs, 10_000);
    assert.equal(SOURCE_DEFAULTS.maxHeaderBytes, 64 * 1024);
  });

  test('MJPEG part header without an end: refused at 64 KiB, memory stays bounded', async () => {
    const srv = await hostile((_req, res, count) => {
      mjpegHeaders(res);
      res.write('--b\r\nContent-Type: image/jpeg\r\nX-Endless: ');
      endless(res, Buffer.alloc(16 * 1024, 'A'), count);
    });
    const src = new MjpegSource(srv.url, { idleTimeoutMs: 1500 });
    const r = await timed(src.read());
    assert.match(String(r.result), /part header larger than 65536 bytes/);
    await src.close();
    const parser = new MultipartParser('b', MIB);
    let held = 0;
    const errors: Error[] = [];
    parser.push(Buffer.from('--b\r\nX: '));
    for (let i = 0; i < 1000; i++) {
      errors.push(...(parser.push(Buffer.alloc(4096, 'A')) as Error[]));
      held = Math.max(held, parser.buffered);
    }
    assert.equal(errors.length, 1);
    assert.ok(held <= 64 * 1024 + 4096, `parser held at most ${held} bytes of a 4 MB header`);
  });

  test('MJPEG part that never ends (no length, no boundary): cut at maxFrameBytes, bounded', async () => {
    const parser = new MultipartParser('b', 100_000);
    parser.push(Buffer.from('--b\r\nContent-Type: image/jpeg\r\n\r\n'));
    let held = 0;
    let errors = 0;
    for (let i = 0; i < 1000; i++) {
      errors += parser.push(Buffer.alloc(1000, 7)).filter((p) => p instanceof Error).length;
      held = Math.max(held, parser.buffered);
    }
    assert.equal(errors, 1);
    assert.ok(held <= 100_000 + 1000 + 4, `held ${held}`);
    const splitter = new JpegStreamSplitter(100_000);
    const out = splitter.push(Buffer.from([0xff, 0xd8]));
    for (let i = 0; i < 1000; i++) out.push(...splitter.push(Buffer.alloc(1000, 7)));
    assert.equal(out.filter((p) => p instanceof Error).length, 1);
    assert.ok(splitter.buffered <= 100_000 + 1000);
  });

  test('parts split across every byte boundary are rebuilt exactly', () => {
    const stream = Buffer.concat([Buffer.from('preamble\r\n'), part(jpeg), Buffer.from(`--b\r\nContent-Type: image/jpeg\r\n\r\n`), jpeg, Buffer.from('\r\n--b--\r\n')]);
    const parser = new MultipartParser('b', MIB);
    const out: Buffer[] = [];
    for (const byte of stream) out.push(...(parser.push(Buffer.from([byte])) as Buffer[]));
    assert.equal(out.length, 2);
    for (const f of out) assert.ok(f.equals(jpeg));
  });

  test('snapshot without Content-Length and a huge body: cut at the frame cap, not read to the end', async () => {
    const srv = await hostile((_req, res, count) => {
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      endless(res, Buffer.alloc(64 * 1024, 1), count);
    });
    const r = await timed(new HttpSnapshotSource(srv.url, { maxFrameBytes: MIB }).read());
    assert.match(String(r.result), /snapshot larger than 1048576 bytes/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(srv.written() < MIB + SOCKET_SLACK, `server could write ${srv.written()} bytes`);
    const declared = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(300 * MIB) });
      res.write(Buffer.alloc(1000));
    });
    assert.match(String((await timed(new HttpSnapshotSource(declared.url, { maxFrameBytes: MIB }).read())).result), /too large \(314572800 bytes > 1048576\)/);
  });

  test('snapshot: half a body then close is an error, not a frame', async () => {
    const srv = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) });
      res.write(jpeg.subarray(0, 100));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    assert.match(String((await timed(new HttpSnapshotSource(srv.url).read())).result), /connection closed after 100 bytes/);
    const mj = await hostile((_req, res) => {
      mjpegHeaders(res);
      res.write(part(jpeg).subarray(0, 200));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const src = new MjpegSource(mj.url);
    const r = await timed(src.read());
    assert.ok(r.result === null || r.result instanceof Error, 'no partial frame is delivered');
  });

  test('slow loris: headers or body one byte at a time are cut by the connect and read timeouts', async () => {
    const headers = await hostile((req) => trickle(req.socket, Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Slow: ' + 'z'.repeat(200)), 20));
    const h = await timed(new HttpSnapshotSource(headers.url, { connectTimeoutMs: 300 }).read());
    assert.match(String(h.result), /no response within 300 ms/);
    assert.ok(h.ms < 1500);
    const body = await hostile((_req, res, count) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) });
      trickle(res, jpeg, 20, count);
    });
    const b = await timed(new HttpSnapshotSource(body.url, { readTimeoutMs: 400 }).read());
    assert.match(String(b.result), /not complete after 400 ms/);
    assert.ok(b.ms < 1500);
    // An MJPEG stream trickling bytes never completes a frame: the idle timeout counts frames, not bytes.
    const stream = await hostile((_req, res, count) => {
      mjpegHeaders(res);
      trickle(res, part(jpeg), 20, count);
    });
    const src = new MjpegSource(stream.url, { idleTimeoutMs: 400 });
    const m = await timed(src.read());
    assert.match(String(m.result), /no frame for 400 ms/);
    assert.ok(stream.written() > 5, 'bytes kept coming');
    await src.close();
  });

  test('a response header over 64 KiB is refused', async () => {
    const srv = await hostile((_req, res) => {
      res.setHeader('x-big', 'y'.repeat(100 * 1024));
      res.end(jpeg);
    });
    assert.match(String((await timed(new HttpSnapshotSource(srv.url).read())).result), /headers larger than 65536 bytes/);
  });
});

async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function shellPid(file: string): Promise<number> {
  await waitUntil('the command to start', async () => (await readFile(file, 'utf8').catch(() => '')).trim() !== '');
  return Number((await readFile(file, 'utf8')).trim());
}

describe('hostile camera commands', () => {
  test('a command that hangs (dash forks, does not exec) is killed with its whole process group', async () => {
    const pidFile = join(work, 'hang.pid');
    // `sleep 1000; true`: dash must fork sleep, so killing the shell alone left sleep running.
    const src = new CommandSource(`echo $$ > ${pidFile}; sleep 1000; true`, { readTimeoutMs: 500 });
    const read = timed(src.read());
    const pgid = await shellPid(pidFile);
    await waitUntil('sh and sleep in the group', () => groupMembers(pgid).length >= 2);
    const r = await read;
    assert.match(String(r.result), /timed out after 500 ms/);
    assert.ok(r.ms < 2000, `settled in ${r.ms} ms`);
    await waitUntil('the whole group to die', () => groupMembers(pgid).length === 0, 2000);
  });

  test('close() during a hanging command returns at once and kills the group', async () => {
    const pidFile = join(work, 'close.pid');
    const src = new CommandSource(`echo $$ > ${pidFile}; sleep 1000; true`);
    const read = timed(src.read());
    const pgid = await shellPid(pidFile);
    await src.close();
    const r = await read;
    assert.equal(r.result, null);
    assert.ok(r.ms < 2000);
    await waitUntil('the whole group to die', () => groupMembers(pgid).length === 0, 2000);
  });

  test('a background grandchild holding stdout does not hold the frame: settled on exit, grandchild killed', async () => {
    const pidFile = join(work, 'bg.pid');
    const src = new CommandSource(`echo $$ > ${pidFile}; (sleep 1000; true) & cat ${join(work, 'frame.jpg')}`);
    const r = await timed(src.read());
    assert.ok(!(r.result instanceof Error) && r.result!.buffer.equals(jpeg), String(r.result));
    assert.ok(r.ms < SOURCE_DEFAULTS.exitGraceMs + 1500, `settled in ${r.ms} ms`);
    const pgid = Number((await readFile(pidFile, 'utf8')).trim());
    await waitUntil('the grandchild to die', () => groupMembers(pgid).length === 0, 2000);
  });

  test('endless command output is cut at maxFrameBytes and the command killed', async () => {
    const pidFile = join(work, 'yes.pid');
    const src = new CommandSource(`echo $$ > ${pidFile}; yes`, { maxFrameBytes: MIB });
    assert.match(String((await timed(src.read())).result), /output larger than 1048576 bytes/);
    const pgid = Number((await readFile(pidFile, 'utf8')).trim());
    await waitUntil('yes to die', () => groupMembers(pgid).length === 0, 2000);
  });

  test('file: a FIFO named like an image is refused instead of blocking', async () => {
    const fifo = join(work, 'fifo.jpg');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    assert.match(String((await timed(new FileSource(fifo).read())).result), /not a regular file/);
  });
});
