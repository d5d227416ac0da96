import { join } from 'node:path';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { lineChartSvg } from '../plots/line-chart.ts';
import { writePlot } from '../plots/render.ts';
import { writeRecipeFile } from '../trainer/recipe-file.ts';
import type { SearchResult } from './search.ts';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function settingNames(r: SearchResult): string[] {
  return [...new Set(r.trials.flatMap((t) => Object.keys(t.settings)))];
}

function protocolText(r: SearchResult): string {
  return r.protocol.kind === 'val-split' ? `one stratified validation split (${r.protocol.valSplit} of the training images)` : `${r.protocol.folds}-fold stratified cross-validation`;
}

/** Validation accuracy of every trial, best first (error bars would be the fold std: see the table). */
export function searchPlotSvg(r: SearchResult): string {
  return lineChartSvg([{ name: 'validation accuracy', points: r.trials.map((t, i) => [i + 1, t.score.mean]) }], {
    title: `${r.arch}: ${r.trials.length} trials, best first`, xLabel: 'rank', yLabel: 'validation accuracy', legend: 'top-right',
  });
}

/** One row per trial, best first, with a column per setting: opens sorted, sorts in any spreadsheet. */
export function searchCsv(r: SearchResult): string {
  const names = settingNames(r);
  const rows = r.trials.map((t) => [t.trial, ...names.map((n) => t.settings[n] ?? ''), t.score.mean.toFixed(6), t.score.std.toFixed(6), t.seconds.toFixed(1)].join(','));
  return `${['trial', ...names, 'val_accuracy', 'val_std', 'seconds'].join(',')}\n${rows.join('\n')}\n`;
}

export function searchMarkdown(r: SearchResult): string {
  const names = settingNames(r);
  const c = r.base;
  return [
    `# ${r.arch}: search over ${names.join(', ')}`,
    '',
    `Grid: \`${r.grid}\`; ${r.trials.length} trial(s), each scored on ${protocolText(r)} of ${r.data.source}. The test split is never used.`,
    `Other settings: ${c.optimizer}, lr ${c.lr}, batch ${c.batchSize}, ${c.epochs} epochs, schedule ${c.schedule}, augment ${c.augment}, ` +
      `seed ${c.seed}${c.limit ? `, limit ${c.limit}` : ''} (unless the grid sets them).`,
    '',
    `| rank | trial | ${names.join(' | ')} | validation accuracy | ± std | seconds |`,
    `|---:|---:|${names.map(() => '---|').join('')}---:|---:|---:|`,
    ...r.trials.map((t,
      i) => `| ${i + 1} | ${t.trial} | ${names.map((n) => String(t.settings[n] ?? '')).join(' | ')} | ` +
        `${i === 0 ? `**${pct(t.score.mean)}**` : pct(t.score.mean)} | ${(t.score.std * 100).toFixed(2)} | ${t.seconds.toFixed(1)} |`),
    '',
    '![validation accuracy by trial](search.png)',
    '',
    `Best recipe: \`best-recipe.json\`; \`edgeloom train --recipe ${join(r.out, 'best-recipe.json')} --out runs/${r.arch}-tuned\` repeats it` +
      `${r.protocol.kind === 'val-split' ? ' (with the same validation split, so its validation accuracy is the search\'s)' : ''}.`,
    '',
  ].join('\n');
}

export async function writeSearchReport(r: SearchResult): Promise<string[]> {
  const files = ['search.json', 'search.csv', 'report.md', 'search.png', 'search.svg', 'best-recipe.json'];
  await writePlot(join(r.out, 'search.png'), searchPlotSvg(r));
  await writeFileAtomic(join(r.out, 'search.csv'), searchCsv(r));
  await writeFileAtomic(join(r.out, 'report.md'), searchMarkdown(r));
  if (r.recipe) await writeRecipeFile(join(r.out, 'best-recipe.json'), r.recipe);
  await writeFileAtomic(join(r.out, 'search.json'), `${JSON.stringify({ ...r, files }, null, 2)}\n`);
  return files;
}

export function formatSearch(r: SearchResult): string {
  const names = settingNames(r);
  const w = names.map((n) => Math.max(n.length, ...r.trials.map((t) => String(t.settings[n] ?? '').length)));
  const lines = [
    `${r.arch}: ${r.trials.length} trial(s) scored on ${protocolText(r)}, best first`,
    `${names.map((n, i) => n.padEnd(w[i])).join('  ')}  val accuracy`,
    ...r.trials.map((t) => `${names.map((n, i) => String(t.settings[n] ?? '').padEnd(w[i])).join('  ')}  ${pct(t.score.mean)}${t.scores.length > 1 ? ` ± ${(t.score.std * 100).toFixed(2)}` : ''}`),
  ];
  if (r.files.length) lines.push(`wrote ${r.out}: ${r.files.join(', ')}`, `repeat the best: edgeloom train --recipe ${join(r.out, 'best-recipe.json')}`);
  return lines.join('\n');
}
