import { readFile } from 'node:fs/promises';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { ACTIVATIONS, ARCH_SETTING_NAMES, getArchitecture, type ArchSettings } from '../arch/index.ts';
import type { TrainOptions } from './config.ts';

/**
 * A recipe file: the hyper-parameters of one run as JSON, written by `edgeloom search` (its best
 * setting) and read by `edgeloom train --recipe FILE`, where flags given on the command line win.
 */
export type RecipeFile = Pick<TrainOptions,
  'epochs' | 'batchSize' | 'lr' | 'optimizer' | 'momentum' | 'schedule' | 'weightDecay' | 'labelSmoothing' | 'augment'
  | 'limit' | 'valSplit' | 'patience' | 'seed' | 'data' | 'settings'> & {
  arch: string;
  /** Where the recipe came from (e.g. the search and its validation score); not read back. */
  from?: unknown;
};

const NUMBER_KEYS = ['epochs', 'batchSize', 'lr', 'momentum', 'weightDecay', 'labelSmoothing', 'limit', 'valSplit', 'patience', 'seed'] as const;
const STRING_KEYS = ['arch', 'optimizer', 'schedule', 'augment', 'data'] as const;
export const RECIPE_KEYS: readonly string[] = [...NUMBER_KEYS, ...STRING_KEYS, 'settings', 'from'];

/** Checks architecture settings against what `arch` accepts (one line naming the setting on error). */
export function checkArchSettings(archName: string, settings: Record<string, unknown>, origin: string): ArchSettings {
  const arch = getArchitecture(archName);
  const accepted = arch.settings ?? [];
  const out: ArchSettings = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!(ARCH_SETTING_NAMES as readonly string[]).includes(key)) throw new UserError(`${origin}: unknown architecture setting "${key}" (expected ${ARCH_SETTING_NAMES.join(', ')})`);
    if (!(accepted as readonly string[]).includes(key)) {
      throw new UserError(`${origin}: ${arch.name} does not accept the setting "${key}" (it accepts ${accepted.length ? accepted.join(', ') : 'none'})`);
    }
    if (key === 'activation') {
      if (!(ACTIVATIONS as readonly unknown[]).includes(value)) throw new UserError(`${origin}: activation: expected ${ACTIVATIONS.join(' or ')}, got "${String(value)}"`);
      out.activation = value as ArchSettings['activation'];
    } else if (key === 'width') {
      if (!(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 4096)) throw new UserError(`${origin}: width: expected an integer from 1 to 4096, got ${String(value)}`);
      out.width = value as number;
    } else {
      if (!(typeof value === 'number' && value >= 0 && value < 1)) throw new UserError(`${origin}: dropout: expected 0 <= rate < 1, got ${String(value)}`);
      out.dropout = value;
    }
  }
  return out;
}

/** Parses and checks a recipe file's JSON text (pure; `file` names it in errors). */
export function parseRecipeFile(text: string, file: string): RecipeFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`--recipe ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new UserError(`--recipe ${file}: expected a JSON object of hyper-parameters`);
  const r = json as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!RECIPE_KEYS.includes(key)) throw new UserError(`--recipe ${file}: unknown field "${key}" (expected ${RECIPE_KEYS.join(', ')})`);
  for (const key of NUMBER_KEYS) if (r[key] !== undefined && !(typeof r[key] === 'number'
    && Number.isFinite(r[key]))) throw new UserError(`--recipe ${file}: ${key}: expected a number, got ${JSON.stringify(r[key])}`);
  for (const key of STRING_KEYS) if (r[key] !== undefined && typeof r[key] !== 'string') throw new UserError(`--recipe ${file}: ${key}: expected a string, got ${JSON.stringify(r[key])}`);
  if (typeof r.arch !== 'string') throw new UserError(`--recipe ${file}: arch: required (the architecture the recipe trains)`);
  if (r.settings !== undefined && (typeof r.settings !== 'object' || r.settings === null
    || Array.isArray(r.settings))) throw new UserError(`--recipe ${file}: settings: expected an object such as {"activation": "tanh"}`);
  const settings = r.settings ? checkArchSettings(r.arch, r.settings as Record<string, unknown>, `--recipe ${file}: settings`) : undefined;
  return { ...(r as unknown as RecipeFile), ...(settings ? { settings } : {}) };
}

export async function readRecipeFile(file: string): Promise<RecipeFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`--recipe ${file}: not found (a recipe JSON file, e.g. the best-recipe.json of edgeloom search)`);
  }
  return parseRecipeFile(text, file);
}

/** The recipe's values under the options given on the command line (those win). */
export function mergeRecipe<T extends object>(recipe: RecipeFile, opts: T): T & Omit<RecipeFile, 'from'> {
  const { from: _from, ...values } = recipe;
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...values, ...given } as T & Omit<RecipeFile, 'from'>;
}

export async function writeRecipeFile(path: string, recipe: RecipeFile): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(recipe, null, 2)}\n`);
}
