import { IMAGE_SIZE } from '../../src/classes.ts';
import { inverseAffine, warpImage } from '../data/warp.ts';
import { blankBand, clampByte, drawStreak, FRAME_BOX, garmentBox, gaussianBlur, scaleContrast, separableBlur } from './filters.ts';

/**
 * Training-time corruptions for `--augment robust`. They cover the six filters of the robustness
 * test plus noise, but deliberately NOT as the test's own code: every parameter is drawn from a
 * continuous range reaching past severity 3, and each kind comes in several variants (box as well
 * as Gaussian blur, cuts relative to the garment or to the frame, occluders of any grey level or of
 * noise, contrast about the mean, mid-grey or black...). A model that only learnt our filters'
 * exact artefacts would fail the independent implementations it will also be tried with.
 *
 * All functions are pure over a 28x28 Uint8Array (garment bright on black) and a random source.
 */
export const CORRUPTION_KINDS = ['cut', 'rotate', 'occlusion', 'contrast', 'blur', 'rain', 'noise'] as const;
export type CorruptionKind = (typeof CORRUPTION_KINDS)[number];

/**
 * How often each kind is drawn. Rotation and blur destroy the most information (the untrained model
 * falls to 14% and 21% on them at severity 3), so they get more of the corrupted share.
 */
export const CORRUPTION_WEIGHTS: Readonly<Record<CorruptionKind, number>> = {
  cut: 1.5, rotate: 2, occlusion: 1.25, contrast: 1, blur: 2, rain: 1, noise: 0.75,
};

/** Upper ends of the parameter ranges at full strength (severity 3 of the test is inside each). */
export const CORRUPTION_LIMITS = {
  cutFraction: 0.5,
  rotateDegrees: 60,
  occlusionSide: 18,
  contrastFloor: 0.15,
  blurSigma: 4,
  rainStreaks: 40,
  noiseSigma: 0.12,
} as const;

const S = IMAGE_SIZE;

function uniform(rng: () => number, lo: number, hi: number): number {
  return lo + rng() * (hi - lo);
}

function cut(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const fraction = uniform(rng, 0.05, 0.05 + (CORRUPTION_LIMITS.cutFraction - 0.05) * strength);
  const box = rng() < 0.7 ? garmentBox(img) : FRAME_BOX;
  return blankBand(img, box, Math.floor(rng() * 4), fraction);
}

function rotate(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const degrees = uniform(rng, -1, 1) * CORRUPTION_LIMITS.rotateDegrees * strength;
  const zoom = rng() < 0.3 ? uniform(rng, 0.85, 1.1) : 1;
  const warped = warpImage(Float32Array.from(img), inverseAffine((degrees * Math.PI) / 180, 0, zoom, 0, 0));
  return Uint8Array.from(warped, clampByte);
}

function occlude(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const out = Uint8Array.from(img);
  const maxSide = 4 + (CORRUPTION_LIMITS.occlusionSide - 4) * strength;
  const w = Math.round(uniform(rng, 4, maxSide));
  const h = rng() < 0.5 ? w : Math.round(uniform(rng, 4, maxSide));
  const box = garmentBox(img);
  const cx = uniform(rng, box.left, box.right);
  const cy = uniform(rng, box.top, box.bottom);
  const x0 = Math.min(S - w, Math.max(0, Math.round(cx - w / 2)));
  const y0 = Math.min(S - h, Math.max(0, Math.round(cy - h / 2)));
  const mode = rng();
  const grey = Math.floor(rng() * 256);
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) out[y * S + x] = mode < 0.75 ? grey : Math.floor(rng() * 256);
  }
  return out;
}

function contrast(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const c = uniform(rng, 1 - (1 - CORRUPTION_LIMITS.contrastFloor) * strength, 1);
  const pick = rng();
  // Centre: the image mean (ImageNet-C's definition), mid-grey, or black (a plain dimming).
  return pick < 0.6 ? scaleContrast(img, c) : scaleContrast(img, c, pick < 0.8 ? 127.5 : 0);
}

function boxBlur(img: Uint8Array, radius: number): Uint8Array {
  return separableBlur(img, new Float64Array(2 * radius + 1).fill(1 / (2 * radius + 1)));
}

function blur(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const sigma = uniform(rng, 0.3, 0.3 + (CORRUPTION_LIMITS.blurSigma - 0.3) * strength);
  // A box of radius r has the variance of a Gaussian of sigma sqrt(r(r+1)/3).
  return rng() < 0.7 ? gaussianBlur(img, sigma) : boxBlur(img, Math.max(1, Math.round(sigma * 1.5)));
}

function rain(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const out = Uint8Array.from(img);
  const streaks = Math.round(uniform(rng, 1, 1 + (CORRUPTION_LIMITS.rainStreaks - 1) * strength));
  const slant = uniform(rng, -0.5, 0.5);
  const width = rng() < 0.8 ? 1 : 2;
  for (let k = 0; k < streaks; k++) {
    const x0 = rng() * S;
    const y0 = rng() * S - 4;
    const length = 3 + Math.floor(rng() * 8);
    const value = 120 + Math.floor(rng() * 136);
    drawStreak(out, x0, y0, length, slant, value, width);
  }
  return out;
}

function noise(img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  const sigma = uniform(rng, 0.01, CORRUPTION_LIMITS.noiseSigma * strength + 0.01) * 255;
  return Uint8Array.from(img, (v) => {
    // Box-Muller; 1 - rng() keeps the log finite.
    const g = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    return clampByte(v + g * sigma);
  });
}

const CORRUPT: Record<CorruptionKind, (img: Uint8Array, strength: number, rng: () => number) => Uint8Array> = {
  cut, rotate, occlusion: occlude, contrast, blur, rain, noise,
};

/** One corruption of the given kind at `strength` in (0, 1] (a fresh array; `img` is not modified). */
export function corruptImage(kind: CorruptionKind, img: Uint8Array, strength: number, rng: () => number): Uint8Array {
  return CORRUPT[kind](img, Math.min(1, Math.max(0, strength)), rng);
}

/** Draws a kind with CORRUPTION_WEIGHTS. */
export function pickCorruption(rng: () => number): CorruptionKind {
  const total = CORRUPTION_KINDS.reduce((s, k) => s + CORRUPTION_WEIGHTS[k], 0);
  let r = rng() * total;
  for (const k of CORRUPTION_KINDS) {
    r -= CORRUPTION_WEIGHTS[k];
    if (r < 0) return k;
  }
  return CORRUPTION_KINDS[CORRUPTION_KINDS.length - 1];
}

/**
 * The robust schedule: the strength ceiling ramps from 0.4 to 1 over the first quarter of training
 * (so the model first learns the garments, then the hard cases), and only a share `probability` of
 * the samples is ever corrupted: the rest stay clean, which is what keeps clean accuracy.
 */
export function corruptionStrength(progress: number): number {
  return Math.min(1, 0.4 + (0.6 * Math.max(0, progress)) / 0.25);
}

/** A random corruption for one training image (a fresh array), or `img` itself with probability 1 - `probability`. */
export function randomCorruption(img: Uint8Array, probability: number, progress: number, rng: () => number): Uint8Array {
  if (!(rng() < probability)) return img;
  return corruptImage(pickCorruption(rng), img, corruptionStrength(progress), rng);
}
