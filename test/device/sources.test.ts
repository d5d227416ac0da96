import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { MemorySource } from '../../device/sources/memory.ts';
import { DirSource, FileSource } from '../../device/sources/files.ts';
import { CommandSource } from '../../device/sources/command.ts';
import { HttpSnapshotSource, MjpegSource, RtspSource, hasFfmpeg } from '../../device/sources/network.ts';
import { FashionMnistSource } from '../../device/sources/fashion-mnist.ts';
import { JpegStreamSplitter, MultipartParser } from '../../device/sources/stream-parsers.ts';
import { parseSourceSpec } from '../../device/sources/spec.ts';
import type { FrameSource } from '../../device/sources/types.ts';
import { UserError } from '../../src/errors.ts';

async function jpeg(shade: number): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 24, channels: 3, background: { r: shade, g: shade, b: shade } } }).jpeg().toBuffer();
}

const ffmpegHere = await hasFfmpeg();
const frames = await Promise.all([jpeg(20), jpeg(120), jpeg(220)]);
const work = await mkdtemp(join(tmpdir(), 'edgeloom-src-'));
for (const [i, f] of frames.entries()) await writeFile(join(work, `frame-${i}.jpg`), f);
await writeFile(join(work, 'notes.txt'), 'not an image');

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

let snapshotIndex = 0;
const snapshotServer = createServer((_req, res) => {
  const body = frames[snapshotIndex++ % frames.length];
  res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
  res.end(body);
});
const mjpegServer = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=frameboundary' });
  // Split writes at awkward places so the parser sees parts across chunks; one part has no length.
  const parts = frames.map((f, i) => Buffer.concat([
    Buffer.from(`--frameboundary\r\nContent-Type: image/jpeg\r\n${i === 1 ? '' : `Content-Length: ${f.length}\r\n`}\r\n`), f, Buffer.from('\r\n'),
  ]));
  const all = Buffer.concat([...parts, Buffer.from('--frameboundary--\r\n')]);
  const cut = [0, 7, 300, all.length - 5, all.length];
  for (let i = 0; i + 1 < cut.length; i++) res.write(all.subarray(cut[i], cut[i + 1]));
  res.end();
  req.on('error', () => undefined);
});
const snapshotUrl = await listen(snapshotServer);
const mjpegUrl = await listen(mjpegServer);
after(async () => {
  snapshotServer.close();
  mjpegServer.close();
  await rm(work, { recursive: true, force: true });
});

interface SourceCase {
  name: string;
  make(): FrameSource;
  /** What the first reads yield (finite sources then end); defaults to `frames`. */
  expected?: Buffer[];
  finite: boolean;
}

const cases: SourceCase[] = [
  { name: 'memory', make: () => new MemorySource([...frames]), finite: true },
  { name: 'dir', make: () => new DirSource(work), finite: true },
  { name: 'file', make: () => new FileSource(join(work, 'frame-2.jpg')), expected: [frames[2]], finite: true },
  {
    name: 'command',
    // One frame per run: a counter file picks the next line of the frame list (like a camera tool would).
    make: () => new CommandSource(`n=$(cat ${join(work, 'n')} 2>/dev/null || echo 0); echo $((n + 1)) > ${join(work, 'n')}; cat "$(sed -n "$((n % 3 + 1))p" ${join(work, 'list')})"`),
    finite: false,
  },
  { name: 'http snapshot', make: () => { snapshotIndex = 0; return new HttpSnapshotSource(`${snapshotUrl}/capture`); }, finite: false },
  { name: 'mjpeg', make: () => new MjpegSource(mjpegUrl), finite: true },
];
await writeFile(join(work, 'list'), frames.map((_, k) => join(work, `frame-${k}.jpg`)).join('\n'));

for (const c of cases) {
  describe(`FrameSource contract: ${c.name}`, () => {
    test('yields the frames in order with seq, ts and source name', async () => {
      await rm(join(work, 'n'), { force: true });
      const src = c.make();
      const expected = c.expected ?? frames;
      for (let i = 0; i < expected.length; i++) {
        const f = await src.read();
        assert.ok(f, `frame ${i}`);
        assert.ok(f.buffer.equals(expected[i]), `frame ${i} bytes`);
        assert.equal(f.seq, i);
        assert.ok(f.ts instanceof Date);
        assert.equal(f.sourceName, src.name);
      }
      if (c.finite) assert.equal(await src.read(), null);
      await src.close();
    });

    test('read after close returns null', async () => {
      const src = c.make();
      await src.close();
      assert.equal(await src.read(), null);
    });
  });
}

