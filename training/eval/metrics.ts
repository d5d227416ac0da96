/** Classification metrics as a careful paper reports them. Pure functions, so tests can pin them. */

export interface PerClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface AveragedMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  count: number;
  perClass: PerClassMetrics[];
  macro: AveragedMetrics;
  weighted: AveragedMetrics;
  /** confusion[true][predicted] */
  confusion: number[][];
}

export function confusionMatrix(trueLabels: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number): number[][] {
  if (trueLabels.length !== predicted.length) throw new Error(`confusionMatrix: ${trueLabels.length} labels vs ${predicted.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < trueLabels.length; i++) m[trueLabels[i]][predicted[i]]++;
  return m;
}

/** Precision of a class that was never predicted is 0 (as scikit-learn's zero_division=0). */
export function metricsFromConfusion(confusion: number[][], classNames: readonly string[]): ClassificationMetrics {
  const k = confusion.length;
  let correct = 0;
  let total = 0;
  const perClass: PerClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c][j];
      predicted += confusion[j][c];
    }
    correct += tp;
    total += support;
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ label: classNames[c] ?? String(c), precision, recall, f1, support });
  }
  const avg = (weight: (p: PerClassMetrics) => number): AveragedMetrics => {
    const wsum = perClass.reduce((s, p) => s + weight(p), 0) || 1;
    const mean = (f: (p: PerClassMetrics) => number) => perClass.reduce((s, p) => s + f(p) * weight(p), 0) / wsum;
    return { precision: mean((p) => p.precision), recall: mean((p) => p.recall), f1: mean((p) => p.f1), support: total };
  };
  return {
    accuracy: total > 0 ? correct / total : 0,
    count: total,
    perClass,
    macro: avg(() => 1),
    weighted: avg((p) => p.support),
    confusion,
  };
}

export function classificationMetrics(trueLabels: ArrayLike<number>, predicted: ArrayLike<number>, classNames: readonly string[]): ClassificationMetrics {
  return metricsFromConfusion(confusionMatrix(trueLabels, predicted, classNames.length), classNames);
}

/** Index of the largest of each row of `values` (rows of `width`). */
export function argmaxRows(values: ArrayLike<number>, width: number): Int32Array {
  const rows = values.length / width;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c] > values[r * width + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** The classification-report table in Markdown (the layout of scikit-learn's report). */
export function metricsMarkdown(m: ClassificationMetrics): string {
  const f = (x: number) => x.toFixed(4);
  const rows = [
    '| class | precision | recall | f1-score | support |',
    '|---|---:|---:|---:|---:|',
    ...m.perClass.map((p) => `| ${p.label} | ${f(p.precision)} | ${f(p.recall)} | ${f(p.f1)} | ${p.support} |`),
    `| **accuracy** | | | ${f(m.accuracy)} | ${m.count} |`,
    `| macro avg | ${f(m.macro.precision)} | ${f(m.macro.recall)} | ${f(m.macro.f1)} | ${m.macro.support} |`,
    `| weighted avg | ${f(m.weighted.precision)} | ${f(m.weighted.recall)} | ${f(m.weighted.f1)} | ${m.weighted.support} |`,
  ];
  return rows.join('\n');
}
