import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../src/fs-atomic.ts';
import { UserError } from '../src/errors.ts';

/**
 * The broker's password file (`edgeloom broker --users FILE`): one `user:hash` line per user,
 * written by `edgeloom broker passwd FILE USER`. Hashes use scrypt with a random salt and carry
 * their parameters, so stronger parameters can be introduced without invalidating old lines:
 *
 *   $scrypt$N=16384,r=8,p=1$<salt, base64>$<32-byte key, base64>
 */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

/** Bounds on what a file may ask for: N=2^20 with r=8 needs 1 GiB, which a Pi does not have. */
const SCRYPT_LIMITS = { maxN: 1 << 20, maxR: 32, maxP: 16, maxMemBytes: 256 * 1024 * 1024 };

/** An error from the password file or its users; `code` tells programs which. */
export class PasswordFileError extends UserError {
  constructor(readonly code: 'EPASSWD_READ' | 'EPASSWD_SYNTAX' | 'EPASSWD_USER' | 'EPASSWD_INPUT', message: string) {
    super(message);
  }
}

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function scrypt(password: string | Buffer, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key))));
}

function scryptOptions(h: Pick<ScryptHash, 'N' | 'r' | 'p'>): ScryptOptions {
  // scrypt needs 128 * N * r bytes; Node refuses above maxmem (default 32 MiB).
  return { N: h.N, r: h.r, p: h.p, maxmem: Math.min(SCRYPT_LIMITS.maxMemBytes, 256 * h.N * h.r) };
}

export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS;
  const salt = randomBytes(saltBytes);
  const key = await scrypt(password, salt, keyBytes, scryptOptions({ N, r, p }));
  return `$scrypt$N=${N},r=${r},p=${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const HASH_RE = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** Parses an encoded hash; null when it is not one this version can check. */
export function parseHash(encoded: string): ScryptHash | null {
  const m = HASH_RE.exec(encoded);
  if (!m) return null;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N > SCRYPT_LIMITS.maxN || r < 1 || r > SCRYPT_LIMITS.maxR || p < 1 || p > SCRYPT_LIMITS.maxP) return null;
  if (128 * N * r > SCRYPT_LIMITS.maxMemBytes) return null;
  const salt = Buffer.from(m[4], 'base64');
  const key = Buffer.from(m[5], 'base64');
  if (salt.length < 8 || key.length < 16 || key.length > 64) return null;
  return { N, r, p, salt, key };
}

/** Derives the key for `password` and compares it in constant time. */
export async function verifyPassword(hash: ScryptHash, password: Buffer): Promise<boolean> {
  const key = await scrypt(password, hash.salt, hash.key.length, scryptOptions(hash));
  return timingSafeEqual(key, hash.key);
}

const USER_RE = /^[^:\s\p{Cc}]{1,128}$/u;

export function checkUserName(user: string): void {
  if (!USER_RE.test(user)) throw new PasswordFileError('EPASSWD_USER', `user "${user}": expected 1-128 characters without ':', spaces or control characters`);
}

/** Reads FILE into user -> hash; a bad line is named by file and line number. */
export async function readPasswordFile(path: string, opts: { missingOk?: boolean } = {}): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.missingOk) return new Map();
    throw new PasswordFileError('EPASSWD_READ', `${path}: cannot read the password file (${code ?? (err as Error).message}); create it with: edgeloom broker passwd ${path} USER`);
  }
  const users = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = colon > 0 ? line.slice(0, colon) : '';
    const hash = line.slice(colon + 1);
    if (!USER_RE.test(user) || !parseHash(hash)) {
      throw new PasswordFileError('EPASSWD_SYNTAX', `${path}:${i + 1}: expected user:$scrypt$N=...,r=...,p=...$salt$key (write lines with: edgeloom broker passwd ${path} USER)`);
    }
    if (users.has(user)) throw new PasswordFileError('EPASSWD_SYNTAX', `${path}:${i + 1}: user "${user}" appears twice`);
    users.set(user, hash);
  });
  return users;
}

/** True when group or others may read the file (mosquitto warns about this too). */
export async function isReadableByOthers(path: string): Promise<boolean> {
  return ((await stat(path)).mode & 0o077) !== 0;
}

/** Adds, replaces (`password` a string) or deletes (`password` null) USER; the file is replaced atomically, mode 0600. */
export async function updatePasswordFile(path: string, user: string, password: string | null): Promise<'added' | 'updated' | 'deleted'> {
  checkUserName(user);
  const users = await readPasswordFile(path, { missingOk: password !== null });
  let outcome: 'added' | 'updated' | 'deleted';
  if (password === null) {
    if (!users.delete(user)) throw new PasswordFileError('EPASSWD_USER', `${path}: no user "${user}" to delete`);
    outcome = 'deleted';
  } else {
    outcome = users.has(user) ? 'updated' : 'added';
    users.set(user, await hashPassword(password));
  }
  const text = [...users].map(([u, h]) => `${u}:${h}\n`).join('');
  await writeFileAtomic(path, text, { mode: 0o600 });
  return outcome;
}

export type AuthResult = 'ok' | 'refused' | 'busy';

export interface Authenticator {
  check(username: string | undefined, password: Buffer | undefined): Promise<AuthResult>;
  /** Replaces the users (a re-read password file); checks in progress finish with the old ones. */
  setUsers(users: Map<string, string>): void;
}

/**
 * Checks CONNECT credentials against the password file. An unknown user, a missing user name and a
 * wrong password take the same path (one scrypt derivation and a constant-time compare), so the
 * answer time does not tell which users exist. One derivation takes ~45 ms of CPU on this 2-core CI
 * machine, so at most `concurrency` run at once and at most `queue` wait; beyond that a CONNECT is
 * answered "server unavailable" instead of letting a CONNECT flood take every core.
 */
export async function createAuthenticator(users: Map<string, string>, limits: { concurrency: number; queue: number }): Promise<Authenticator> {
  const decoy = parseHash(await hashPassword(randomBytes(16).toString('hex')))!;
  let parsed = new Map<string, ScryptHash>();
  const setUsers = (next: Map<string, string>) => {
    parsed = new Map([...next].map(([u, h]) => [u, parseHash(h)!]));
  };
  setUsers(users);
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    setUsers,
    async check(username, password) {
      if (running < limits.concurrency) running++;
      else if (waiting.length >= limits.queue) return 'busy';
      else await new Promise<void>((resolve) => waiting.push(resolve)); // the finishing check hands its slot over
      try {
        const hash = username !== undefined ? parsed.get(username) : undefined;
        const match = await verifyPassword(hash ?? decoy, password ?? Buffer.alloc(0));
        return match && hash !== undefined ? 'ok' : 'refused';
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
  };
}
