import { IMAGE_SIZE } from '../../src/classes.ts';
import { svgDocument } from './axes.ts';
import { FONT_FAMILY, escapeXml, pngDataUri, scaledGrayPng, svgToPng } from './render.ts';

export interface GridItem {
  pixels: Uint8Array; // 784
  caption: string;
  captionColor?: string;
  /** A second, smaller line under the caption (e.g. the photo's file name), shortened to fit. */
  note?: string;
}

export interface GridOptions {
  cols: number;
  scale?: number; // default 3
  title?: string;
}

export function imageGridLayout(count: number, opts: GridOptions & { notes?: boolean }): { width: number; height: number; cell: number; cellWidth: number; cellHeight: number; titleHeight: number;
  rows: number } {
  const cell = IMAGE_SIZE * (opts.scale ?? 3);
  const cellWidth = Math.max(cell, 110) + 10;
  const cellHeight = cell + (opts.notes ? 38 : 24);
  const titleHeight = opts.title ? 34 : 6;
  const rows = Math.max(1, Math.ceil(count / opts.cols));
  return { width: opts.cols * cellWidth + 10, height: titleHeight + rows * cellHeight + 6, cell, cellWidth, cellHeight, titleHeight, rows };
}

/** Images in a grid with a caption under each (e.g. misclassified images, "true → predicted"). */
export async function imageGridSvg(items: readonly GridItem[], opts: GridOptions): Promise<string> {
  if (!(opts.cols >= 1)) throw new Error('imageGridSvg: cols must be at least 1');
  const scale = opts.scale ?? 3;
  const L = imageGridLayout(items.length, { ...opts, notes: items.some((i) => i.note) });
  const noteChars = Math.floor((L.cellWidth - 10) / 5.5);
  const parts: string[] = [];
  if (opts.title) parts.push(`<text x="${L.width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold" fill="#222222">${escapeXml(opts.title)}</text>`);
  for (const [i, item] of items.entries()) {
    const x = 10 + (i % opts.cols) * L.cellWidth;
    const y = L.titleHeight + Math.floor(i / opts.cols) * L.cellHeight;
    const png = await scaledGrayPng(item.pixels, IMAGE_SIZE, IMAGE_SIZE, scale);
    const ix = x + (L.cellWidth - 10 - L.cell) / 2;
    parts.push(`<image x="${ix}" y="${y}" width="${L.cell}" height="${L.cell}" href="${pngDataUri(png)}"/>`);
    parts.push(`<text x="${x + (L.cellWidth - 10) / 2}" y="${y + L.cell + 15}" text-anchor="middle" font-size="11" ` +
      `fill="${escapeXml(item.captionColor ?? '#222222')}">${escapeXml(item.caption)}</text>`);
    if (item.note) {
      // Keep the end of a long path: the file name is what tells photos apart.
      const note = item.note.length > noteChars ? `…${item.note.slice(item.note.length - noteChars + 1)}` : item.note;
      parts.push(`<text x="${x + (L.cellWidth - 10) / 2}" y="${y + L.cell + 29}" text-anchor="middle" font-size="9" fill="#555555">${escapeXml(note)}</text>`);
    }
  }
  return svgDocument(L.width, L.height, `<g font-family="${FONT_FAMILY}">${parts.join('')}</g>`);
}

export async function imageGridPng(items: readonly GridItem[], opts: GridOptions): Promise<Buffer> {
  return svgToPng(await imageGridSvg(items, opts));
}
