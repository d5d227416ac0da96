import { svgDocument } from './axes.ts';
import { FONT_FAMILY, escapeXml } from './render.ts';

export const CONFUSION_CELL = 44;

/** Row-normalised colour (so rare classes are as readable as common ones), raw counts as text. */
export function confusionMatrixSvg(matrix: readonly (readonly number[])[], classNames: readonly string[], title = 'Confusion matrix'): string {
  const n = classNames.length;
  if (matrix.length !== n || matrix.some((row) => row.length !== n)) {
    throw new Error(`confusionMatrixSvg: matrix must be ${n}x${n} for ${n} class names`);
  }
  const cell = CONFUSION_CELL;
  const labelWidth = 12 + 7 * Math.max(...classNames.map((c) => c.length));
  const left = labelWidth + 30;
  const top = 60;
  const gridSize = n * cell;
  const bottom = labelWidth + 40;
  const width = left + gridSize + 20;
  const height = top + gridSize + bottom;
  const parts: string[] = [];
  parts.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  matrix.forEach((row, r) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, c) => {
      // sqrt: the few confusions are what one looks for, so small shares must still show.
      const share = total > 0 ? Math.sqrt(count / total) : 0;
      const x = left + c * cell;
      const y = top + r * cell;
      // White to dark blue; text flips to white on dark cells.
      const shade = Math.round(255 - share * 200);
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${shade},${Math.round(255 - share * 140)},255)" stroke="#ffffff"/>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2}" text-anchor="middle" dominant-baseline="middle" font-size="11" fill="${share > 0.6 ? '#ffffff' : '#222222'}">${count}</text>`);
    });
    parts.push(`<text x="${left - 6}" y="${top + r * cell + cell / 2}" text-anchor="end" dominant-baseline="middle" font-size="12">${escapeXml(classNames[r])}</text>`);
  });
  classNames.forEach((name, c) => {
    const x = left + c * cell + cell / 2;
    const y = top + gridSize + 8;
    parts.push(`<text x="${x}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="12" transform="rotate(-60 ${x} ${y})">${escapeXml(name)}</text>`);
  });
  parts.push(`<text x="${left + gridSize / 2}" y="${height - 10}" text-anchor="middle" font-size="13" font-weight="bold">predicted</text>`);
  const ty = top + gridSize / 2;
  parts.push(`<text x="16" y="${ty}" text-anchor="middle" font-size="13" font-weight="bold" transform="rotate(-90 16 ${ty})">true</text>`);
  return svgDocument(width, height, `<g font-family="${FONT_FAMILY}" fill="#222222">${parts.join('')}</g>`);
}
