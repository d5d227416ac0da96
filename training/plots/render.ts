import sharp from 'sharp';
import { extname } from 'node:path';
import { writeFileAtomic } from '../../src/fs-atomic.ts';

/**
 * Plots are hand-written SVG (no charting dependency: a few hundred lines cover learning curves, a
 * confusion matrix, line charts and image grids) rendered to PNG by sharp's librsvg. Text uses
 * DejaVu Sans, which is what librsvg falls back to on the Pi images anyway.
 */
export const FONT_FAMILY = 'DejaVu Sans, sans-serif';

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 }).png().toBuffer();
}

/**
 * Writes `<base>.svg` and `<base>.png` (the path may end in .png or .svg or have no extension), each
 * atomically. Returns both paths.
 */
export async function writePlot(path: string, svg: string): Promise<{ svg: string; png: string }> {
  const ext = extname(path).toLowerCase();
  const base = ext === '.png' || ext === '.svg' ? path.slice(0, -ext.length) : path;
  const out = { svg: `${base}.svg`, png: `${base}.png` };
  const png = await svgToPng(svg);
  await writeFileAtomic(out.svg, svg);
  await writeFileAtomic(out.png, png);
  return out;
}

/** A grayscale image scaled up by an integer factor with hard pixel edges (no smoothing). */
export async function scaledGrayPng(pixels: Uint8Array, width: number, height: number, scale: number): Promise<Buffer> {
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, width * height), { raw: { width, height, channels: 1 } })
    .resize(width * scale, height * scale, { kernel: 'nearest' })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

export function pngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** "Nice" tick values (1, 2, 5 x 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

export function formatTick(v: number): string {
  if (Math.abs(v) >= 1000 || v === 0) return String(Math.round(v * 1000) / 1000);
  return String(Number(v.toPrecision(3)));
}

/** Default series colours (colour-blind safe, Okabe-Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'] as const;
