import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { createRng } from '../../src/random.ts';
import { inverseAffine, warpImage } from '../data/warp.ts';

/**
 * The six input filters of the seed study (Giordano et al.), each at severities 1..5, as pure
 * functions over one 28x28 grayscale image (Uint8Array of 784, garment bright on a black
 * background). Where a published definition exists (ImageNet-C / CIFAR-10-C, Hendrycks & Dietterich
 * 2019) its parameters are reused; the CIFAR-10-C variants are the ones made for 32x32 images.
 *
 * Random choices (which side is cut, where the patch sits, rain streaks, rotation direction) come
 * from a generator seeded by (seed, filter, image index) but NOT by severity: a higher severity is
 * the same corruption of that image made stronger (a larger band, a larger patch, more streaks), so
 * accuracy-versus-severity curves compare like with like.
 */
export const FILTER_NAMES = ['cut', 'rotate', 'occlusion', 'contrast', 'blur', 'rain'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];
export const SEVERITIES = [1, 2, 3, 4, 5] as const;

/** The parameter of each filter per severity 1..5 (index 0 = severity 1). */
export const FILTER_PARAMS = {
  /** Fraction of the garment's bounding box (height or width) blanked from one seeded side. */
  cut: [0.1, 0.2, 0.3, 0.4, 0.5],
  /** Rotation in degrees about the image centre, direction seeded per image. */
  rotate: [15, 30, 45, 60, 90],
  /** Side in pixels of a mid-grey (128) square centred at a seeded point of the garment. */
  occlusion: [6, 9, 12, 15, 18],
  /** CIFAR-10-C contrast factor c: x' = (x - mean(x)) * c + mean(x). */
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  /**
   * ImageNet-C gaussian_blur sigma in pixels (kernel truncated at 4 sigma, edges clamped as skimage).
   * Not CIFAR-10-C's [0.4, 0.6, 0.7, 0.8, 1]: on 28x28 garments those barely register (a 77% test
   * model kept 75.6% at sigma 1), while the study's blur cost 41 points.
   */
  blur: [1, 2, 3, 4, 6],
  /** Number of rain streaks (1 px wide, 4-9 px long, slanted, bright, drawn over the image). */
  rain: [6, 12, 18, 24, 36],
} as const satisfies Record<FilterName, readonly number[]>;

/** Human-readable description of each filter's parameter, for the docs and the Markdown report. */
export const FILTER_DESCRIPTIONS: Record<FilterName, string> = {
  cut: 'fraction of the garment bounding box removed from one side',
  rotate: 'rotation angle (degrees)',
  occlusion: 'side of a grey square patch (px)',
  contrast: 'contrast factor c (CIFAR-10-C)',
  blur: 'Gaussian sigma (px, ImageNet-C)',
  rain: 'number of rain streaks',
};

const S = IMAGE_SIZE;

export function isFilterName(name: string): name is FilterName {
  return (FILTER_NAMES as readonly string[]).includes(name);
}

function filterSeed(filter: FilterName, index: number, seed: number): number {
  // FNV-1a over the name, mixed with the index and the seed: distinct streams per filter and image.
  let h = 0x811c9dc5;
  for (let i = 0; i < filter.length; i++) h = Math.imul(h ^ filter.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (index >>> 0), 0x9e3779b1);
  h = Math.imul(h ^ (seed >>> 0), 0x85ebca6b);
  return (h ^ (h >>> 16)) >>> 0;
}

export function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** Bounding box of pixels above `threshold` (the whole image when it is blank). */
export function garmentBox(img: Uint8Array, threshold = 16): Box {
  let top = S, bottom = -1, left = S, right = -1;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (img[y * S + x] > threshold) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return bottom < 0 ? { ...FRAME_BOX } : { top, bottom, left, right };
}

