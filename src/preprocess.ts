import sharp from 'sharp';
import { IMAGE_PIXELS, IMAGE_SIZE } from './classes.ts';

/**
 * Turns any camera frame or image file into a 28x28 8-bit Fashion-MNIST-style image (bright garment
 * on black), the same way for training's image-folder reader and for the device. It follows the
 * conversion that produced Fashion-MNIST (Xiao et al. 2017, section 2) and adds what a camera needs
 * on top of product photos: a noisy, unevenly lit table instead of a pure white background. The
 * steps and the reasons are in docs/preprocessing.md.
 */
export interface RegionOfInterest {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface PreprocessOptions {
  /** Crop this region of the decoded frame first. */
  roi?: RegionOfInterest;
  /** Negate the image: 'auto' decides from the background (light table -> negate). */
  invert: 'auto' | 'always' | 'never';
}

export interface PreprocessResult {
  pixels: Uint8Array; // 784 values, 0..255
  inverted: boolean;
  decodeMs: number;
  preprocessMs: number;
}

/** Xiao et al. trim edges "within 5% of the maximum possible intensity" of the corner colour. */
const TRIM_FRACTION = 0.05;
/** Noise of a real table must not survive as speckle: background within this many sigmas -> 0. */
const NOISE_SIGMAS = 3;
/** Frames are shrunk to at most this many pixels on the longest side before any other work. */
export const MAX_WORK_SIZE = 400;
/** Border pixels used to fit the background: enough for a plane, few enough to stay fast. */
const BACKGROUND_SAMPLES = 3000;
const PEAK_PERCENTILE = 0.99;
/** Measured on synthetic camera frames (test/preprocess/synth.ts): 0.5 is closest to the originals. */
const SHARPEN_SIGMA = 0.5;

interface GrayFrame {
  gray: Uint8Array;
  width: number;
  height: number;
}

export async function preprocessImage(input: Uint8Array, opts: Partial<PreprocessOptions> = {}): Promise<PreprocessResult> {
  const invert = opts.invert ?? 'auto';
  const t0 = performance.now();
  const frame = await decodeGray(input, opts.roi);
  const t1 = performance.now();
  let pixels: Uint8Array;
  let inverted: boolean;
  if (frame.width === IMAGE_SIZE && frame.height === IMAGE_SIZE) {
    // Already a Fashion-MNIST image: any trim, resize or stretch would only change it.
    inverted = invert === 'always';
    pixels = inverted ? frame.gray.map((v) => 255 - v) : frame.gray;
  } else {
    ({ pixels, inverted } = await convertPhoto(frame, invert));
  }
  return { pixels, inverted, decodeMs: t1 - t0, preprocessMs: performance.now() - t1 };
}

/** pixel / 255, as the model contract says; `images` are 784-byte images, concatenated. */
export function toModelInput(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i] / 255;
  return out;
}

/**
 * Decodes to 8-bit RGBA (16-bit and palette images included), then to luma, flattening any alpha
 * onto a background that contrasts with the opaque part so a cut-out garment stays visible.
 */
async function decodeGray(input: Uint8Array, roi: RegionOfInterest | undefined): Promise<GrayFrame> {
  if (input.length === 0) throw new Error('cannot decode image: input is empty (0 bytes)');
  let data: Buffer;
  let width: number;
  let height: number;
  try {
    // autoOrient: phone photos store pixels sideways plus an EXIF flag; garments must be upright.
    let img = sharp(input, { failOn: 'error', autoOrient: true });
    if (roi) img = img.extract(roi);
    // The garment ends up 28 pixels tall: more than a few hundred frame pixels only cost time.
    img = img.resize(MAX_WORK_SIZE, MAX_WORK_SIZE, { fit: 'inside', withoutEnlargement: true });
    const out = await img.ensureAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    ({ data } = out);
    ({ width, height } = out.info);
  } catch (err) {
    const reason = String((err as Error).message ?? err).split('\n')[0];
    const where = roi ? ` (roi ${roi.left},${roi.top} ${roi.width}x${roi.height})` : '';
    throw new Error(`cannot decode image${where}: ${reason}`);
  }
  const n = width * height;
  const gray = new Uint8Array(n);
  const alpha = new Uint8Array(n);
  let opaque = true;
  let opaqueSum = 0;
  let opaqueWeight = 0;
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    // ITU-R 601 luma, as PIL's "L" mode that Fashion-MNIST's 8-bit grayscale step used.
    gray[i] = Math.round((299 * data[o] + 587 * data[o + 1] + 114 * data[o + 2]) / 1000);
    alpha[i] = data[o + 3];
    if (alpha[i] !== 255) opaque = false;
    opaqueSum += gray[i] * alpha[i];
    opaqueWeight += alpha[i];
  }
  if (!opaque) {
    const bg = opaqueWeight > 0 && opaqueSum / opaqueWeight < 128 ? 255 : 0;
    for (let i = 0; i < n; i++) gray[i] = Math.round((gray[i] * alpha[i] + bg * (255 - alpha[i])) / 255);
  }
  return { gray, width, height };
}

