import { FONT_FAMILY, PALETTE, escapeXml, formatTick, niceTicks } from './render.ts';

/** One panel of a line chart: frame, ticks, axis labels, lines with markers and a legend. */
export interface Panel {
  x: number;
  y: number;
  width: number;
  height: number;
  title?: string;
  xLabel: string;
  yLabel: string;
  xDomain: [number, number];
  yDomain: [number, number];
  series: { name: string; points: [number, number][]; color?: string; dashed?: boolean }[];
  /** Corner for the legend, away from where the lines go (default bottom-right). */
  legend?: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
}

export function panelSvg(p: Panel): string {
  const [x0, x1] = p.xDomain[1] > p.xDomain[0] ? p.xDomain : [p.xDomain[0] - 1, p.xDomain[0] + 1];
  const [y0, y1] = p.yDomain[1] > p.yDomain[0] ? p.yDomain : [p.yDomain[0] - 1, p.yDomain[0] + 1];
  const sx = (v: number) => p.x + ((v - x0) / (x1 - x0)) * p.width;
  const sy = (v: number) => p.y + p.height - ((v - y0) / (y1 - y0)) * p.height;
  const parts: string[] = [];
  parts.push(`<rect x="${p.x}" y="${p.y}" width="${p.width}" height="${p.height}" fill="#ffffff" stroke="#444444"/>`);
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${p.x}" x2="${p.x + p.width}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${p.x - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${formatTick(t)}</text>`);
  }
  const xTicks = niceTicks(x0, x1, Math.min(8, Math.max(2, Math.round(x1 - x0))));
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${p.y + p.height}" y2="${p.y + p.height + 4}" stroke="#444444"/>`);
    parts.push(`<text x="${x}" y="${p.y + p.height + 16}" text-anchor="middle" font-size="11">${formatTick(t)}</text>`);
  }
  parts.push(`<text x="${p.x + p.width / 2}" y="${p.y + p.height + 34}" text-anchor="middle" font-size="12">${escapeXml(p.xLabel)}</text>`);
  const ly = p.y + p.height / 2;
  parts.push(`<text x="${p.x - 44}" y="${ly}" text-anchor="middle" font-size="12" transform="rotate(-90 ${p.x - 44} ${ly})">${escapeXml(p.yLabel)}</text>`);
  if (p.title) parts.push(`<text x="${p.x + p.width / 2}" y="${p.y - 10}" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(p.title)}</text>`);
  p.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    if (pts.length > 1) {
      const d = pts.map(([a, b], k) => `${k === 0 ? 'M' : 'L'}${sx(a).toFixed(1)},${sy(b).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
    for (const [a, b] of pts) parts.push(`<circle cx="${sx(a).toFixed(1)}" cy="${sy(b).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const corner = p.legend ?? 'bottom-right';
    const legendWidth = 32 + 6.5 * Math.max(...p.series.map((q) => q.name.length));
    const lx = corner.endsWith('left') ? p.x + 10 : p.x + p.width - legendWidth;
    const lyi = corner.startsWith('top') ? p.y + 14 + i * 16 : p.y + p.height - 14 - (p.series.length - 1 - i) * 16;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${lyi}" y2="${lyi}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${lx + 24}" y="${lyi}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return `<g font-family="${FONT_FAMILY}" fill="#222222">${parts.join('')}</g>`;
}

export function extent(values: number[], pad = 0): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const margin = (hi - lo) * pad;
  return [lo - margin, hi + margin];
}

export function svgDocument(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="#ffffff"/>${body}</svg>\n`;
}
