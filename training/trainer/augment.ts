import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { createRng } from '../../src/random.ts';
import { inverseAffine, warpImage } from '../data/warp.ts';

/**
 * On-the-fly augmentation of 28x28 float images (values 0..1, background 0), as pure functions of
 * the image and a random source, so tests can pin them and a seed reproduces a run.
 */
export interface AugmentConfig {
  /** Maximum rotation, degrees (uniform in [-r, r]). */
  rotation: number;
  /** Maximum shift as a fraction of width / height. */
  widthShift: number;
  heightShift: number;
  /** Maximum shear angle, radians (Keras ImageDataGenerator's shear_range in its older meaning). */
  shear: number;
  /** Zoom factor drawn from [1 - zoom, 1 + zoom]. */
  zoom: number;
  /** Probability of a horizontal flip. */
  hflip: number;
  /** Probability of random erasing (Zhong et al. 2020): one rectangle of noise, 2-33% of the area. */
  erase: number;
  /**
   * Probability that a sample gets one random corruption (cut, rotation, occlusion, contrast, blur,
   * rain or noise; training/robustness/corrupt.ts), applied before the geometric augmentation.
   */
  corruption: number;
}

export const NO_AUGMENT: AugmentConfig = { rotation: 0, widthShift: 0, heightShift: 0, shear: 0, zoom: 0, hflip: 0, erase: 0, corruption: 0 };

/** Presets for `--augment`; several may be joined with commas ("safaei,flip"). */
export const AUGMENT_PRESETS: Readonly<Record<string, Partial<AugmentConfig>>> = {
  none: {},
  // Safaei's ImageDataGenerator set: small rotations, shifts, shear and zoom.
  safaei: { rotation: 10, widthShift: 0.1, heightShift: 0.1, shear: 0.1, zoom: 0.1 },
  shift: { widthShift: 0.1, heightShift: 0.1 },
  flip: { hflip: 0.5 },
  erase: { erase: 0.5 },
  // What edgenet's recipe uses: light geometry, flips and erasing.
  standard: { widthShift: 0.08, heightShift: 0.08, hflip: 0.5, erase: 0.3 },
  // Robust training: half the samples corrupted (see training/robustness/corrupt.ts), plus light
  // shifts and flips on all of them.
  robust: { widthShift: 0.08, heightShift: 0.08, hflip: 0.5, corruption: 0.5 },
};

/** Valid range of each setting when given as `name=value` in `--augment`. */
const SETTING_RANGES: Readonly<Record<keyof AugmentConfig, [number, number]>> = {
  rotation: [0, 180], widthShift: [0, 1], heightShift: [0, 1], shear: [0, 1.5], zoom: [0, 0.9], hflip: [0, 1], erase: [0, 1], corruption: [0, 1],
};

/**
 * `--augment` spec: presets joined with commas take the larger value of each setting; a
 * `setting=value` item (e.g. `robust,corruption=0.3`, `safaei,rotation=20`) then sets one
 * setting exactly, applied after every preset whatever its place in the list.
 */
export function parseAugment(spec: string | undefined): AugmentConfig {
  const cfg: AugmentConfig = { ...NO_AUGMENT };
  const parts = (spec ?? 'none').split(',').map((s) => s.trim()).filter(Boolean);
  const overrides: [keyof AugmentConfig, number][] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq >= 0) {
      const key = part.slice(0, eq).trim() as keyof AugmentConfig;
      const value = Number(part.slice(eq + 1));
      const range = SETTING_RANGES[key];
      if (!range) throw new UserError(`--augment: unknown setting "${key}" in "${part}" (expected one of ${Object.keys(SETTING_RANGES).join(', ')})`);
      if (!(Number.isFinite(value) && value >= range[0] && value <= range[1])) throw new UserError(`--augment: ${key} must be a number from ${range[0]} to ${range[1]}, got "${part.slice(eq + 1)}"`);
      overrides.push([key, value]);
      continue;
    }
    const preset = AUGMENT_PRESETS[part];
    if (!preset) throw new UserError(`--augment: unknown preset "${part}" (expected ${Object.keys(AUGMENT_PRESETS).join(', ')}, comma-separated)`);
    for (const [k, v] of Object.entries(preset) as [keyof AugmentConfig, number][]) cfg[k] = Math.max(cfg[k], v);
  }
  for (const [k, v] of overrides) cfg[k] = v;
  return cfg;
}