describe('sources: details', () => {
  test('dir and file loop when asked', async () => {
    const dir = new DirSource(work, { loop: true });
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push((await dir.read())!.buffer);
    assert.ok(seen[3].equals(frames[0]));
    const file = new FileSource(join(work, 'frame-1.jpg'), { loop: true });
    assert.ok((await file.read())!.buffer.equals(frames[1]));
    assert.equal((await file.read())!.seq, 1);
  });

  test('a command that fails is an error for that frame, and the next read still works', async () => {
    await writeFile(join(work, 'flaky'), '0');
    const src = new CommandSource(`n=$(cat ${join(work, 'flaky')}); echo $((n+1)) > ${join(work, 'flaky')}; if [ $n = 0 ]; then echo boom >&2; exit 3; fi; cat ${join(work, 'frame-0.jpg')}`);
    await assert.rejects(src.read(), /exited with 3: boom/);
    assert.ok((await src.read())!.buffer.equals(frames[0]));
  });

  test('an http snapshot error status is a frame error', async () => {
    const server = createServer((_q, r) => { r.writeHead(503); r.end(); });
    const url = await listen(server);
    await assert.rejects(new HttpSnapshotSource(url).read(), /HTTP 503/);
    server.close();
  });

  test('frames larger than maxFrameBytes are rejected', async () => {
    await assert.rejects(new FileSource(join(work, 'frame-0.jpg'), { maxFrameBytes: 10 }).read(), /too large/);
  });

  test('the JPEG splitter and multipart parser handle byte-by-byte input', () => {
    const splitter = new JpegStreamSplitter(1e6);
    const stream = Buffer.concat([Buffer.from('junk'), frames[0], frames[1]]);
    const out: Buffer[] = [];
    for (const b of stream) out.push(...(splitter.push(Buffer.from([b])) as Buffer[]));
    assert.equal(out.length, 2);
    assert.ok(out[1].equals(frames[1]));
    const parser = new MultipartParser('b', 5);
    const res = parser.push(Buffer.from('--b\r\nContent-Length: 9\r\n\r\n123456789\r\n--b\r\nContent-Length: 3\r\n\r\nabc\r\n'));
    assert.ok(res[0] instanceof Error);
    assert.equal(res.at(-1)!.toString(), 'abc');
  });

  test('fashion-mnist:test replays PNG frames with classes interleaved', async () => {
    const src = new FashionMnistSource();
    const f = await src.read();
    const meta = await sharp(f!.buffer).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 28);
    const labels = [await src.labelOf(0), await src.labelOf(1), await src.labelOf(9)];
    assert.deepEqual(labels, [0, 1, 9]);
  });

  test('rtsp without ffmpeg is a clear UserError', async () => {
    if (!ffmpegHere) {
      await assert.rejects(new RtspSource('rtsp://127.0.0.1:1/x').read(), (e: Error) => e instanceof UserError && /needs ffmpeg/.test(e.message));
      return;
    }
    // ffmpeg is found once per process: a child whose PATH is an empty folder has none (CI installs it).
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-noffmpeg-'));
    try {
      const script = join(dir, 'probe.mts');
      await writeFile(script, [
        `import { RtspSource } from ${JSON.stringify(new URL('../../device/sources/network.ts', import.meta.url).pathname)};`,
        `import { UserError } from ${JSON.stringify(new URL('../../src/errors.ts', import.meta.url).pathname)};`,
        "try { await new RtspSource('rtsp://admin:pw@127.0.0.1:1/x').read(); console.log('no error'); }",
        "catch (e) { console.log(JSON.stringify({ user: e instanceof UserError, message: e.message })); }",
      ].join('\n'));
      const { execFile } = await import('node:child_process');
      const out = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, PATH: dir } }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
      const result = JSON.parse(out.trim().split('\n').at(-1)!) as { user: boolean; message: string };
      assert.equal(result.user, true);
      assert.equal(result.message, 'rtsp://admin:***@127.0.0.1:1/x: RTSP needs ffmpeg on the PATH (apt-get install ffmpeg)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('parseSourceSpec', () => {
    assert.deepEqual(parseSourceSpec('webcam'), { kind: 'webcam' });
    assert.deepEqual(parseSourceSpec('webcam:/dev/video1'), { kind: 'webcam', device: '/dev/video1' });
    assert.deepEqual(parseSourceSpec('command:rpicam-still -n -o -'), { kind: 'command', command: 'rpicam-still -n -o -' });
    assert.deepEqual(parseSourceSpec('http://cam/capture'), { kind: 'http', url: 'http://cam/capture' });
    assert.deepEqual(parseSourceSpec('mjpeg:http://cam:81/stream'), { kind: 'mjpeg', url: 'http://cam:81/stream' });
    assert.deepEqual(parseSourceSpec('rtsp://cam/h264'), { kind: 'rtsp', url: 'rtsp://cam/h264' });
    assert.deepEqual(parseSourceSpec('dir:./frames'), { kind: 'dir', path: './frames' });
    assert.deepEqual(parseSourceSpec('file:a.png'), { kind: 'file', path: 'a.png' });
    assert.deepEqual(parseSourceSpec('fashion-mnist:test'), { kind: 'fashion-mnist', split: 'test' });
    assert.throws(() => parseSourceSpec('fashion-mnist:train'), UserError);
    assert.throws(() => parseSourceSpec('ftp://x'), /unknown source/);
    assert.throws(() => parseSourceSpec('dir:'), /missing path/);
  });
});
