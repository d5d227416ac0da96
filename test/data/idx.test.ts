import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, parseIdx, readIdxFile } from '../../training/data/idx.ts';
import { loadIdxPair } from '../../training/data/idx-dir.ts';

const images = new Uint8Array(2 * 28 * 28).map((_, i) => i % 251);
const labels = new Uint8Array([3, 7]);

test('IDX round-trips, plain and gzipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  const enc = encodeIdx([2, 28, 28], images);
  assert.deepEqual([...enc.subarray(0, 8)], [0, 0, 8, 3, 0, 0, 0, 2]);
  await writeFile(join(dir, 'a'), enc);
  await writeFile(join(dir, 'b.gz'), gzipSync(enc));
  for (const f of ['a', 'b.gz']) {
    const back = await readIdxFile(join(dir, f));
    assert.deepEqual(back.dims, [2, 28, 28]);
    assert.deepEqual(Uint8Array.from(back.data), images); // readIdxFile returns a Buffer view
  }
});

test('IDX errors name the file and the problem', () => {
  const enc = encodeIdx([2, 28, 28], images);
  const bad = enc.slice();
  bad[0] = 0x42;
  assert.throws(() => parseIdx(bad, '/x/imgs.idx'), /^UserError: imgs\.idx: not an IDX file \(magic bytes 0x42 0x00/);
  assert.throws(() => parseIdx(enc.subarray(0, enc.length - 10), 'imgs.idx'), /imgs\.idx: truncated IDX data \(1558 bytes after the header, dims 2x28x28 need 1568\)/);
  assert.throws(() => parseIdx(enc.subarray(0, 6), 'imgs.idx'), /imgs\.idx: truncated IDX header/);
  const typed = enc.slice();
  typed[2] = 0x0d;
  assert.throws(() => parseIdx(typed, 'imgs.idx'), /imgs\.idx: IDX data type 0x0d is not supported/);
});

test('label/image count mismatch is refused with both file names', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  await writeFile(join(dir, 'img'), encodeIdx([2, 28, 28], images));
  await writeFile(join(dir, 'lab'), encodeIdx([3], new Uint8Array([1, 2, 3])));
  await assert.rejects(loadIdxPair(join(dir, 'img'), join(dir, 'lab')), /lab: 3 labels but .*img holds 2 images/);
  await writeFile(join(dir, 'lab2'), encodeIdx([2], new Uint8Array([1, 12])));
  await assert.rejects(loadIdxPair(join(dir, 'img'), join(dir, 'lab2')), /lab2: label 12 at index 1 is outside 0\.\.9/);
});