/** Rotation by `degrees` (positive = counter-clockwise on screen) with bilinear sampling, background 0. */
export function rotateImage(img: Uint8Array, degrees: number): Uint8Array {
  const src = Float32Array.from(img);
  // inverseAffine rotates in image coordinates (y down); negate for the on-screen sense.
  const warped = warpImage(src, inverseAffine((-degrees * Math.PI) / 180, 0, 1, 0, 0));
  return Uint8Array.from(warped, clampByte);
}

/** Gaussian blur (separable, kernel truncated at 4 sigma, edge pixels repeated). */
export function gaussianBlur(img: Uint8Array, sigma: number): Uint8Array {
  if (!(sigma > 0)) return Uint8Array.from(img);
  const radius = Math.max(1, Math.ceil(4 * sigma));
  const kernel = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) sum += kernel[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let k = 0; k < kernel.length; k++) kernel[k] /= sum;
  return separableBlur(img, kernel);
}

/**
 * `kernel` (odd length, centred) applied along rows, then along columns, edge pixels repeated; the
 * result rounded once, at the end.
 */
export function separableBlur(img: Uint8Array, kernel: Float64Array): Uint8Array {
  const radius = (kernel.length - 1) / 2;
  const clamp = (v: number) => (v < 0 ? 0 : v >= S ? S - 1 : v);
  const tmp = new Float64Array(IMAGE_PIXELS);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) s += kernel[k + radius] * img[y * S + clamp(x + k)];
      tmp[y * S + x] = s;
    }
  }
  const out = new Uint8Array(IMAGE_PIXELS);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) s += kernel[k + radius] * tmp[clamp(y + k) * S + x];
      out[y * S + x] = clampByte(s);
    }
  }
  return out;
}

/** ImageNet-C's contrast: pixels pulled towards `centre` (default: the image mean) by factor c. */
export function scaleContrast(img: Uint8Array, c: number, centre = imageMean(img)): Uint8Array {
  return Uint8Array.from(img, (v) => clampByte((v - centre) * c + centre));
}

function imageMean(img: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < img.length; i++) sum += img[i];
  return sum / img.length;
}

/**
 * Draws one straight streak of `length` rows into `out` with max() (rain adds light), starting at
 * (x0, y0) and moving `slant` columns per row, `width` pixels wide.
 */
export function drawStreak(out: Uint8Array, x0: number, y0: number, length: number, slant: number, value: number, width = 1): void {
  for (let t = 0; t < length; t++) {
    const y = Math.round(y0 + t);
    for (let dx = 0; dx < width; dx++) {
      const x = Math.round(x0 + slant * t) + dx;
      if (y >= 0 && y < S && x >= 0 && x < S) out[y * S + x] = Math.max(out[y * S + x], value);
    }
  }
}

export interface Box {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** The whole 28x28 frame as a box. */
export const FRAME_BOX: Readonly<Box> = { top: 0, bottom: S - 1, left: 0, right: S - 1 };

/** A copy of `img` with a band of `fraction` of `box` blanked (0) from one side: 0 top, 1 bottom, 2 left, 3 right. */
export function blankBand(img: Uint8Array, box: Box, side: number, fraction: number): Uint8Array {
  const out = Uint8Array.from(img);
  const span = side < 2 ? box.bottom - box.top + 1 : box.right - box.left + 1;
  const band = Math.round(span * fraction);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const inBand = side === 0 ? y < box.top + band : side === 1 ? y > box.bottom - band : side === 2 ? x < box.left + band : x > box.right - band;
      if (inBand) out[y * S + x] = 0;
    }
  }
  return out;
}

function cut(img: Uint8Array, fraction: number, rng: () => number): Uint8Array {
  return blankBand(img, garmentBox(img), Math.floor(rng() * 4), fraction);
}

function occlude(img: Uint8Array, size: number, rng: () => number): Uint8Array {
  const out = Uint8Array.from(img);
  const box = garmentBox(img);
  const cx = box.left + rng() * (box.right - box.left);
  const cy = box.top + rng() * (box.bottom - box.top);
  const x0 = Math.min(S - size, Math.max(0, Math.round(cx - size / 2)));
  const y0 = Math.min(S - size, Math.max(0, Math.round(cy - size / 2)));
  for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) out[y * S + x] = 128;
  return out;
}

