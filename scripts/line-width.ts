// `npm run lint` (after `biome lint`): no source line over MAX_LINE_WIDTH characters. Biome's
// linter has no line-length rule and its formatter would rewrite whole files, so this one check
// lives here.
//   node --import tsx scripts/line-width.ts [--max N]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Lines longer than this are hard to read side by side and in review. */
export const MAX_LINE_WIDTH = 200;

/** The folders biome.json lints, with the same file kinds. */
export const CHECKED_DIRS = ['src', 'cli', 'device', 'training', 'dashboard', 'test', 'scripts', 'bin'] as const;
const CHECKED_FILE = /\.(ts|mts|mjs|js)$/;
const SKIPPED_DIR = new Set(['node_modules', 'dist']);

export interface LongLine {
  file: string;
  line: number;
  width: number;
}

/** Lines of `text` wider than `max` (in characters; a tab counts as one). */
export function longLines(file: string, text: string, max: number): LongLine[] {
  const out: LongLine[] = [];
  for (const [i, line] of text.split('\n').entries()) if (line.length > max) out.push({ file, line: i + 1, width: line.length });
  return out;
}

function sourceFiles(root: string, dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(path.join(root, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return SKIPPED_DIR.has(e.name) ? [] : sourceFiles(root, rel);
    return CHECKED_FILE.test(e.name) ? [rel] : [];
  });
}

/** Every over-long line in the checked folders of `root`. */
export function findLongLines(root: string, max = MAX_LINE_WIDTH): LongLine[] {
  return CHECKED_DIRS.flatMap((dir) => sourceFiles(root, dir)).flatMap((f) => longLines(f, readFileSync(path.join(root, f), 'utf8'), max));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { max: { type: 'string' } } });
  const max = values.max === undefined ? MAX_LINE_WIDTH : Number(values.max);
  if (!(Number.isInteger(max) && max > 0)) {
    console.error(`line-width: --max: expected a positive integer, got ${values.max}`);
    process.exit(2);
  }
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const long = findLongLines(root, max);
  for (const l of long) console.error(`${l.file}:${l.line}: ${l.width} characters (at most ${max}): break the line`);
  if (long.length) {
    console.error(`line-width: ${long.length} line(s) over ${max} characters`);
    process.exit(1);
  }
}
