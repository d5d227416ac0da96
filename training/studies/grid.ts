import { UserError } from '../../src/errors.ts';
import { createRng, shuffleInPlace } from '../../src/random.ts';
import { ACTIVATIONS } from '../arch/index.ts';
import { OPTIMIZERS } from '../trainer/optim.ts';
import { SCHEDULES } from '../trainer/schedules.ts';

/**
 * `edgeloom search --grid 'optimizer=sgd,adam;activation=relu,tanh;lr=1e-3,1e-2'`: the settings a
 * search may vary, their value types, and the grid's trials. Pure.
 */
export type SettingValue = string | number;
export type Trial = Record<string, SettingValue>;

interface SettingSpec {
  kind: 'int' | 'number' | 'choice';
  choices?: readonly string[];
  /** Architecture setting (TrainConfig.settings) rather than a training hyper-parameter. */
  arch?: boolean;
}

/** Names as in the recipe file (camelCase); `--grid` also accepts the flags' kebab-case. */
export const SEARCH_SETTINGS: Readonly<Record<string, SettingSpec>> = {
  optimizer: { kind: 'choice', choices: OPTIMIZERS },
  lr: { kind: 'number' },
  momentum: { kind: 'number' },
  batchSize: { kind: 'int' },
  epochs: { kind: 'int' },
  schedule: { kind: 'choice', choices: SCHEDULES },
  weightDecay: { kind: 'number' },
  labelSmoothing: { kind: 'number' },
  activation: { kind: 'choice', choices: ACTIVATIONS, arch: true },
  width: { kind: 'int', arch: true },
  dropout: { kind: 'number', arch: true },
};

/** More trials than this is a typo, not a plan (each trial trains at least one model). */
export const MAX_TRIALS = 500;

export function isArchSetting(name: string): boolean {
  return Boolean(SEARCH_SETTINGS[name]?.arch);
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function parseValue(name: string, spec: SettingSpec, text: string): SettingValue {
  if (spec.kind === 'choice') {
    if (!spec.choices!.includes(text)) throw new UserError(`--grid: ${name}: unknown value "${text}" (expected ${spec.choices!.join(', ')})`);
    return text;
  }
  const n = Number(text);
  if (text === '' || !Number.isFinite(n) || (spec.kind === 'int'
    && !Number.isInteger(n))) throw new UserError(`--grid: ${name}: expected ${spec.kind === 'int' ? 'integers' : 'numbers'}, got "${text}"`);
  return n;
}

/** `name=v1,v2;name=v3`: the values of each setting, in the order given. */
export function parseGrid(spec: string): Array<{ name: string; values: SettingValue[] }> {
  const out: Array<{ name: string; values: SettingValue[] }> = [];
  for (const part of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 1) throw new UserError(`--grid: expected name=value,value;... (e.g. optimizer=sgd,adam;lr=1e-3,1e-2), got "${part}"`);
    const name = camel(part.slice(0, eq).trim());
    const setting = SEARCH_SETTINGS[name];
    if (!setting) throw new UserError(`--grid: unknown setting "${part.slice(0, eq).trim()}" (expected ${Object.keys(SEARCH_SETTINGS).join(', ')})`);
    if (out.some((g) => g.name === name)) throw new UserError(`--grid: ${name} is given twice`);
    const values = [...new Set(part.slice(eq + 1).split(',').map((v) => v.trim()))].map((v) => parseValue(name, setting, v));
    out.push({ name, values });
  }
  if (out.length === 0) throw new UserError('--grid: expected at least one setting, e.g. optimizer=sgd,adam');
  return out;
}

/** Every combination (cartesian product), the last setting varying fastest. */
export function expandGrid(grid: ReadonlyArray<{ name: string; values: readonly SettingValue[] }>): Trial[] {
  let trials: Trial[] = [{}];
  for (const g of grid) trials = trials.flatMap((t) => g.values.map((v) => ({ ...t, [g.name]: v })));
  return trials;
}

/** The trials of a search: the whole grid, or `random` of its combinations drawn without replacement. */
export function searchTrials(grid: ReturnType<typeof parseGrid>, random: number | undefined, seed: number): Trial[] {
  const all = expandGrid(grid);
  if (random === undefined) {
    if (all.length > MAX_TRIALS) throw new UserError(`--grid: ${all.length} combinations (at most ${MAX_TRIALS}); use fewer values or --random N`);
    return all;
  }
  if (!Number.isInteger(random) || random < 1 || random > MAX_TRIALS) throw new UserError(`--random: expected an integer from 1 to ${MAX_TRIALS}, got ${random}`);
  if (random >= all.length) return all;
  const order = Array.from({ length: all.length }, (_, i) => i);
  shuffleInPlace(order, createRng(seed));
  return order.slice(0, random).sort((a, b) => a - b).map((i) => all[i]);
}

export function describeTrial(t: Trial): string {
  return Object.entries(t).map(([k, v]) => `${k}=${v}`).join(' ');
}