/**
 * Rain as in imgaug's RainLayer / ImageNet-C's snow, reduced to what 28x28 can show: straight
 * streaks sharing one slant per image, brightness 160-255, drawn with max() (rain adds light).
 * Streak k is the same at every severity, so severity s+1 draws a superset of severity s.
 */
function rain(img: Uint8Array, streaks: number, rng: () => number): Uint8Array {
  const out = Uint8Array.from(img);
  const slant = (rng() * 2 - 1) * 0.4; // dx per row, about +-22 degrees from vertical
  for (let k = 0; k < streaks; k++) {
    const x0 = rng() * S;
    const y0 = rng() * S - 4;
    const length = 4 + Math.floor(rng() * 6);
    const value = 160 + Math.floor(rng() * 96);
    drawStreak(out, x0, y0, length, slant, value);
  }
  return out;
}

/**
 * One filter at one severity (0 = unchanged copy) on one image. `index` is the image's position in
 * the evaluated set; with `seed` it makes the random choices reproducible.
 */
export function applyFilter(filter: FilterName, img: Uint8Array, severity: number, index: number, seed = 0): Uint8Array {
  if (img.length !== IMAGE_PIXELS) throw new Error(`applyFilter: expected ${IMAGE_PIXELS} pixels, got ${img.length}`);
  if (!Number.isInteger(severity) || severity < 0 || severity > 5) throw new Error(`applyFilter: severity must be 0..5, got ${severity}`);
  if (severity === 0) return Uint8Array.from(img);
  const p = FILTER_PARAMS[filter][severity - 1];
  const rng = createRng(filterSeed(filter, index, seed));
  switch (filter) {
    case 'cut': return cut(img, p, rng);
    case 'rotate': return rotateImage(img, rng() < 0.5 ? p : -p);
    case 'occlusion': return occlude(img, p, rng);
    case 'contrast': return scaleContrast(img, p);
    case 'blur': return gaussianBlur(img, p);
    case 'rain': return rain(img, p, rng);
  }
}

/** A whole set of images (count x 784) through one filter; image i is seeded by `firstIndex + i`. */
export function applyFilterToImages(filter: FilterName, images: Uint8Array, severity: number, seed = 0, firstIndex = 0): Uint8Array {
  const count = images.length / IMAGE_PIXELS;
  const out = new Uint8Array(images.length);
  for (let i = 0; i < count; i++) out.set(applyFilter(filter, images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), severity, firstIndex + i, seed), i * IMAGE_PIXELS);
  return out;
}

/** `--filters cut,rotate` (default: all six, in the study's order). */
export function parseFilters(spec: string | undefined): FilterName[] {
  if (spec === undefined || spec.trim() === '') return [...FILTER_NAMES];
  const names = spec.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const out: FilterName[] = [];
  for (const n of names) {
    if (!isFilterName(n)) throw new UserError(`--filters: unknown filter "${n}" (expected ${FILTER_NAMES.join(', ')}, comma-separated)`);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** `--severities 1-5`, `3`, `1,3,5` or `2-4,5` (sorted, unique, each 1..5). */
export function parseSeverities(spec: string | undefined): number[] {
  if (spec === undefined || spec.trim() === '') return [...SEVERITIES];
  const set = new Set<number>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    if (!(lo >= 1 && hi <= 5 && lo <= hi)) throw new UserError(`--severities: expected severities 1..5 like "1-5", "3" or "1,3,5", got "${spec}"`);
    for (let s = lo; s <= hi; s++) set.add(s);
  }
  if (set.size === 0) throw new UserError(`--severities: expected severities 1..5 like "1-5", "3" or "1,3,5", got "${spec}"`);
  return [...set].sort((a, b) => a - b);
}
