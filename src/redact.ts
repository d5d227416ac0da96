/**
 * The one place that hides secrets before text leaves the process (retained `info`, logs, stats,
 * error lines). Camera and broker URLs routinely carry credentials (`rtsp://admin:pw@cam/...`,
 * `http://cam/snap.cgi?user=admin&pwd=...`), and an `info` message is retained for every client of
 * the broker, so the secret part is replaced by `***` wherever such a URL appears in a text, also
 * inside a `command:` source line. User names stay visible: they help to debug and are not secret.
 */
export const REDACTED = '***';

/** `scheme://user:password@` -> `scheme://user:***@` (any scheme, also inside longer text). */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi;

/** Query or form parameters whose value is a credential in camera firmware and APIs we have met. */
const SECRET_PARAM = /([?&;](?:password|passwd|pass|pwd|pw|token|access_token|api_key|apikey|key|secret|auth|signature|sig)=)[^&#\s"']*/gi;

/** Config keys whose values are secrets wherever they sit in a config object. */
const SECRET_KEY = /^(password|passwd|secret|token|apikey|api_key|privatekey|private_key)$/i;

/** Text with every URL password and secret query parameter replaced by `***`. */
export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, `$1:${REDACTED}@`).replace(SECRET_PARAM, `$1${REDACTED}`);
}

/**
 * A deep copy of a config-like value for display: secret keys (`password`, `token`, ...) become
 * `***` and every string goes through redactSecrets.
 */
export function redactConfig<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactConfig(v)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : redactConfig(v)])) as T;
  }
  return value;
}

interface LoggerLike {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Wraps a logger (ours or one given by an embedding program) so that nothing it logs leaks a secret. */
export function redactingLogger<L extends LoggerLike>(log: L): LoggerLike {
  return {
    debug: (m) => log.debug(redactSecrets(m)),
    info: (m) => log.info(redactSecrets(m)),
    warn: (m) => log.warn(redactSecrets(m)),
    error: (m) => log.error(redactSecrets(m)),
  };
}