interface Stats {
  median: number;
  sigma: number;
}

/** Median and a robust sigma (1.4826 * MAD), so a few garment pixels on the border do not matter. */
export function robustStats(values: ArrayLike<number>): Stats {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return { median: 0, sigma: 0 };
  const median = sorted[sorted.length >> 1];
  const dev = sorted.map((v) => Math.abs(v - median)).sort();
  return { median, sigma: 1.4826 * dev[dev.length >> 1] };
}

/** Background brightness as a plane over the frame: a lamp to one side lights a table unevenly. */
export interface BackgroundModel {
  /** Brightness at the frame centre, and its change from the left to the right / top to bottom edge. */
  level: number;
  dx: number;
  dy: number;
  /** Robust noise sigma of the border pixels around the plane. */
  sigma: number;
}

export function backgroundAt(bg: BackgroundModel, x: number, y: number, width: number, height: number): number {
  return bg.level + bg.dx * (x / width - 0.5) + bg.dy * (y / height - 0.5);
}

/**
 * Fits the plane to a band of pixels along the four edges (where the table shows), twice: the second
 * fit leaves out pixels far from the first one, which are a garment touching the border.
 */
export function fitBackground(img: ArrayLike<number>, width: number, height: number): BackgroundModel {
  const band = Math.max(1, Math.round(Math.min(width, height) * 0.03));
  const borderCount = width * height - Math.max(0, width - 2 * band) * Math.max(0, height - 2 * band);
  const stride = Math.max(1, Math.ceil(borderCount / BACKGROUND_SAMPLES));
  const xs: number[] = [];
  const ys: number[] = [];
  const vs: number[] = [];
  let seen = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y < band || y >= height - band;
    for (let x = 0; x < width; x++) {
      if ((edgeRow || x < band || x >= width - band) && seen++ % stride === 0) {
        xs.push(x / width - 0.5);
        ys.push(y / height - 0.5);
        vs.push(img[y * width + x]);
      }
    }
  }
  const start = robustStats(vs);
  let model: BackgroundModel = { level: start.median, dx: 0, dy: 0, sigma: start.sigma };
  for (let round = 0; round < 2; round++) {
    const limit = Math.max(3 * model.sigma, 2);
    const keep: number[] = [];
    for (let i = 0; i < vs.length; i++) {
      if (Math.abs(vs[i] - (model.level + model.dx * xs[i] + model.dy * ys[i])) <= limit) keep.push(i);
    }
    if (keep.length < 3) break;
    const plane = leastSquaresPlane(keep.map((i) => xs[i]), keep.map((i) => ys[i]), keep.map((i) => vs[i]));
    if (!plane) break;
    const residuals = keep.map((i) => vs[i] - (plane[0] + plane[1] * xs[i] + plane[2] * ys[i]));
    model = { level: plane[0], dx: plane[1], dy: plane[2], sigma: robustStats(residuals).sigma };
  }
  return model;
}

/** v = a + b*x + c*y by the normal equations (3x3, Cramer's rule). */
function leastSquaresPlane(xs: number[], ys: number[], vs: number[]): [number, number, number] | null {
  let n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sv = 0, sxv = 0, syv = 0;
  for (let i = 0; i < vs.length; i++) {
    const x = xs[i], y = ys[i], v = vs[i];
    n++; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y; sv += v; sxv += x * v; syv += y * v;
  }
  const det3 = (m: number[]) => m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
  const d = det3([n, sx, sy, sx, sxx, sxy, sy, sxy, syy]);
  if (Math.abs(d) < 1e-9) return null;
  return [
    det3([sv, sx, sy, sxv, sxx, sxy, syv, sxy, syy]) / d,
    det3([n, sv, sy, sx, sxv, sxy, sy, syv, syy]) / d,
    det3([n, sx, sv, sx, sxx, sxv, sy, sxy, syv]) / d,
  ];
}

/** Separable box blur, two passes (close to Gaussian); keeps noise from deciding where edges are. */
export function boxBlur(src: ArrayLike<number>, width: number, height: number, radius: number): Float32Array {
  let a = Float32Array.from(src);
  let b = new Float32Array(a.length);
  for (let pass = 0; pass < 4; pass++) {
    const horizontal = pass % 2 === 0;
    // One line at a time: `step` between neighbours, `lineStep` between lines.
    const len = horizontal ? width : height;
    const lines = horizontal ? height : width;
    const step = horizontal ? 1 : width;
    const lineStep = horizontal ? width : 1;
    for (let l = 0; l < lines; l++) {
      const base = l * lineStep;
      let sum = 0;
      let count = 0;
      for (let k = 0; k <= Math.min(radius, len - 1); k++) { sum += a[base + k * step]; count++; }
      for (let k = 0; k < len; k++) {
        b[base + k * step] = sum / count;
        const add = k + radius + 1;
        const drop = k - radius;
        if (add < len) { sum += a[base + add * step]; count++; }
        if (drop >= 0) { sum -= a[base + drop * step]; count--; }
      }
    }
    [a, b] = [b, a];
  }
  return a;
}

