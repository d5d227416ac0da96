import type { Command } from 'commander';
import { UserError } from '../src/errors.ts';
import { redactSecrets } from '../src/redact.ts';

/** `--json` prints exactly one JSON document on stdout; otherwise a human-readable text. */
export function printResult(json: boolean | undefined, value: unknown, human: () => string): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

/** Wraps a command action so that user errors print one line and exit non-zero. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(err);
      process.exitCode = 1;
    }
  };
}

export function reportError(err: unknown): void {
  if (err instanceof UserError) {
    process.stderr.write(`edgeloom: ${redactSecrets(err.message)}\n`);
  } else if (err instanceof Error) {
    process.stderr.write(`edgeloom: ${redactSecrets(err.message)}\n`);
    if (process.env.EDGELOOM_LOG_LEVEL === 'debug' && err.stack) process.stderr.write(`${err.stack}\n`);
  } else {
    process.stderr.write(`edgeloom: ${redactSecrets(String(err))}\n`);
  }
}

export function parseIntOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new UserError(`${name}: expected an integer, got "${value}"`);
    return n;
  };
}

export function parseFloatOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new UserError(`${name}: expected a number, got "${value}"`);
    return n;
  };
}

/**
 * With --recipe, the recipe file's values must win over option defaults (`--data` defaults to
 * fashion-mnist): keep only the options typed on the command line, which win over the file.
 */
export function withoutDefaults<T extends object>(opts: T, cmd: Command): T {
  if (!(opts as { recipe?: string }).recipe) return opts;
  return Object.fromEntries(Object.entries(opts).filter(([k]) => cmd.getOptionValueSource(k) !== 'default')) as T;
}
