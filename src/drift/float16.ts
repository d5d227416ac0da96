import { getFloat16, setFloat16, f16round } from '@petamoriken/float16';

/**
 * Half-precision packing for the large arrays of a drift profile (the OOD whitening matrix and the
 * class means). The Mahalanobis score sums about D products of these numbers; float16's relative
 * error of 2^-11 per entry moves a score by far less than the spread between in- and
 * out-of-distribution frames, and it shrinks the 128x128 matrix from ~86 KB of JSON to ~22 KB.
 */

/** The nearest float16 value of each number (what a pack/unpack round trip returns). */
export function roundToFloat16(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => f16round(v));
}

/** Little-endian float16 bytes, base64. Values beyond float16's range (±65504) become ±Infinity. */
export function packFloat16(values: ArrayLike<number>): string {
  const view = new DataView(new ArrayBuffer(values.length * 2));
  for (let i = 0; i < values.length; i++) setFloat16(view, i * 2, values[i], true);
  return Buffer.from(view.buffer).toString('base64');
}

/** Inverse of packFloat16; null when the text is not base64 of exactly `length` float16 values. */
export function unpackFloat16(text: string, length: number): number[] | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== length * 2) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(length);
  for (let i = 0; i < length; i++) out[i] = getFloat16(view, i * 2, true);
  return out.every(Number.isFinite) ? out : null;
}
