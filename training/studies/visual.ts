/**
 * Pure helpers that turn a network's numbers into grayscale tiles (filters, feature maps, saliency)
 * and pull channels out of NHWC / NCHW tensors. No I/O.
 */

/**
 * Min-max to 0..255 (white = the largest value). A constant plane is all black (0): a dead ReLU
 * channel should look dead, not mid-grey.
 */
export function toGray(values: ArrayLike<number>): Uint8Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  const out = new Uint8Array(values.length);
  if (!(hi > lo)) return out;
  for (let i = 0; i < values.length; i++) out[i] = Math.round((255 * (values[i] - lo)) / (hi - lo));
  return out;
}

/** Signed weights around mid-grey: 0 is 128, the largest |w| is 0 or 255, so signs read at a glance. */
export function toSignedGray(values: ArrayLike<number>): Uint8Array {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  const out = new Uint8Array(values.length).fill(128);
  if (max === 0) return out;
  for (let i = 0; i < values.length; i++) out[i] = Math.round(128 + (127 * values[i]) / max);
  return out;
}

/** Channel `c` of one NHWC image [H, W, C] (batch 1) as an H*W plane. */
export function channelNhwc(data: ArrayLike<number>, h: number, w: number, channels: number, c: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) out[i] = data[i * channels + c];
  return out;
}

/** Channel `c` of one NCHW image [C, H, W] (batch 1) as an H*W plane. */
export function channelNchw(data: ArrayLike<number>, h: number, w: number, c: number): Float32Array {
  return Float32Array.from({ length: h * w }, (_, i) => data[c * h * w + i]);
}

/** Filter `o` of a tfjs conv kernel [kh, kw, in, out], input channel `i`, as a kh*kw plane. */
export function filterHwio(kernel: ArrayLike<number>, kh: number, kw: number, inC: number, outC: number, o: number, i = 0): Float32Array {
  return Float32Array.from({ length: kh * kw }, (_, p) => kernel[(p * inC + i) * outC + o]);
}

/** Filter `o` of an ONNX conv weight [out, in, kh, kw], input channel `i`, as a kh*kw plane. */
export function filterOihw(weight: ArrayLike<number>, kh: number, kw: number, inC: number, o: number, i = 0): Float32Array {
  return Float32Array.from({ length: kh * kw }, (_, p) => weight[(o * inC + i) * kh * kw + p]);
}

/** Columns a grid of `n` tiles gets: near-square, at most `max` wide. */
export function gridColumns(n: number, max = 16): number {
  return Math.max(1, Math.min(max, Math.ceil(Math.sqrt(n))));
}
