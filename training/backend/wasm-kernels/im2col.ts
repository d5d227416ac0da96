import type { backend_util } from '@tensorflow/tfjs';
/**
 * Pure loops that turn an NHWC image into convolution patches (im2col) and back (col2im). They work
 * on plain Float32Arrays so they can be pinned by tests without any back end; the wasm kernels call
 * them on views of the wasm heap.
 */

/** The geometry of one 2-D convolution in NHWC layout (dilation 1). */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** The geometry tfjs computed for a convolution or pooling, in the shape these loops take. */
export function geometryOf(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Number of rows of the patch matrix: one per output pixel. */
export function patchRows(g: ConvGeometry): number {
  return g.batch * g.outHeight * g.outWidth;
}

/** Length of one patch: filterHeight * filterWidth * inChannels, ordered (kh, kw, c) like the filter. */
export function patchLength(g: ConvGeometry): number {
  return g.filterHeight * g.filterWidth * g.inChannels;
}

/** Range [first, end) of filter columns kw whose input column lies inside the image. */
function validColumns(g: ConvGeometry, ow: number): [number, number] {
  const iw0 = ow * g.strideWidth - g.padLeft;
  const first = Math.max(0, -iw0);
  const end = Math.min(g.filterWidth, g.inWidth - iw0);
  return [first, Math.max(first, end)];
}

/**
 * Writes the transposed patch matrix [patchLength, patchRows] from `xT`, the input transposed to
 * channel-major [C, N, H, W]. Each row (kh, kw, c) is the shifted image plane of channel c, so with
 * stride 1 it is copied in runs of a whole output row.
 */
export function im2colTransposed(xT: Float32Array, g: ConvGeometry, colsT: Float32Array): void {
  const plane = g.inHeight * g.inWidth;
  const rows = patchRows(g);
  const OW = g.outWidth;
  let o = 0;
  for (let kh = 0; kh < g.filterHeight; kh++) {
    for (let kw = 0; kw < g.filterWidth; kw++) {
      // Output columns whose input column iw = ow * stride - padLeft + kw lies inside the image.
      const shift = kw - g.padLeft;
      const owFirst = Math.max(0, Math.ceil(-shift / g.strideWidth));
      const owEnd = Math.max(owFirst, Math.min(OW, Math.floor((g.inWidth - 1 - shift) / g.strideWidth) + 1));
      for (let c = 0; c < g.inChannels; c++) {
        const rowEnd = o + rows;
        for (let b = 0; b < g.batch; b++) {
          const base = (c * g.batch + b) * plane;
          for (let oh = 0; oh < g.outHeight; oh++, o += OW) {
            const ih = oh * g.strideHeight - g.padTop + kh;
            if (ih < 0 || ih >= g.inHeight || owFirst >= owEnd) {
              colsT.fill(0, o, o + OW);
              continue;
            }
            if (owFirst > 0) colsT.fill(0, o, o + owFirst);
            if (owEnd < OW) colsT.fill(0, o + owEnd, o + OW);
            const src = base + ih * g.inWidth + shift;
            // Rows are short (one output row), where a plain loop beats subarray().set().
            const sw = g.strideWidth;
            for (let ow = owFirst; ow < owEnd; ow++) colsT[o + ow] = xT[src + ow * sw];
          }
        }
        o = rowEnd;
      }
    }
  }
}

/**
 * The adjoint of im2col: adds every patch entry of `cols` back onto the input pixel it came from.
 * `dx` (NHWC, the input's shape) is overwritten.
 */
export function col2im(cols: Float32Array, g: ConvGeometry, dx: Float32Array): void {
  const C = g.inChannels;
  const rowLen = g.filterWidth * C;
  const imageSize = g.inHeight * g.inWidth * C;
  dx.fill(0, 0, g.batch * imageSize);
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const imageBase = b * imageSize;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const ih0 = oh * g.strideHeight - g.padTop;
      for (let ow = 0; ow < g.outWidth; ow++) {
        const iw0 = ow * g.strideWidth - g.padLeft;
        const [first, end] = validColumns(g, ow);
        for (let kh = 0; kh < g.filterHeight; kh++, o += rowLen) {
          const ih = ih0 + kh;
          if (ih < 0 || ih >= g.inHeight || first >= end) continue;
          const dst = imageBase + (ih * g.inWidth + iw0 + first) * C;
          const src = o + first * C;
          const n = (end - first) * C;
          for (let i = 0; i < n; i++) dx[dst + i] += cols[src + i];
        }
      }
    }
  }
}

/**
 * Rotates a [fh, fw, inC, outC] filter by 180 degrees and swaps its channel axes, giving the
 * [fh, fw, outC, inC] filter whose stride-1 convolution of dy is the input gradient.
 */
export function flipTransposeFilter(w: Float32Array, fh: number, fw: number, inC: number, outC: number, out: Float32Array): void {
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const srcTap = ((fh - 1 - i) * fw + (fw - 1 - j)) * inC * outC;
      const dstTap = (i * fw + j) * outC * inC;
      for (let c = 0; c < inC; c++) {
        for (let k = 0; k < outC; k++) out[dstTap + k * inC + c] = w[srcTap + c * outC + k];
      }
    }
  }
}
