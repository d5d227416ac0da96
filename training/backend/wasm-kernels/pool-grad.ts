import { backend_util, MaxPoolGrad, type KernelConfig, type KernelFunc, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, heapF32 } from './call.ts';
import { geometryOf, type ConvGeometry } from './im2col.ts';

/** A pooling window has the geometry of a convolution without weights (inChannels = channels). */
export type PoolGeometry = ConvGeometry;

/**
 * dx of max pooling: each window sends its dy to the first position (row-major) holding the window's
 * maximum, as the cpu back end does. Windows are scanned position by position with all channels in
 * the inner loop, so memory is read contiguously.
 */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  if (tilesExactly2x2(g)) {
    maxPoolGrad2x2(x, dy, g, dx);
    return;
  }
  const C = g.inChannels;
  dx.fill(0, 0, g.batch * g.inHeight * g.inWidth * C);
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const image = b * g.inHeight * g.inWidth * C;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const h0 = oh * g.strideHeight - g.padTop;
      const hStart = Math.max(0, h0);
      const hEnd = Math.min(g.inHeight, h0 + g.filterHeight);
      for (let ow = 0; ow < g.outWidth; ow++, o += C) {
        const w0 = ow * g.strideWidth - g.padLeft;
        const wStart = Math.max(0, w0);
        const wEnd = Math.min(g.inWidth, w0 + g.filterWidth);
        best.fill(Number.NEGATIVE_INFINITY);
        where.fill(-1);
        for (let h = hStart; h < hEnd; h++) {
          for (let w = wStart; w < wEnd; w++) {
            const p = image + (h * g.inWidth + w) * C;
            for (let c = 0; c < C; c++) {
              const v = x[p + c];
              if (v > best[c]) {
                best[c] = v;
                where[c] = p + c;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) if (where[c] >= 0) dx[where[c]] += dy[o + c];
      }
    }
  }
}

/** 2x2 windows with stride 2 that cover the input exactly, without padding (the usual CNN pooling). */
function tilesExactly2x2(g: PoolGeometry): boolean {
  return g.filterHeight === 2 && g.filterWidth === 2 && g.strideHeight === 2 && g.strideWidth === 2 &&
    g.padTop === 0 && g.padLeft === 0 && g.inHeight === 2 * g.outHeight && g.inWidth === 2 * g.outWidth;
}

/** Every input pixel lies in exactly one window, so each is written once and nothing is cleared first. */
function maxPoolGrad2x2(x: Float32Array, dy: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  const C = g.inChannels;
  const row = g.inWidth * C;
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outHeight; oh++) {
      let p = (b * g.inHeight + 2 * oh) * row;
      for (let ow = 0; ow < g.outWidth; ow++, p += 2 * C) {
        for (let c = 0; c < C; c++, o++) {
          const i0 = p + c;
          const i1 = i0 + C;
          const i2 = i0 + row;
          const i3 = i2 + C;
          // First maximum in row-major window order wins, as on cpu.
          let best = i0;
          if (x[i1] > x[best]) best = i1;
          if (x[i2] > x[best]) best = i2;
          if (x[i3] > x[best]) best = i3;
          dx[i0] = 0;
          dx[i1] = 0;
          dx[i2] = 0;
          dx[i3] = 0;
          dx[best] = dy[o];
        }
      }
    }
  }
}

function maxPoolGrad(args: { inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo }; backend: BackendWasm; attrs: MaxPoolGradAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const dx = allocate(backend, input.shape);
  maxPoolGradInto(heapF32(backend, input), heapF32(backend, dy), geometryOf(info), heapF32(backend, dx));
  return dx;
}

export const maxPoolGradConfig: KernelConfig = { kernelName: MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad as unknown as KernelFunc };
