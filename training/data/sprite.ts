import sharp from 'sharp';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { createRng, shuffleInPlace } from '../../src/random.ts';
import { svgDocument } from '../plots/axes.ts';
import { FONT_FAMILY, escapeXml, pngDataUri, svgToPng } from '../plots/render.ts';
import { imageAt, type ImageSet } from './dataset.ts';
import { loadDataset, type DataOptions } from './load.ts';

export interface SpriteOptions extends Omit<DataOptions, 'seed'> {
  out: string;
  split?: string;
  perClass?: string | number;
  scale?: string | number;
  /** Which samples to draw (the CLI passes it as a string). */
  seed?: string | number;
}

export interface SpriteResult {
  out: string;
  width: number;
  height: number;
  rows: number;
}

export const SPRITE_MARGIN = 10;
export const SPRITE_GAP = 2;

export function spriteLayout(rows: number, perClass: number, scale: number, classNames: readonly string[]) {
  const cell = IMAGE_SIZE * scale;
  const fontSize = Math.max(11, Math.min(18, Math.round(cell * 0.3)));
  const labelWidth = Math.ceil(16 + fontSize * 0.62 * Math.max(...classNames.map((c) => c.length)));
  const rowHeight = cell + SPRITE_GAP;
  return {
    cell,
    fontSize,
    labelWidth,
    rowHeight,
    width: 2 * SPRITE_MARGIN + labelWidth + perClass * (cell + SPRITE_GAP) - SPRITE_GAP,
    height: 2 * SPRITE_MARGIN + rows * rowHeight,
  };
}

function positiveInt(name: string, value: string | number | undefined, fallback: number, max: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UserError(`${name}: expected an integer in 1..${max}, got "${value}"`);
  return n;
}

/** `perClass` seeded random picks per class, in class order. */
export function pickPerClass(set: ImageSet, perClass: number, seed: number): number[][] {
  const rng = createRng(seed);
  const byClass: number[][] = set.classNames.map(() => []);
  for (let i = 0; i < set.count; i++) byClass[set.labels[i]].push(i);
  return byClass.map((members) => {
    shuffleInPlace(members, rng);
    return members.slice(0, perClass);
  });
}

/** The sprite as SVG: class names on the left, one row of images per class (one embedded PNG). */
export async function spriteSvg(set: ImageSet, perClass: number, scale: number, seed: number): Promise<{ svg: string; width: number; height: number; rows: number }> {
  const picks = pickPerClass(set, perClass, seed);
  const rows = picks.length;
  const L = spriteLayout(rows, perClass, scale, set.classNames);
  const gridWidth = perClass * (L.cell + SPRITE_GAP) - SPRITE_GAP;
  const gridHeight = rows * L.rowHeight;
  // Nearest-neighbour scaling by hand: every Fashion-MNIST pixel stays a crisp square.
  const grid = new Uint8Array(gridWidth * gridHeight).fill(255);
  picks.forEach((members, r) => {
    members.forEach((index, k) => {
      const img = imageAt(set, index);
      const x0 = k * (L.cell + SPRITE_GAP);
      const y0 = r * L.rowHeight;
      for (let y = 0; y < L.cell; y++) {
        const src = Math.floor(y / scale) * IMAGE_SIZE;
        const dst = (y0 + y) * gridWidth + x0;
        for (let x = 0; x < L.cell; x++) grid[dst + x] = img[src + Math.floor(x / scale)];
      }
    });
  });
  const png = await sharp(Buffer.from(grid.buffer, 0, grid.length), { raw: { width: gridWidth, height: gridHeight, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const gx = SPRITE_MARGIN + L.labelWidth;
  const labels = set.classNames.map((name, r) => {
    const y = SPRITE_MARGIN + r * L.rowHeight + L.cell / 2;
    return `<text x="${SPRITE_MARGIN + L.labelWidth - 12}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="${L.fontSize}">${escapeXml(`${r} ${name}`)}</text>`;
  });
  const body = `<g font-family="${FONT_FAMILY}" fill="#222222">${labels.join('')}</g><image x="${gx}" y="${SPRITE_MARGIN}" width="${gridWidth}" height="${gridHeight}" href="${pngDataUri(png)}"/>`;
  return { svg: svgDocument(L.width, L.height, body), width: L.width, height: L.height, rows };
}

export async function writeSprite(opts: SpriteOptions): Promise<SpriteResult> {
  const split = opts.split ?? 'test';
  if (split !== 'train' && split !== 'test') throw new UserError(`--split: expected train or test, got "${split}"`);
  const perClass = positiveInt('--per-class', opts.perClass, 10, 200);
  const scale = positiveInt('--scale', opts.scale, 3, 32);
  const seed = opts.seed === undefined ? 1 : Number(opts.seed);
  if (!Number.isInteger(seed)) throw new UserError(`--seed: expected an integer, got "${opts.seed}"`);
  const log = createLogger('data');
  const ds = await loadDataset({ data: opts.data, dataDir: opts.dataDir, onProgress: opts.onProgress ?? ((m) => log.info(m)) });
  const set = ds[split];
  if (set.images.length !== set.count * IMAGE_PIXELS) throw new Error('sprite: inconsistent image set');
  const { svg, width, height, rows } = await spriteSvg(set, perClass, scale, seed);
  await writeFileAtomic(opts.out, await svgToPng(svg));
  return { out: opts.out, width, height, rows };
}
