import { redactSecrets } from './redact.ts';

/**
 * Logs go to stderr so that stdout stays clean for `--json` output. Level comes from
 * EDGELOOM_LOG_LEVEL (debug|info|warn|error|silent), default info.
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

function threshold(): number {
  const name = (process.env.EDGELOOM_LOG_LEVEL ?? 'info') as LogLevel;
  return LEVELS[name] ?? LEVELS.info;
}

function emit(level: LogLevel, scope: string, message: string): void {
  if (LEVELS[level] < threshold()) return;
  // Every line is redacted: URLs in messages (camera sources, broker) may carry passwords.
  process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} [${scope}] ${redactSecrets(message)}\n`);
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(scope: string): Logger {
  return {
    debug: (m) => emit('debug', scope, m),
    info: (m) => emit('info', scope, m),
    warn: (m) => emit('warn', scope, m),
    error: (m) => emit('error', scope, m),
  };
}