export function isIdentity(cfg: AugmentConfig): boolean {
  return Object.values(cfg).every((v) => v === 0);
}

export function flipHorizontal(src: Float32Array, dst = new Float32Array(IMAGE_PIXELS)): Float32Array {
  const n = IMAGE_SIZE;
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) dst[y * n + x] = src[y * n + (n - 1 - x)];
  return dst;
}

/** Fills one random rectangle (2-33% of the area, aspect 0.3-3.3) with uniform noise, in place. */
export function eraseRandom(img: Float32Array, rng: () => number): Float32Array {
  const n = IMAGE_SIZE;
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = n * n * (0.02 + rng() * 0.31);
    const aspect = Math.exp(Math.log(0.3) + rng() * (Math.log(3.3) - Math.log(0.3)));
    const h = Math.round(Math.sqrt(area * aspect));
    const w = Math.round(Math.sqrt(area / aspect));
    if (h < 1 || w < 1 || h >= n || w >= n) continue;
    const top = Math.floor(rng() * (n - h + 1));
    const left = Math.floor(rng() * (n - w + 1));
    for (let y = top; y < top + h; y++) for (let x = left; x < left + w; x++) img[y * n + x] = rng();
    return img;
  }
  return img;
}

/** Augments one image (a fresh array; `src` is not modified). */
export function augmentImage(src: Float32Array, cfg: AugmentConfig, rng: () => number): Float32Array {
  let img = src;
  const u = () => rng() * 2 - 1;
  if (cfg.rotation || cfg.widthShift || cfg.heightShift || cfg.shear || cfg.zoom) {
    const theta = (u() * cfg.rotation * Math.PI) / 180;
    const shear = u() * cfg.shear;
    const zoom = 1 + u() * cfg.zoom;
    const tx = u() * cfg.widthShift * IMAGE_SIZE;
    const ty = u() * cfg.heightShift * IMAGE_SIZE;
    img = warpImage(img, inverseAffine(theta, shear, zoom, tx, ty));
  }
  if (cfg.hflip && rng() < cfg.hflip) img = flipHorizontal(img);
  if (cfg.erase && rng() < cfg.erase) img = eraseRandom(img === src ? Float32Array.from(src) : img, rng);
  return img === src ? Float32Array.from(src) : img;
}

/** Corrupts one 28x28 byte image (returns it unchanged or a fresh array). */
export type Corrupter = (img: Uint8Array, rng: () => number) => Uint8Array;

/**
 * Builds the model input for a batch: images `indices` of `images` (784 bytes each) as pixel/255,
 * augmented when `cfg` is given; `corrupt` (for cfg.corruption > 0) runs first, on the bytes.
 * With `clean`, it also writes there the same images with the same augmentation but no corruption
 * (what a distillation teacher sees); each image's augmentation then draws from its own stream,
 * seeded from `rng`, so both views get identical flips, shifts and erasures.
 */
export function batchPixels(images: Uint8Array, indices: ArrayLike<number>, cfg: AugmentConfig | null, rng: () => number, corrupt?: Corrupter, clean?: Float32Array): Float32Array {
  const out = new Float32Array(indices.length * IMAGE_PIXELS);
  const augment = cfg && !isIdentity(cfg) ? cfg : null;
  const tmp = new Float32Array(IMAGE_PIXELS);
  // pixel/255, then augmented; the result is copied out before `tmp` is reused.
  const view = (bytes: Uint8Array, r: () => number) => {
    for (let p = 0; p < IMAGE_PIXELS; p++) tmp[p] = bytes[p] / 255;
    return augment ? augmentImage(tmp, augment, r) : tmp;
  };
  for (let i = 0; i < indices.length; i++) {
    const off = indices[i] * IMAGE_PIXELS;
    const original = images.subarray(off, off + IMAGE_PIXELS);
    const bytes = corrupt ? corrupt(original, rng) : original;
    if (!clean) {
      out.set(view(bytes, rng), i * IMAGE_PIXELS);
      continue;
    }
    const seed = Math.floor(rng() * 0x100000000);
    out.set(view(bytes, createRng(seed)), i * IMAGE_PIXELS);
    clean.set(view(original, createRng(seed)), i * IMAGE_PIXELS);
  }
  return out;
}
