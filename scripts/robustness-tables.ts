/**
 * Rewrites the measured tables of docs/robustness.md (between the `robustness-tables` markers) from
 * the shipped models' cards, so the document never disagrees with what was measured:
 *   node --import tsx scripts/robustness-tables.ts [--check]
 * --check exits 1 when the document is out of date instead of writing it.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/fs-atomic.ts';
import { FILTER_NAMES } from '../training/robustness/filters.ts';

interface CardRobustness {
  clean: number;
  severity3: { meanAccuracy: number; worstFilter: { filter: string; accuracy: number }; accuracy: Record<string, number> };
  accuracyBySeverity: Record<string, number[]>;
}

/** Giordano et al.'s CNN (93% clean) under the six filters. */
const STUDY: Record<string, number> = { cut: 0.31, rotate: 0.09, occlusion: 0.5, contrast: 0.84, blur: 0.52, rain: 0.58 };
const STUDY_CLEAN = 0.93;

const root = new URL('../', import.meta.url).pathname;
const DOC = `${root}docs/robustness.md`;
const BEGIN = '<!-- robustness-tables:begin (scripts/robustness-tables.ts writes this part) -->';
const END = '<!-- robustness-tables:end -->';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const studyPct = (x: number) => `${Math.round(x * 100)}%`;

async function robustnessOf(file: string): Promise<CardRobustness> {
  const card = JSON.parse(await readFile(`${root}models/${file.replace(/\.onnx$/, '.json')}`, 'utf8')) as { robustness?: CardRobustness };
  if (!card.robustness?.accuracyBySeverity) throw new Error(`models/${file}: its card has no robustness section (run scripts/model-card.ts)`);
  return card.robustness;
}

/** The side-by-side severity-3 table and the all-severities table (int8 models). Pure. */
export function robustnessTables(models: Array<{ label: string; r: CardRobustness }>, bySeverity: Array<{ label: string; r: CardRobustness }>): string {
  const studyMean = FILTER_NAMES.reduce((s, f) => s + STUDY[f], 0) / FILTER_NAMES.length;
  const studyWorst = FILTER_NAMES.reduce((w, f) => (STUDY[f] < STUDY[w] ? f : w));
  const lines = [
    `| filter (severity 3) | reported by Giordano et al. | ${models.map((m) => m.label).join(' | ')} |`,
    `|---|---:|${models.map(() => '---:|').join('')}`,
    `| clean | ${studyPct(STUDY_CLEAN)} | ${models.map((m) => pct(m.r.clean)).join(' | ')} |`,
    ...FILTER_NAMES.map((f) => `| ${f} | ${studyPct(STUDY[f])} | ${models.map((m) => pct(m.r.severity3.accuracy[f])).join(' | ')} |`),
    `| **mean of the six** | ${(studyMean * 100).toFixed(1)}% | ${models.map((m) => pct(m.r.severity3.meanAccuracy)).join(' | ')} |`,
    `| **worst filter** | ${studyWorst} ${studyPct(STUDY[studyWorst])} | ${models.map((m) => `${m.r.severity3.worstFilter.filter} ${pct(m.r.severity3.worstFilter.accuracy)}`).join(' | ')} |`,
    '',
    'All severities (int8 models):',
    '',
    '| filter | model | 1 | 2 | 3 | 4 | 5 |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const f of FILTER_NAMES) {
    bySeverity.forEach((m, i) => lines.push(`| ${i === 0 ? f : ''} | ${m.label} | ${m.r.accuracyBySeverity[f].map(pct).join(' | ')} |`));
  }
  return lines.join('\n');
}

const { values } = parseArgs({ options: { check: { type: 'boolean' } } });
const [plain, robust, robust8] = await Promise.all(['default.onnx', 'edgenet-robust.onnx', 'edgenet-robust.int8.onnx'].map(robustnessOf));
const tables = robustnessTables(
  [{ label: 'default: `default.onnx` (int8)', r: plain }, { label: '`edgenet-robust.onnx` (fp32)', r: robust }, { label: '`edgenet-robust.int8.onnx`', r: robust8 }],
  [{ label: 'default', r: plain }, { label: 'robust int8', r: robust8 }],
);
const doc = await readFile(DOC, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start < 0 || end < start) throw new Error(`${DOC}: markers ${BEGIN} ... ${END} not found`);
const next = `${doc.slice(0, start + BEGIN.length)}\n\n${tables}\n\n${doc.slice(end)}`;
if (values.check) {
  if (next !== doc) {
    process.stderr.write(`${DOC}: the measured tables differ from the model cards; run node --import tsx scripts/robustness-tables.ts\n`);
    process.exit(1);
  }
} else if (next !== doc) {
  await writeFileAtomic(DOC, next);
  process.stdout.write(`updated ${DOC}\n`);
}
