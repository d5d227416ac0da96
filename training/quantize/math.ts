/**
 * Quantization parameter maths, as pure functions. Affine quantization: q = clamp(round(x/scale) +
 * zeroPoint, qmin, qmax), x ~= (q - zeroPoint) * scale; rounding is half-to-even as ONNX
 * QuantizeLinear does it, so our offline weights equal what the runtime would compute.
 */
export type QuantType = 'uint8' | 'int8';

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/**
 * Integer range of a type. Symmetric int8 uses -127..127 (not -128) so that -x is representable for
 * every x and zero point 0 is exactly the middle. reduceRange keeps one bit free (7-bit values) so
 * u8*s8 products summed in pairs cannot saturate int16 in VPMADDUBSW on x86 without VNNI.
 */
export function quantRange(type: QuantType, symmetric: boolean, reduceRange = false): [number, number] {
  if (type === 'uint8') return reduceRange ? [0, 127] : [0, 255];
  if (reduceRange) return [-64, 64];
  return symmetric ? [-127, 127] : [-128, 127];
}

/** Round half to even (banker's rounding), as ONNX QuantizeLinear and numpy.rint. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return (Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0; // + 0 turns -0 into 0
}

/**
 * Scale and zero point for a real range. The range is widened to include 0 so that zero (padding,
 * ReLU outputs) is exact. A degenerate range (all zeros, or NaN) gets scale 1 and zero point 0:
 * never a zero or negative scale.
 */
export function computeScaleZeroPoint(min: number, max: number, qmin: number, qmax: number, symmetric: boolean): QuantParams {
  let lo = Math.min(Number.isFinite(min) ? min : 0, 0);
  let hi = Math.max(Number.isFinite(max) ? max : 0, 0);
  if (symmetric) {
    const absMax = Math.max(-lo, hi);
    lo = -absMax;
    hi = absMax;
  }
  // Rounded to float32 now: the file stores float32, and zero point and weights must use that value.
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  // Float32 storage: a scale below the smallest normal float32 would underflow to 0 at run time.
  if (!(scale > 1.1754943508222875e-38)) return { scale: 1, zeroPoint: symmetric ? symmetricZeroPoint(qmin, qmax) : clampInt(qmin, qmin, qmax) };
  if (symmetric) return { scale, zeroPoint: symmetricZeroPoint(qmin, qmax) };
  return { scale, zeroPoint: clampInt(roundHalfEven(qmin - lo / scale), qmin, qmax) };
}

function symmetricZeroPoint(qmin: number, qmax: number): number {
  // int8 [-127,127] -> 0; uint8 [0,255] -> 128 (symmetric uint8 is not used, but well defined).
  return Math.ceil((qmin + qmax) / 2);
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

export function quantizeValue(x: number, p: QuantParams, qmin: number, qmax: number): number {
  return clampInt(roundHalfEven(x / p.scale) + p.zeroPoint, qmin, qmax);
}

export function dequantizeValue(q: number, p: QuantParams): number {
  return (q - p.zeroPoint) * p.scale;
}

export function quantizeTensor(values: ArrayLike<number>, p: QuantParams, qmin: number, qmax: number): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = quantizeValue(values[i], p, qmin, qmax);
  return out;
}

export interface ChannelQuantized {
  values: Int32Array;
  params: QuantParams[];
}

/**
 * Quantizes a weight tensor with one (scale, zero point) per slice along `axis` (per-channel), or
 * one for the whole tensor when `perChannel` is false.
 */
export function quantizeWeights(values: Float32Array, dims: readonly number[], axis: number, perChannel: boolean, qmin: number, qmax: number, symmetric: boolean): ChannelQuantized {
  const channels = perChannel ? dims[axis] : 1;
  const inner = perChannel ? dims.slice(axis + 1).reduce((a, b) => a * b, 1) : values.length;
  const channelOf = (i: number) => (perChannel ? Math.floor(i / inner) % channels : 0);
  const lo = new Array<number>(channels).fill(0);
  const hi = new Array<number>(channels).fill(0);
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(i);
    if (values[i] < lo[c]) lo[c] = values[i];
    if (values[i] > hi[c]) hi[c] = values[i];
  }
  const params = lo.map((l, c) => computeScaleZeroPoint(l, hi[c], qmin, qmax, symmetric));
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = quantizeValue(values[i], params[channelOf(i)], qmin, qmax);
  return { values: out, params };
}

/**
 * Bias as int32 with scale = inputScale * weightScale[c] and zero point 0, the scale the integer
 * accumulator of QLinearConv/QGemm already has, so the bias is added without rescaling.
 */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: readonly number[]): { values: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(bias.length);
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const s = Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]);
    scales[c] = s > 0 ? s : 1;
    values[c] = Math.max(-2147483648, Math.min(2147483647, roundHalfEven(bias[c] / scales[c])));
  }
  return { values, scales };
}
