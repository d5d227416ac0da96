import { svgDocument } from './axes.ts';
import { FONT_FAMILY, escapeXml, pngDataUri, scaledGrayPng, svgToPng } from './render.ts';

/** One grayscale tile of any size (a 3x3 filter, a 7x7 feature map, a 28x28 image). */
export interface Tile {
  pixels: Uint8Array;
  width: number;
  height: number;
  caption?: string;
}

export interface TileGridOptions {
  cols: number;
  /** Integer pixel scale (hard edges); default: about 64 px per tile. */
  scale?: number;
  title?: string;
}

export const TILE_TARGET_PIXELS = 64;

/** Integer scale that shows a `size`-pixel tile at about TILE_TARGET_PIXELS. */
export function tileScale(size: number): number {
  return Math.max(1, Math.round(TILE_TARGET_PIXELS / Math.max(1, size)));
}

export function tileGridLayout(tiles: readonly Tile[], opts: TileGridOptions): { width: number; height: number; cellWidth: number; cellHeight: number; scale: number; titleHeight: number } {
  const maxW = Math.max(1, ...tiles.map((t) => t.width));
  const maxH = Math.max(1, ...tiles.map((t) => t.height));
  const scale = opts.scale ?? tileScale(Math.max(maxW, maxH));
  const captions = tiles.some((t) => t.caption);
  const cellWidth = Math.max(maxW * scale, captions ? 60 : 0) + 6;
  const cellHeight = maxH * scale + (captions ? 18 : 6);
  const titleHeight = opts.title ? 32 : 6;
  const rows = Math.max(1, Math.ceil(tiles.length / opts.cols));
  return { width: Math.max(opts.cols * cellWidth + 10, opts.title ? Math.ceil(9 * opts.title.length) + 20 : 0), height: titleHeight + rows * cellHeight + 6, cellWidth, cellHeight,
    scale, titleHeight };
}

/** Tiles in rows of `cols`, each scaled up with hard pixel edges, with an optional caption under each. */
export async function tileGridSvg(tiles: readonly Tile[], opts: TileGridOptions): Promise<string> {
  if (!(opts.cols >= 1)) throw new Error('tileGridSvg: cols must be at least 1');
  const L = tileGridLayout(tiles, opts);
  const parts: string[] = [];
  if (opts.title) parts.push(`<text x="${L.width / 2}" y="21" text-anchor="middle" font-size="14" font-weight="bold" fill="#222222">${escapeXml(opts.title)}</text>`);
  for (const [i, t] of tiles.entries()) {
    const x = 8 + (i % opts.cols) * L.cellWidth;
    const y = L.titleHeight + Math.floor(i / opts.cols) * L.cellHeight;
    const w = t.width * L.scale;
    const h = t.height * L.scale;
    const png = await scaledGrayPng(t.pixels, t.width, t.height, L.scale);
    parts.push(`<image x="${x + (L.cellWidth - 6 - w) / 2}" y="${y}" width="${w}" height="${h}" href="${pngDataUri(png)}"/>`);
    if (t.caption) parts.push(`<text x="${x + (L.cellWidth - 6) / 2}" y="${y + h + 12}" text-anchor="middle" font-size="10" fill="#222222">${escapeXml(t.caption)}</text>`);
  }
  return svgDocument(L.width, L.height, `<g font-family="${FONT_FAMILY}">${parts.join('')}</g>`);
}

export async function tileGridPng(tiles: readonly Tile[], opts: TileGridOptions): Promise<Buffer> {
  return svgToPng(await tileGridSvg(tiles, opts));
}
