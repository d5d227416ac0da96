import { extent, panelSvg, svgDocument } from './axes.ts';

export interface LineSeries {
  name: string;
  points: [number, number][];
  dashed?: boolean;
}

export interface LineChartOptions {
  title?: string;
  xLabel: string;
  yLabel: string;
  yMin?: number;
  yMax?: number;
  legend?: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
}

export const LINE_CHART_SIZE = { width: 640, height: 420 } as const;

/** One panel, one line per series (e.g. accuracy against corruption severity, one line per model). */
export function lineChartSvg(series: readonly LineSeries[], opts: LineChartOptions): string {
  const { width, height } = LINE_CHART_SIZE;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [yLo, yHi] = extent(ys, 0.05);
  const body = panelSvg({
    x: 80, y: 50, width: width - 110, height: height - 110, title: opts.title, xLabel: opts.xLabel, yLabel: opts.yLabel,
    xDomain: extent(xs), yDomain: [opts.yMin ?? yLo, opts.yMax ?? yHi], series: series.map((s) => ({ ...s })), legend: opts.legend ?? 'bottom-left',
  });
  return svgDocument(width, height, body);
}
