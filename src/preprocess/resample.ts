/**
 * Resizing a region of a float image to at most 28x28, and the mild sharpening after it. The
 * convolution resampler follows Pillow's (Resample.c, precompute_coeffs): the kernel is widened by the
 * shrink factor, so shrinking averages the noise away like an area filter while keeping edges.
 * Pure maths over plain arrays, the same in Node and in a browser.
 */

export interface Kernel {
  support: number;
  weight(x: number): number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

export const LANCZOS3: Kernel = {
  support: 3,
  weight: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
};

interface Coefficients {
  /** First source index of each output sample. */
  first: Int32Array;
  /** Number of taps of each output sample. */
  count: Int32Array;
  /** Normalized weights, `taps` per output sample. */
  weights: Float32Array;
  taps: number;
}

/** Weights to map `inSize` samples starting at `in0` onto `outSize` samples. */
function coefficients(in0: number, inSize: number, outSize: number, limit: number, kernel: Kernel): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = kernel.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = in0 + (o + 0.5) * scale;
    const lo = Math.max(in0, Math.floor(center - support + 0.5));
    const hi = Math.min(in0 + inSize, limit, Math.floor(center + support + 0.5));
    let total = 0;
    const n = Math.min(taps, hi - lo);
    for (let k = 0; k < n; k++) {
      const w = kernel.weight((lo + k - center + 0.5) / filterScale);
      weights[o * taps + k] = w;
      total += w;
    }
    if (total !== 0) for (let k = 0; k < n; k++) weights[o * taps + k] /= total;
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, weights, taps };
}

/**
 * Resamples the `box` region of `src` (`width` wide) to `outW` x `outH`, horizontally then vertically.
 */
export function resampleRegion(
  src: Float32Array,
  width: number,
  box: { left: number; top: number; width: number; height: number },
  outW: number,
  outH: number,
  kernel: Kernel = LANCZOS3,
): Float32Array {
  const h = coefficients(box.left, box.width, outW, width, kernel);
  const tmp = new Float32Array(outW * box.height);
  for (let y = 0; y < box.height; y++) {
    const row = (box.top + y) * width;
    for (let o = 0; o < outW; o++) {
      let s = 0;
      const base = o * h.taps;
      const x0 = row + h.first[o];
      for (let k = 0; k < h.count[o]; k++) s += src[x0 + k] * h.weights[base + k];
      tmp[y * outW + o] = s;
    }
  }
  const v = coefficients(0, box.height, outH, box.height, kernel);
  const out = new Float32Array(outW * outH);
  for (let o = 0; o < outH; o++) {
    const base = o * v.taps;
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let k = 0; k < v.count[o]; k++) s += tmp[(v.first[o] + k) * outW + x] * v.weights[base + k];
      out[o * outW + x] = s;
    }
  }
  return out;
}

/**
 * Unsharp mask: v + amount * (v - gauss(v, sigma)), with a 3x3 Gaussian (sigma <= 0.8 keeps the
 * kernel within one pixel). Edges are clamped.
 */
export function sharpen(img: Float32Array, width: number, height: number, sigma: number, amount: number): Float32Array {
  const side = Math.exp(-1 / (2 * sigma * sigma));
  const c = 1 / (1 + 2 * side);
  const s = side * c;
  const tmp = new Float32Array(img.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      tmp[i] = c * img[i] + s * (img[x > 0 ? i - 1 : i] + img[x < width - 1 ? i + 1 : i]);
    }
  }
  const out = new Float32Array(img.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const blurred = c * tmp[i] + s * (tmp[y > 0 ? i - width : i] + tmp[y < height - 1 ? i + width : i]);
      out[i] = img[i] + amount * (img[i] - blurred);
    }
  }
  return out;
}
