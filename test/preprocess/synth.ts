import sharp from 'sharp';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { createRng } from '../../src/random.ts';

/**
 * Synthesises a camera-like frame from a Fashion-MNIST image: the garment printed dark-on-light onto
 * a light, unevenly lit, noisy table, off-centre, JPEG-compressed. Reusable by any test that needs
 * "real-looking" frames without a camera (device, robustness, preprocessing).
 */
export interface SynthFrameOptions {
  width?: number; // frame size, default 320x240
  height?: number;
  /** Garment size in frame pixels (the 28x28 image is scaled to this square), default 150. */
  garmentSize?: number;
  /** Garment centre as a fraction of the frame, default off-centre (0.42, 0.55). */
  centerX?: number;
  centerY?: number;
  /** Table brightness (0..255), default 205; left-to-right lighting change, default 20. */
  table?: number;
  gradient?: number;
  /** Colour of the garment's darkest parts, default 35. */
  ink?: number;
  /** Gaussian sensor noise sigma, default 6. */
  noise?: number;
  jpegQuality?: number; // default 80
  seed?: number;
  /** Amplitude of a wood-grain-like texture on the table (wavy stripes), default 0 (plain). */
  texture?: number;
  /** Flat dark or light patches on the table (a stain, a shadow, a tool), drawn under the garment. */
  patches?: { left: number; top: number; width: number; height: number; level: number }[];
}

function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

export async function synthesizeFrame(pixels: Uint8Array, opts: SynthFrameOptions = {}): Promise<Buffer> {
  const width = opts.width ?? 320;
  const height = opts.height ?? 240;
  const size = opts.garmentSize ?? 150;
  const table = opts.table ?? 205;
  const gradient = opts.gradient ?? 20;
  const ink = opts.ink ?? 35;
  const sigma = opts.noise ?? 6;
  const rng = createRng(opts.seed ?? 7);
  const texture = opts.texture ?? 0;
  const patches = opts.patches ?? [];
  const garment = await sharp(Buffer.from(pixels), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } })
    .resize(size, size, { kernel: 'cubic' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const left = Math.round((opts.centerX ?? 0.42) * width - size / 2);
  const top = Math.round((opts.centerY ?? 0.55) * height - size / 2);
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = x - left;
      const gy = y - top;
      const a = gx >= 0 && gy >= 0 && gx < size && gy < size ? garment[gy * size + gx] / 255 : 0;
      const grain = texture === 0 ? 0 : texture * Math.sin(2 * Math.PI * (x / 23 + 0.4 * Math.sin(y / 19)));
      const patch = patches.find((p) => x >= p.left && x < p.left + p.width && y >= p.top && y < p.top + p.height);
      const light = patch ? patch.level : table + gradient * (x / width - 0.5) + grain;
      const v = light * (1 - a) + ink * a + sigma * gaussian(rng);
      const o = (y * width + x) * 3;
      // A slightly warm white balance: real tables are never neutral grey.
      rgb[o] = clamp(v + 6);
      rgb[o + 1] = clamp(v);
      rgb[o + 2] = clamp(v - 8);
    }
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: opts.jpegQuality ?? 80 }).toBuffer();
}

function clamp(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

/**
 * What the preprocessing can at best give back: the original cropped to its visible extent, longest
 * edge scaled to 28 and centred (the camera cannot know how much empty margin the original had).
 */
export async function recentre(pixels: Uint8Array, threshold = 12): Promise<Uint8Array> {
  let x0 = IMAGE_SIZE, y0 = IMAGE_SIZE, x1 = -1, y1 = -1;
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      if (pixels[y * IMAGE_SIZE + x] > threshold) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return pixels.slice();
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = IMAGE_SIZE / Math.max(bw, bh);
  const w = Math.max(1, Math.min(IMAGE_SIZE, Math.round(bw * scale)));
  const h = Math.max(1, Math.min(IMAGE_SIZE, Math.round(bh * scale)));
  const resized = await sharp(Buffer.from(pixels), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } })
    .extract({ left: x0, top: y0, width: bw, height: bh })
    .resize(w, h, { fit: 'fill' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const out = new Uint8Array(IMAGE_PIXELS);
  const left = Math.floor((IMAGE_SIZE - w) / 2);
  const top = Math.floor((IMAGE_SIZE - h) / 2);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(top + y) * IMAGE_SIZE + left + x] = resized[y * w + x];
  return out;
}

export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}
