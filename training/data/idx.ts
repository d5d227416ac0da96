import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { basename } from 'node:path';
import { UserError } from '../../src/errors.ts';

/** The IDX format of LeCun's MNIST files: magic 0x0000, type byte (0x08 = ubyte), rank, big-endian dims. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

export function parseIdx(buf: Uint8Array, fileName: string): IdxArray {
  const name = basename(fileName);
  if (buf.length < 4) throw new UserError(`${name}: truncated IDX file (${buf.length} bytes, header needs at least 4)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new UserError(`${name}: not an IDX file (magic bytes ${hex(buf[0])} ${hex(buf[1])}, expected 0x00 0x00)`);
  }
  if (buf[2] !== UBYTE) throw new UserError(`${name}: IDX data type ${hex(buf[2])} is not supported (expected 0x08, unsigned byte)`);
  const rank = buf[3];
  if (rank < 1 || rank > 4) throw new UserError(`${name}: IDX rank ${rank} is not supported (expected 1 for labels or 3 for images)`);
  const headerBytes = 4 + 4 * rank;
  if (buf.length < headerBytes) throw new UserError(`${name}: truncated IDX header (${buf.length} bytes, expected ${headerBytes})`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const available = buf.length - headerBytes;
  if (available < expected) {
    throw new UserError(`${name}: truncated IDX data (${available} bytes after the header, dims ${dims.join('x')} need ${expected})`);
  }
  if (available > expected) {
    throw new UserError(`${name}: ${available - expected} unexpected bytes after the IDX data (dims ${dims.join('x')})`);
  }
  return { dims, data: buf.subarray(headerBytes, headerBytes + expected) };
}

export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) throw new Error(`encodeIdx: data has ${data.length} bytes, dims ${dims.join('x')} need ${expected}`);
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Reads an IDX file, gunzipping it first when it is gzip (by magic bytes, not by name). */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let buf: Uint8Array = await readFile(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw new UserError(`${basename(path)}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  return parseIdx(buf, path);
}

function hex(b: number | undefined): string {
  return `0x${(b ?? 0).toString(16).padStart(2, '0')}`;
}
