import { IMAGE_PIXELS, IMAGE_SIZE } from '../classes.ts';
import { backgroundAt, borderSigma, boxBlur, fitBackground, type BackgroundModel } from './background.ts';
import { findBlobs, selectGarment, SIGNIFICANT_BLOB_FRACTION, type Box } from './blobs.ts';
import { resampleRegion, sharpen } from './resample.ts';

/**
 * Everything after decoding, as pure functions over plain typed arrays (no sharp, no I/O): from a
 * decoded working-size frame (8-bit, 1 to 4 channels) to the 28x28 Fashion-MNIST-style image and its
 * quality report. The steps and their reasons are in docs/preprocessing.md; a browser can run this
 * module unchanged on the RGBA pixels of a canvas.
 */

/** A decoded frame: `channels` interleaved 8-bit samples per pixel (grey, grey+alpha, RGB or RGBA). */
export interface RawFrame {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export type InvertMode = 'auto' | 'always' | 'never';

/** Why a frame cannot give a meaningful garment image (counted as an error, never labelled). */
export type UnusableReason = 'frame-too-small' | 'frame-extreme-aspect' | 'frame-transparent';

/** Frame-level warnings: the image is produced (and labelled) but may not show the garment well. */
export type QualityIssue = 'no-garment' | 'small-garment' | 'several-blobs';

export interface FrameQuality {
  /**
   * Fraction of the 28x28 image the garment covers, 0..1: the pixels of its blobs (which the blur
   * widens a little, so a bit more than the bright pixels) scaled to the output.
   */
  fill: number;
  /** Separate blobs standing out from the table: merged into the garment + left out as detached. */
  blobs: number;
  /** Empty when nothing looks wrong. */
  issues: QualityIssue[];
}

export interface ConvertedFrame {
  pixels: Uint8Array;
  inverted: boolean;
  quality: FrameQuality;
}

export class UnusableFrameError extends Error {
  constructor(readonly code: UnusableReason, message: string) {
    super(message);
    this.name = 'UnusableFrameError';
  }
}

/** Frames smaller than this on a side hold no garment worth the name (a 1x1 tracking pixel, a 3-pixel strip). */
export const MIN_FRAME_SIDE = 8;
/** Longer side over shorter side beyond this is a strip, not a view of a table (16:9 is 1.8, a belt ROI 6). */
export const MAX_ASPECT_RATIO = 10;
/** Xiao et al. trim edges "within 5% of the maximum possible intensity" of the corner colour. */
const TRIM_FRACTION = 0.05;
/** Noise of a real table must not survive as speckle: background within this many sigmas -> 0. */
const NOISE_SIGMAS = 3;
const PEAK_PERCENTILE = 0.99;
/**
 * Gaussian sigma and amount of the unsharp mask after resizing. Xiao et al. sharpen shrunken studio
 * photos with sigma 1.0; camera frames ring at that strength (measured on test/preprocess/synth.ts frames).
 */
const SHARPEN_SIGMA = 0.5;
const SHARPEN_AMOUNT = 1;
/** For an image that is already 28x28 (no blobs to measure), a pixel counts as garment above this level. */
export const FILL_LEVEL = 32;
/**
 * Below this fill the garment is a few pixels inside a box spanned by something else (an outline, a
 * shadow it touches): the trim box is probably wrong. Of 1,000 synthetic camera frames of Fashion-MNIST
 * test garments (test/preprocess/accuracy.ts) none fills less than 13%; a garment one fifth of the
 * frame inside a tray outline fills 8%, one with a shadow bar across the table 5 to 6%.
 */
export const MIN_FILL = 0.1;

/** Refuses frames no conversion can make sense of (checked on the decoded, ROI-cropped frame). */
export function checkUsable(frame: RawFrame): void {
  const { width, height } = frame;
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  if (long / short > MAX_ASPECT_RATIO) {
    throw new UnusableFrameError('frame-extreme-aspect', `unusable frame: ${width}x${height} is a strip (aspect ratio over ${MAX_ASPECT_RATIO}:1)`);
  }
  if (short < MIN_FRAME_SIDE) throw new UnusableFrameError('frame-too-small', `unusable frame: ${width}x${height} pixels (at least ${MIN_FRAME_SIDE}x${MIN_FRAME_SIDE} needed)`);
}

/**
 * The conversion works on frames of WORK_SIZE to 2 x WORK_SIZE pixels on the longer side: a garment
 * filling half of it is still ~80 pixels, almost 3x its final 28, and 160x120 has a quarter of the
 * pixels of 320x240 for every later step. Accuracy on synthetic camera frames is the same as at the
 * full 320x240 (docs/preprocessing.md).
 */
export const WORK_SIZE = 160;

/** Whole-pixel shrink factor that brings the longer side down to WORK_SIZE..2*WORK_SIZE-1. */
export function workingFactor(width: number, height: number): number {
  return Math.max(1, Math.floor(Math.max(width, height) / WORK_SIZE));
}

export interface GrayFrame {
  gray: Uint8Array;
  width: number;
  height: number;
}

/**
 * ITU-R 601 luma, with Pillow's integer weights (its "L" mode, which Fashion-MNIST's 8-bit grayscale
 * step used), averaged over `factor` x `factor` blocks in the same pass (a remainder at the right and
 * bottom edges is dropped). Alpha is flattened onto a background that contrasts with the opaque part
 * (white behind a dark cut-out, black behind a light one), so a transparent PNG stays a garment.
 */
export function toWorkingGray(frame: RawFrame, factor = workingFactor(frame.width, frame.height)): GrayFrame {
  const { data, channels, width, height } = frame;
  const alpha = channels === 2 || channels === 4;
  if (alpha || channels === 1 || factor === 1) {
    const gray = fullGray(frame);
    if (alpha) flattenAlpha(gray, data, channels);
    return factor === 1 ? { gray, width, height } : shrinkGray(gray, width, height, factor);
  }
  // The usual case (an RGB camera frame): luma and block average fused, one pass over the frame.
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const sums = new Uint32Array(w);
  const gray = new Uint8Array(w * h);
  const area = factor * factor;
  for (let by = 0; by < h; by++) {
    sums.fill(0);
    for (let y = by * factor, yEnd = y + factor; y < yEnd; y++) {
      for (let bx = 0, o = y * width * channels; bx < w; bx++) {
        let s = 0;
        for (let k = 0; k < factor; k++, o += channels) s += (data[o] * 19595 + data[o + 1] * 38470 + data[o + 2] * 7471 + 0x8000) >> 16;
        sums[bx] += s;
      }
    }
    for (let bx = 0, out = by * w; bx < w; bx++) gray[out + bx] = (sums[bx] + (area >> 1)) / area;
  }
  return { gray, width: w, height: h };
}

function fullGray(frame: RawFrame): Uint8Array {
  const { data, channels } = frame;
  const n = frame.width * frame.height;
  const gray = new Uint8Array(n);
  if (channels <= 2) {
    for (let i = 0, o = 0; i < n; i++, o += channels) gray[i] = data[o];
    return gray;
  }
  for (let i = 0, o = 0; i < n; i++, o += channels) {
    gray[i] = (data[o] * 19595 + data[o + 1] * 38470 + data[o + 2] * 7471 + 0x8000) >> 16;
  }
  return gray;
}

function shrinkGray(src: Uint8Array, width: number, height: number, factor: number): GrayFrame {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const gray = new Uint8Array(w * h);
  const area = factor * factor;
  for (let by = 0; by < h; by++) {
    for (let bx = 0; bx < w; bx++) {
      let sum = 0;
      for (let y = by * factor; y < (by + 1) * factor; y++) for (let x = bx * factor; x < (bx + 1) * factor; x++) sum += src[y * width + x];
      gray[by * w + bx] = (sum + (area >> 1)) / area;
    }
  }
  return { gray, width: w, height: h };
}

function flattenAlpha(gray: Uint8Array, data: Uint8Array, channels: number): void {
  let opaqueSum = 0;
  let opaqueWeight = 0;
  let opaque = true;
  for (let i = 0, a = channels - 1; i < gray.length; i++, a += channels) {
    const alpha = data[a];
    if (alpha !== 255) opaque = false;
    opaqueSum += gray[i] * alpha;
    opaqueWeight += alpha;
  }
  if (opaque) return;
  if (opaqueWeight === 0) throw new UnusableFrameError('frame-transparent', 'unusable frame: fully transparent (every pixel has alpha 0)');
  const bg = opaqueSum / opaqueWeight < 128 ? 255 : 0;
  for (let i = 0, a = channels - 1; i < gray.length; i++, a += channels) {
    gray[i] = Math.round((gray[i] * data[a] + bg * (255 - data[a])) / 255);
  }
}

/** The whole conversion of a decoded frame; throws UnusableFrameError for frames it refuses. */
export function convertFrame(frame: RawFrame, invert: InvertMode = 'auto'): ConvertedFrame {
  checkUsable(frame);
  const { gray, width, height } = toWorkingGray(frame);
  if (width === IMAGE_SIZE && height === IMAGE_SIZE) {
    // Already a Fashion-MNIST image: any trim, resize or stretch would only change it.
    const inverted = invert === 'always';
    const pixels = inverted ? Uint8Array.from(gray, (v) => 255 - v) : Uint8Array.from(gray);
    return { pixels, inverted, quality: { fill: fillOf(pixels), blobs: 1, issues: [] } };
  }
  return convertPhoto(gray, width, height, invert);
}

function convertPhoto(gray: Uint8Array, width: number, height: number, invert: InvertMode): ConvertedFrame {
  const radius = Math.max(1, Math.round(Math.min(width, height) / 100));
  const blurred = boxBlur(gray, width, height, radius);
  const bg = fitBackground(gray, width, height);
  const blurSigma = borderSigma(blurred, width, height, bg);
  const plane = backgroundPlane(bg, width, height);
  // Contrast to the local background, + where the frame is lighter than the table.
  const contrast = blurred;
  for (let i = 0; i < contrast.length; i++) contrast[i] -= plane[i];
  const threshold = Math.max(TRIM_FRACTION * 255, 5 * blurSigma);
  const inverted = invert === 'always' || (invert === 'auto' && decideInvert(contrast, bg.level, threshold));
  const sign = inverted ? -1 : 1;
  const mask = new Uint8Array(contrast.length);
  for (let i = 0; i < contrast.length; i++) mask[i] = sign * contrast[i] > threshold ? 1 : 0;
  const blobs = findBlobs(mask, width, height);
  const garment = selectGarment(blobs);
  // An empty table gives no box: the whole frame is used, and the noise floor makes it black.
  const box: Box = garment?.box ?? { left: 0, top: 0, width, height };

  // The garment's own contrast (not blurred) on a zero background, oriented so the garment is positive.
  const oriented = new Float32Array(gray.length);
  for (let y = box.top; y < box.top + box.height; y++) {
    for (let i = y * width + box.left, end = i + box.width; i < end; i++) oriented[i] = sign * (gray[i] - plane[i]);
  }
  const scale = IMAGE_SIZE / Math.max(box.width, box.height);
  const w = Math.max(1, Math.min(IMAGE_SIZE, Math.round(box.width * scale)));
  const h = Math.max(1, Math.min(IMAGE_SIZE, Math.round(box.height * scale)));
  const values = sharpen(resampleRegion(oriented, width, box, w, h), w, h, SHARPEN_SIGMA, SHARPEN_AMOUNT);
  // Background -> 0 and garment stretched to the full 0..255, as product photos on pure white gave.
  // Resizing averaged about (1/scale)^2 frame pixels, so the noise left is smaller by 1/scale.
  const floor = NOISE_SIGMAS * bg.sigma * Math.min(1, scale);
  for (let i = 0; i < values.length; i++) values[i] -= floor;
  const gain = 255 / Math.max(brightLevel(values), 16);
  const pixels = new Uint8Array(IMAGE_PIXELS);
  const left = Math.floor((IMAGE_SIZE - w) / 2);
  const top = Math.floor((IMAGE_SIZE - h) / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = Math.round(values[y * w + x] * gain);
      pixels[(top + y) * IMAGE_SIZE + left + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  // The garment's own pixels (the merged blobs' mask), as a fraction of the 28x28 image: unlike the
  // output's bright pixels, this does not count a shadow or outline that the box merely spans.
  const fill = garment ? Math.min(1, Math.round(((garment.area * scale * scale) / IMAGE_PIXELS) * 1000) / 1000) : 0;
  const issues: QualityIssue[] = [];
  if (!garment) issues.push('no-garment');
  else {
    if (fill < MIN_FILL) issues.push('small-garment');
    if (garment.leftOut.some((b) => b.area >= SIGNIFICANT_BLOB_FRACTION * garment.area)) issues.push('several-blobs');
  }
  return { pixels, inverted, quality: { fill, blobs: blobs.length, issues } };
}

function backgroundPlane(bg: BackgroundModel, width: number, height: number): Float32Array {
  const plane = new Float32Array(width * height);
  for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++, i++) plane[i] = backgroundAt(bg, x, y, width, height);
  return plane;
}

/** Fraction of the 784 pixels at or above the garment level, to 3 decimals. */
export function fillOf(pixels: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < pixels.length; i++) if (pixels[i] > FILL_LEVEL) n++;
  return Math.round((n / pixels.length) * 1000) / 1000;
}

/**
 * The garment's brightest level, ignoring the overshoot that sharpening leaves on a few edge pixels
 * (a high percentile rather than the maximum).
 */
function brightLevel(values: Float32Array): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * PEAK_PERCENTILE))];
}

/**
 * Negate when the garment is darker than its background (dark-on-light: a light table). Falls back
 * to the background's own brightness when nothing stands out from it.
 */
function decideInvert(contrast: Float32Array, background: number, threshold: number): boolean {
  let darker = 0;
  let lighter = 0;
  for (let i = 0; i < contrast.length; i++) {
    const c = contrast[i];
    if (c < -threshold) darker -= c;
    else if (c > threshold) lighter += c;
  }
  if (darker === 0 && lighter === 0) return background >= 128;
  return darker > lighter;
}