/** Bounding box of the pixels whose blurred contrast to the background exceeds `threshold`. */
function foregroundBox(signal: Float32Array, width: number, height: number, threshold: number): RegionOfInterest | null {
  // A row or column counts only with at least two such pixels: one lone speck is noise, not cloth.
  const rows = new Uint32Array(height);
  const cols = new Uint32Array(width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (signal[y * width + x] > threshold) { rows[y]++; cols[x]++; }
    }
  }
  const first = (c: Uint32Array) => c.findIndex((v) => v >= 2);
  const last = (c: Uint32Array) => c.length - 1 - [...c].reverse().findIndex((v) => v >= 2);
  const top = first(rows);
  const left = first(cols);
  if (top < 0 || left < 0) return null;
  return { left, top, width: last(cols) - left + 1, height: last(rows) - top + 1 };
}

async function convertPhoto(frame: GrayFrame, invert: 'auto' | 'always' | 'never'): Promise<{ pixels: Uint8Array; inverted: boolean }> {
  const { gray, width, height } = frame;
  const radius = Math.max(1, Math.round(Math.min(width, height) / 100));
  const blurred = boxBlur(gray, width, height, radius);
  const bg = fitBackground(gray, width, height);
  const blurSigma = fitBackground(blurred, width, height).sigma;
  // Contrast to the local background, + where the frame is lighter than the table.
  const contrast = new Float32Array(gray.length);
  const bgPlane = new Float32Array(gray.length);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      bgPlane[i] = backgroundAt(bg, x, y, width, height);
      contrast[i] = blurred[i] - bgPlane[i];
    }
  }
  const edgeThreshold = Math.max(TRIM_FRACTION * 255, 5 * blurSigma);
  const inverted = invert === 'always' || (invert === 'auto' && decideInvert(contrast, bg.level, edgeThreshold));
  if (inverted) for (let i = 0; i < contrast.length; i++) contrast[i] = -contrast[i];
  const box = foregroundBox(contrast, width, height, edgeThreshold) ?? { left: 0, top: 0, width, height };

  // The garment's own contrast (not yet blurred) on a zero background; +128 so that sharp sees bytes
  // and negative noise survives the resize unclipped, which keeps the background unbiased.
  const oriented = new Uint8Array(gray.length);
  for (let i = 0; i < gray.length; i++) {
    const c = inverted ? bgPlane[i] - gray[i] : gray[i] - bgPlane[i];
    oriented[i] = Math.max(0, Math.min(255, Math.round(c / 2 + 128)));
  }
  const scale = IMAGE_SIZE / Math.max(box.width, box.height);
  const w = Math.max(1, Math.min(IMAGE_SIZE, Math.round(box.width * scale)));
  const h = Math.max(1, Math.min(IMAGE_SIZE, Math.round(box.height * scale)));
  const resized = await sharp(oriented, { raw: { width, height, channels: 1 } })
    .extract(box)
    .resize(w, h, { fit: 'fill' })
    // Xiao et al. sharpen with sigma 1.0 after shrinking sharp product photos; camera frames are
    // softer and a full-strength sharpen rings at the garment's edges, so the sigma is milder.
    .sharpen({ sigma: SHARPEN_SIGMA })
    .toColourspace('b-w')
    .raw()
    .toBuffer();

  // Background -> 0 and garment stretched to the full 0..255, as product photos on pure white gave.
  // Resizing averaged about (1/scale)^2 frame pixels, so the noise left is smaller by 1/scale.
  const floor = NOISE_SIGMAS * bg.sigma * Math.min(1, scale);
  const values = new Float32Array(w * h);
  for (let i = 0; i < values.length; i++) values[i] = (resized[i] - 128) * 2 - floor;
  const gain = 255 / Math.max(brightLevel(values), 16);
  const pixels = new Uint8Array(IMAGE_PIXELS);
  const left = Math.floor((IMAGE_SIZE - w) / 2);
  const top = Math.floor((IMAGE_SIZE - h) / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      pixels[(top + y) * IMAGE_SIZE + left + x] = Math.max(0, Math.min(255, Math.round(values[y * w + x] * gain)));
    }
  }
  return { pixels, inverted };
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
  for (const c of contrast) {
    if (c < -threshold) darker -= c;
    else if (c > threshold) lighter += c;
  }
  if (darker === 0 && lighter === 0) return background >= 128;
  return darker > lighter;
}
