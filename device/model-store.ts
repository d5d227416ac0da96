import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, realpath, type FileHandle } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { UserError } from '../src/errors.ts';
import { SIGNATURE_MAX_BYTES, SIGNATURE_SUFFIX, SignatureError, verifySignature, type TrustedKey } from '../src/signing.ts';

/**
 * Where the agent may load models from, and how a model file is read.
 *
 * A remote command names a model by FILE NAME; it is resolved inside `models.dir` only. Every read
 * is `lstat` first (regular files only: no device file, FIFO, directory), then opened with
 * O_NOFOLLOW | O_NONBLOCK and checked again with `fstat` on the open descriptor (same inode, still
 * regular, size under the cap) before a byte is read, so neither `/dev/zero` nor a FIFO nor a file
 * swapped in between the checks can make the agent read without bound or block.
 */
export const MODEL_STORE_DEFAULTS = {
  /** The biggest model read (checked before reading): our models are 0.1-3 MB, int8 ResNets ~25 MB. */
  maxBytes: 64 * 1024 * 1024,
} as const;

/** A model file name as a command may give it: no directory part, no leading dot, ends in `.onnx`. */
const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,250}\.onnx$/i;

export type ModelRefusalCode = 'bad-name' | 'not-found' | 'not-regular' | 'too-large' | 'changed' | 'read-failed' | 'sha256-mismatch';

/** A model (or signature) file that was not read; `code` says why. */
export class ModelRefusedError extends UserError {
  constructor(readonly code: ModelRefusalCode | SignatureError['code'], message: string) {
    super(message);
  }
}

export interface ModelFile {
  /** The path that was read (for a symlink inside the store: its target). */
  path: string;
  bytes: Buffer;
  sha256: string;
  /** Id of the trusted key that signed it; null when no keys are trusted. */
  signedBy: string | null;
}

export interface ModelStoreOptions {
  /** Absolute directory that command-named models are resolved in. */
  dir: string;
  maxBytes: number;
  trustedKeys: readonly TrustedKey[];
}

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Reads a regular file of at most `maxBytes`; `label` names it in errors. The caller has resolved
 * symlinks it accepts (the final component is opened with O_NOFOLLOW).
 */
export async function readRegularFile(path: string, maxBytes: number, label: string): Promise<Buffer> {
  const tooBig = (size: number) => new ModelRefusedError('too-large', `${label}: ${size} bytes, more than the ${maxBytes}-byte limit (models.maxBytes)`);
  const before = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new ModelRefusedError('not-found', `${label}: no such file`);
    throw new ModelRefusedError('read-failed', `${label}: cannot read (${err.code ?? err.message})`);
  });
  if (!before.isFile()) throw new ModelRefusedError('not-regular', `${label}: not a regular file`);
  if (before.size > maxBytes) throw tooBig(before.size);
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw new ModelRefusedError('read-failed', `${label}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw new ModelRefusedError('changed', `${label}: changed while it was opened; try again`);
    if (st.size > maxBytes) throw tooBig(st.size);
    // One byte more than the size: a file that grows while read is noticed, never read past the cap.
    const buf = Buffer.alloc(st.size + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got !== st.size) throw new ModelRefusedError('changed', `${label}: changed while it was read; try again`);
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

function isInside(dir: string, path: string): boolean {
  return dirname(path) === dir || path.startsWith(dir + sep);
}

export class ModelStore {
  constructor(readonly opts: ModelStoreOptions) {}

  /**
   * The real path of model `name` inside the store. A name with a directory part is refused as a
   * name; whatever is not a regular file inside the store (a symlink leading out of it, dangling or
   * not, a FIFO, a device) gets one message, so a command cannot probe what exists outside.
   */
  async resolve(name: unknown): Promise<string> {
    if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
      throw new ModelRefusedError('bad-name', 'model: expected a file name in the model directory (letters, digits, . _ + -, ending in .onnx; no path)');
    }
    const notHere = new ModelRefusedError('not-regular', `model "${name}": not a regular file in the model directory`);
    let dir: string;
    try {
      dir = await realpath(this.opts.dir);
    } catch {
      throw new ModelRefusedError('not-found', `model "${name}": the model directory (models.dir) is missing`);
    }
    const candidate = join(dir, name);
    const st = await lstat(candidate).catch(() => null);
    if (!st) throw new ModelRefusedError('not-found', `model "${name}": no such model in the model directory`);
    if (st.isFile()) return candidate;
    if (!st.isSymbolicLink()) throw notHere;
    const target = await realpath(candidate).catch(() => null);
    if (!target || !isInside(dir, target)) throw notHere;
    const tst = await lstat(target).catch(() => null);
    if (!tst?.isFile()) throw notHere;
    return target;
  }

  /** Reads model `name` from the store (see resolve), with the checks of readFile. */
  async readNamed(name: unknown, expectSha256?: string): Promise<ModelFile> {
    const path = await this.resolve(name);
    return this.readFile(path, `model "${String(name)}"`, expectSha256);
  }

  /**
   * The operator's start-up model: any path (the config is trusted; symlinks are followed), with
   * the same size cap, sha256 and signature checks as a named model.
   */
  async readStartup(path: string, expectSha256?: string): Promise<ModelFile> {
    const real = await realpath(path).catch(() => path);
    return this.readFile(real, path, expectSha256);
  }

  /**
   * Reads a resolved model path under the size cap, then checks the expected sha256 and, with
   * trusted keys, the signature `<path>.sig`. `label` names the model in errors.
   */
  private async readFile(real: string, label: string, expectSha256?: string): Promise<ModelFile> {
    const bytes = await readRegularFile(real, this.opts.maxBytes, label);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (expectSha256 !== undefined && expectSha256.toLowerCase() !== sha256) {
      throw new ModelRefusedError('sha256-mismatch', `${label}: sha256 is ${sha256}, not the expected ${expectSha256}`);
    }
    const signedBy = this.opts.trustedKeys.length > 0 ? await this.checkSignature(real, sha256, label) : null;
    return { path: real, bytes, sha256, signedBy };
  }

  private async checkSignature(real: string, sha256: string, label: string): Promise<string> {
    const sigLabel = `${label}${SIGNATURE_SUFFIX}`;
    let text: string;
    try {
      text = (await readRegularFile(`${real}${SIGNATURE_SUFFIX}`, SIGNATURE_MAX_BYTES, sigLabel)).toString('utf8');
    } catch (err) {
      if (err instanceof ModelRefusedError && err.code === 'not-found') {
        throw new ModelRefusedError('unsigned', `${label}: unsigned (no ${sigLabel}) and trusted keys are configured; sign it with \`edgeloom sign --key KEY --model FILE\``);
      }
      throw err;
    }
    try {
      return verifySignature(text, sha256, this.opts.trustedKeys, sigLabel);
    } catch (err) {
      if (err instanceof SignatureError) throw new ModelRefusedError(err.code, err.message);
      throw err;
    }
  }
}
