import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { firstLine, UserError } from './errors.ts';
import { writeFileAtomic } from './fs-atomic.ts';

/**
 * Detached ed25519 model signatures, shared by `edgeloom keygen` / `edgeloom sign` and the agent.
 *
 * `M.sig` next to model `M` is one small JSON object:
 *   {"format":"edgeloom-model-signature-v1","alg":"ed25519","keyId":"<16 hex>","sha256":"<64 hex>","signature":"<base64>"}
 * The signature covers `edgeloom-model-signature-v1\n<sha256 of M>\n` (domain-separated, so it
 * cannot be replayed as a signature over anything else); the agent has the model's sha256 anyway.
 * `keyId` is the first 16 hex digits of the sha256 of the public key (SPKI DER): it names the key
 * in errors and logs, and it is not trusted for anything (every trusted key is tried).
 */
export const SIGNATURE_FORMAT = 'edgeloom-model-signature-v1';
export const SIGNATURE_SUFFIX = '.sig';
/** A signature file is ~250 bytes; anything much bigger is not one (bounds the read). */
export const SIGNATURE_MAX_BYTES = 4096;

export interface TrustedKey {
  id: string;
  key: KeyObject;
}

export interface SignatureFile {
  format: typeof SIGNATURE_FORMAT;
  alg: 'ed25519';
  keyId: string;
  sha256: string;
  signature: string;
}

/** Why a model's signature was refused (the agent answers commands with it). */
export class SignatureError extends UserError {
  constructor(readonly code: 'unsigned' | 'bad-signature' | 'untrusted-key' | 'signature-mismatch', message: string) {
    super(message);
  }
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function signedMessage(sha256: string): Buffer {
  return Buffer.from(`${SIGNATURE_FORMAT}\n${sha256}\n`);
}

/** An ed25519 public key from PEM text; a private key or another algorithm is refused, naming `where`. */
export function parsePublicKey(pem: string, where: string): TrustedKey {
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) throw new UserError(`${where}: expected an ed25519 public key in PEM (the .pub file of \`edgeloom keygen\`), not a private key or other text`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new UserError(`${where}: not a readable PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UserError(`${where}: an ${key.asymmetricKeyType} key; expected ed25519 (make one with \`edgeloom keygen\`)`);
  return { id: keyIdOf(key), key };
}

export function parsePrivateKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new UserError(`${where}: not a readable PEM private key (${firstLine(err)})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UserError(`${where}: an ${key.asymmetricKeyType} key; expected ed25519 (make one with \`edgeloom keygen\`)`);
  return key;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Trusted public keys from PEM files (`--trusted-key`, `models.trustedKeys`). */
export async function loadTrustedKeys(paths: readonly string[]): Promise<TrustedKey[]> {
  return Promise.all(paths.map(async (p) => parsePublicKey(await readText(p, 'trusted key'), p)));
}

export function createSignature(sha256: string, privateKey: KeyObject): SignatureFile {
  const id = keyIdOf(createPublicKey(privateKey));
  return { format: SIGNATURE_FORMAT, alg: 'ed25519', keyId: id, sha256, signature: sign(null, signedMessage(sha256), privateKey).toString('base64') };
}

function parseSignatureFile(text: string, where: string): SignatureFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SignatureError('bad-signature', `${where}: not an edgeloom signature file (not JSON)`);
  }
  const s = parsed as Partial<SignatureFile> | null;
  const ok = s && typeof s === 'object' && s.format === SIGNATURE_FORMAT && s.alg === 'ed25519' && typeof s.keyId === 'string' &&
    typeof s.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.sha256) && typeof s.signature === 'string';
  if (!ok) throw new SignatureError('bad-signature', `${where}: not an ${SIGNATURE_FORMAT} file (format, alg, keyId, sha256, signature)`);
  return s as SignatureFile;
}

/**
 * Checks a signature file's text against a model's sha256 and the trusted keys; returns the id of
 * the key that signed it. `where` names the signature in errors.
 */
export function verifySignature(text: string, sha256: string, trusted: readonly TrustedKey[], where: string): string {
  const sig = parseSignatureFile(text, where);
  if (sig.sha256 !== sha256) throw new SignatureError('signature-mismatch', `${where}: signs another file (sha256 ${sig.sha256.slice(0, 12)}..., the model has ${sha256.slice(0, 12)}...); sign the ` +
    `model again`);
  const bytes = Buffer.from(sig.signature, 'base64');
  for (const k of trusted) {
    if (bytes.length === 64 && verify(null, signedMessage(sha256), k.key, bytes)) return k.id;
  }
  const known = trusted.some((k) => k.id === sig.keyId);
  if (known) throw new SignatureError('bad-signature', `${where}: the signature does not verify with trusted key ${sig.keyId}`);
  throw new SignatureError('untrusted-key', `${where}: signed by key ${sig.keyId}, which is not a trusted key (trusted: ${trusted.map((k) => k.id).join(', ')})`);
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new UserError(`${path}: cannot read the model (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return hash.digest('hex');
}

export interface KeygenResult {
  privateKey: string;
  publicKey: string;
  keyId: string;
}

/** `edgeloom keygen --out KEY`: KEY (private, mode 0600) and KEY.pub; never overwrites a key. */
export async function runKeygen(opts: { out: string }): Promise<KeygenResult> {
  const pub = `${opts.out}.pub`;
  for (const p of [opts.out, pub]) if (existsSync(p)) throw new UserError(`${p}: already exists; keygen never overwrites a key (choose another --out or remove it)`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFileAtomic(opts.out, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  await writeFileAtomic(pub, publicKey.export({ type: 'spki', format: 'pem' }) as string, { mode: 0o644 });
  return { privateKey: opts.out, publicKey: pub, keyId: keyIdOf(publicKey) };
}

export interface SignResult {
  model: string;
  signature: string;
  sha256: string;
  keyId: string;
}

/** `edgeloom sign --key KEY --model M`: writes the detached signature `M.sig` (or `--out`) next to the real file. */
export async function runSign(opts: { key: string; model: string; out?: string }): Promise<SignResult> {
  const key = parsePrivateKey(await readText(opts.key, 'private key'), opts.key);
  const sha256 = await sha256OfFile(opts.model);
  const sig = createSignature(sha256, key);
  // Next to the real file: the agent looks there, also when it is given a symlink (default.onnx -> v3.onnx).
  const out = opts.out ?? `${await realpath(opts.model)}${SIGNATURE_SUFFIX}`;
  await writeFileAtomic(out, `${JSON.stringify(sig)}\n`);
  return { model: opts.model, signature: out, sha256, keyId: sig.keyId };
}
