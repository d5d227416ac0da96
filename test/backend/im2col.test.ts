import assert from 'node:assert/strict';
import { test } from 'node:test';
import { col2im, im2colTransposed, patchLength, patchRows, type ConvGeometry } from '../../training/backend/wasm-kernels/im2col.ts';
import { reductionBlock } from '../../training/backend/wasm-kernels/reduce.ts';
import { tileInto } from '../../training/backend/wasm-kernels/tile.ts';
import { randomValues } from './helpers.ts';

const geometries: ConvGeometry[] = [
  { batch: 2, inHeight: 5, inWidth: 4, inChannels: 3, outHeight: 5, outWidth: 4, filterHeight: 3, filterWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1 },
  { batch: 1, inHeight: 7, inWidth: 7, inChannels: 2, outHeight: 3, outWidth: 3, filterHeight: 3, filterWidth: 3, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 },
  { batch: 2, inHeight: 6, inWidth: 5, inChannels: 1, outHeight: 3, outWidth: 5, filterHeight: 2, filterWidth: 3, strideHeight: 2, strideWidth: 1, padTop: 0, padLeft: 1 },
];

/** x[b, h, w, c] of an NHWC array, 0 outside the image (the padding). */
function pixel(x: Float32Array, g: ConvGeometry, b: number, h: number, w: number, c: number): number {
  if (h < 0 || h >= g.inHeight || w < 0 || w >= g.inWidth) return 0;
  return x[((b * g.inHeight + h) * g.inWidth + w) * g.inChannels + c];
}

/** The same image in channel-major [C, N, H, W] order. */
function channelMajor(x: Float32Array, g: ConvGeometry): Float32Array {
  const out = new Float32Array(x.length);
  let o = 0;
  for (let c = 0; c < g.inChannels; c++)
    for (let b = 0; b < g.batch; b++)
      for (let h = 0; h < g.inHeight; h++) for (let w = 0; w < g.inWidth; w++) out[o++] = pixel(x, g, b, h, w, c);
  return out;
}

for (const [i, g] of geometries.entries()) {
  test(`transposed patches hold x at the padded, strided positions (geometry ${i})`, () => {
    const x = randomValues(g.batch * g.inHeight * g.inWidth * g.inChannels, 50 + i);
    const rows = patchRows(g);
    const colsT = new Float32Array(patchLength(g) * rows).fill(Number.NaN);
    im2colTransposed(channelMajor(x, g), g, colsT);
    for (let kh = 0; kh < g.filterHeight; kh++)
      for (let kw = 0; kw < g.filterWidth; kw++)
        for (let c = 0; c < g.inChannels; c++)
          for (let b = 0; b < g.batch; b++)
            for (let oh = 0; oh < g.outHeight; oh++)
              for (let ow = 0; ow < g.outWidth; ow++) {
                const k = (kh * g.filterWidth + kw) * g.inChannels + c;
                const n = (b * g.outHeight + oh) * g.outWidth + ow;
                const expected = pixel(x, g, b, oh * g.strideHeight - g.padTop + kh, ow * g.strideWidth - g.padLeft + kw, c);
                assert.equal(colsT[k * rows + n], expected, `k=${k} n=${n}`);
              }
  });

  test(`col2im adds each patch entry back to its pixel (geometry ${i})`, () => {
    const len = patchLength(g);
    const cols = randomValues(patchRows(g) * len, 60 + i);
    const dx = new Float32Array(g.batch * g.inHeight * g.inWidth * g.inChannels).fill(7);
    col2im(cols, g, dx);
    const expected = new Float64Array(dx.length);
    for (let b = 0; b < g.batch; b++)
      for (let oh = 0; oh < g.outHeight; oh++)
        for (let ow = 0; ow < g.outWidth; ow++)
          for (let kh = 0; kh < g.filterHeight; kh++)
            for (let kw = 0; kw < g.filterWidth; kw++) {
              const h = oh * g.strideHeight - g.padTop + kh;
              const w = ow * g.strideWidth - g.padLeft + kw;
              if (h < 0 || h >= g.inHeight || w < 0 || w >= g.inWidth) continue;
              for (let c = 0; c < g.inChannels; c++) {
                const n = (b * g.outHeight + oh) * g.outWidth + ow;
                expected[((b * g.inHeight + h) * g.inWidth + w) * g.inChannels + c] += cols[n * len + (kh * g.filterWidth + kw) * g.inChannels + c];
              }
            }
    expected.forEach((v, j) => assert.ok(Math.abs(v - dx[j]) < 1e-5, `dx[${j}] = ${dx[j]}, expected ${v}`));
  });
}

test('tileInto repeats every axis', () => {
  const out = new Float32Array(12);
  tileInto(Float32Array.from([1, 2, 3]), [1, 3], [2, 2], out);
  assert.deepEqual(Array.from(out), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  const column = new Int32Array(6);
  tileInto(Int32Array.from([4, 5]), [2, 1], [1, 3], column);
  assert.deepEqual(Array.from(column), [4, 4, 4, 5, 5, 5]);
});

test('reductionBlock splits a tensor around a run of consecutive axes that excludes the last', () => {
  assert.deepEqual(reductionBlock([8, 5, 5, 3], [0, 1, 2]), { outer: 1, rows: 200, inner: 3 });
  assert.deepEqual(reductionBlock([8, 5, 5, 3], [2, 1]), { outer: 8, rows: 25, inner: 3 });
  assert.equal(reductionBlock([8, 5, 5, 3], [0, 2]), null);
  assert.equal(reductionBlock([8, 5, 5, 3], [3]), null);
  assert.equal(reductionBlock([8, 5], []), null);
});
