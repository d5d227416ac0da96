import { FILTER_DESCRIPTIONS, FILTER_PARAMS } from './filters.ts';
import { SPLIT_NAMES } from '../eval/evaluate.ts';
import type { RobustnessReport } from './run.ts';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const f4 = (x: number) => x.toFixed(4);
/** Drops in percentage points, signed so that an improvement shows as negative. */
const pp = (x: number) => `${x >= 0 ? '' : '-'}${Math.abs(x * 100).toFixed(2)} pp`;

/** The study's table (one row per filter: accuracy, precision, recall, F1, drop) and the per-severity detail. */
export function robustnessMarkdown(r: RobustnessReport): string {
  const sevLabel = r.severities.length === 1 ? `severity ${r.severities[0]}` : `mean over severities ${r.severities.join(', ')}`;
  const lines = [
    `# Robustness of ${r.model}`,
    '',
    `${r.kind} model, ${r.count} ${SPLIT_NAMES[r.split]} images (stratified, seed ${r.seed}); filter rows: ${sevLabel}; precision, recall and F1 are macro averages.`,
    '',
    '| filter | accuracy | precision | recall | F1 | drop |',
    '|---|---:|---:|---:|---:|---:|',
    `| clean | ${pct(r.clean.accuracy)} | ${f4(r.clean.precision)} | ${f4(r.clean.recall)} | ${f4(r.clean.f1)} | |`,
    ...r.summary.map((s) => `| ${s.filter} | ${pct(s.accuracy)} | ${f4(s.precision)} | ${f4(s.recall)} | ${f4(s.f1)} | ${pp(s.drop)} |`),
    '',
    `Mean corruption accuracy: ${pct(r.meanCorruptionAccuracy)} (drop ${pp(r.meanDrop)}). Worst filter: ${r.worstFilter.filter} (${pct(r.worstFilter.accuracy)}, drop ${pp(r.worstFilter.drop)}).`,
    '',
    '## Accuracy by severity',
    '',
    `| filter | ${r.severities.map((s) => `s${s}`).join(' | ')} |`,
    `|---|${r.severities.map(() => '---:').join('|')}|`,
    ...r.filters.map((f) => `| ${f} | ${r.severities.map((s) => {
      const row = r.results.find((x) => x.filter === f && x.severity === s);
      return row ? pct(row.accuracy) : '';
    }).join(' | ')} |`),
    '',
    '## Filter parameters',
    '',
    `| filter | parameter | ${r.severities.map((s) => `s${s}`).join(' | ')} |`,
    `|---|---|${r.severities.map(() => '---:').join('|')}|`,
    ...r.filters.map((f) => `| ${f} | ${FILTER_DESCRIPTIONS[f]} | ${r.severities.map((s) => String(FILTER_PARAMS[f][s - 1])).join(' | ')} |`),
  ];
  if (r.files.length) lines.push('', '![accuracy vs severity](accuracy-vs-severity.png)', '', '![examples](examples.png)');
  return `${lines.join('\n')}\n`;
}

/** The human-readable output of `edgeloom robustness` (without --json). */
export function formatRobustness(r: RobustnessReport): string {
  const w = Math.max(8, ...r.filters.map((f) => f.length));
  const lines = [
    `${r.model} (${r.kind}) on ${r.count} ${SPLIT_NAMES[r.split]} images, severities ${r.severities.join(',')}`,
    `${'filter'.padEnd(w)}  accuracy  precision  recall     F1     drop`,
    `${'clean'.padEnd(w)}  ${pct(r.clean.accuracy).padStart(8)}  ${f4(r.clean.precision).padStart(9)}  ${f4(r.clean.recall).padStart(6)}  ${f4(r.clean.f1).padStart(6)}`,
    ...r.summary.map((s) => `${s.filter.padEnd(w)}  ${pct(s.accuracy).padStart(8)}  ${f4(s.precision).padStart(9)}  ${f4(s.recall).padStart(6)}  ${f4(s.f1).padStart(6)}  ${pp(s.drop).padStart(9)}`),
    `mean corruption accuracy ${pct(r.meanCorruptionAccuracy)} (drop ${pp(r.meanDrop)}); worst filter: ${r.worstFilter.filter} (${pct(r.worstFilter.accuracy)})`,
  ];
  if (r.files.length) lines.push(`wrote ${r.files.join(', ')}`);
  return lines.join('\n');
}
