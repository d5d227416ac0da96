import { extent, panelSvg, svgDocument } from './axes.ts';
import { FONT_FAMILY, escapeXml } from './render.ts';

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

export const LEARNING_CURVES_SIZE = { width: 900, height: 380 } as const;

/** Two panels, accuracy and loss per epoch, train solid and validation dashed. */
export function learningCurvesSvg(history: readonly EpochRecord[], title = 'Learning curves'): string {
  const { width, height } = LEARNING_CURVES_SIZE;
  const epochs = history.map((h) => h.epoch);
  const xDomain = extent(epochs);
  const hasVal = history.some((h) => h.valLoss !== undefined || h.valAccuracy !== undefined);
  const pick = (f: (h: EpochRecord) => number | undefined): [number, number][] =>
    history.filter((h) => f(h) !== undefined).map((h) => [h.epoch, f(h) as number]);
  const accSeries = [{ name: 'train', points: pick((h) => h.accuracy) }, ...(hasVal ? [{ name: 'validation', points: pick((h) => h.valAccuracy), dashed: true }] : [])];
  const lossSeries = [{ name: 'train', points: pick((h) => h.loss) }, ...(hasVal ? [{ name: 'validation', points: pick((h) => h.valLoss), dashed: true }] : [])];
  const accValues = accSeries.flatMap((s) => s.points.map((p) => p[1]));
  const [accLo, accHi] = extent(accValues, 0.05);
  const lossValues = lossSeries.flatMap((s) => s.points.map((p) => p[1]));
  const [, lossHi] = extent(lossValues, 0.05);
  const panelWidth = 340;
  const body = [
    `<text x="${width / 2}" y="24" text-anchor="middle" font-family="${FONT_FAMILY}" font-size="16" font-weight="bold" fill="#222222">${escapeXml(title)}</text>`,
    panelSvg({
      x: 80, y: 60, width: panelWidth, height: 250, title: 'Accuracy', xLabel: 'epoch', yLabel: 'accuracy',
      xDomain, yDomain: [Math.max(0, accLo), Math.min(1, Math.max(accHi, accLo + 0.01))], series: accSeries, legend: 'bottom-right',
    }),
    panelSvg({
      x: 80 + panelWidth + 110, y: 60, width: panelWidth, height: 250, title: 'Loss', xLabel: 'epoch', yLabel: 'loss',
      xDomain, yDomain: [0, Math.max(lossHi, 1e-3)], series: lossSeries, legend: 'top-right',
    }),
  ].join('');
  return svgDocument(width, height, body);
}
