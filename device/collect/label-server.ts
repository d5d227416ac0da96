import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join, resolve } from 'node:path';
import { classSlug } from '../../src/classes.ts';
import { UNLABELLED_DIR } from '../../src/collect-layout.ts';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { SOURCE_DEFAULTS } from '../sources/types.ts';
import { DEFAULT_MODEL_PATH } from '../../src/defaults.ts';
import { LABEL_SCRIPT, labelPage } from './label-page.ts';

/** Bounds of the label server: everything a request can make it read or hold. */
export const LABEL_SERVER_LIMITS = {
  bodyBytes: 4096,
  sidecarBytes: 64 * 1024,
  photoBytes: SOURCE_DEFAULTS.maxFrameBytes,
  items: 10_000,
  undoDepth: 1000,
};
const PHOTO_TYPES: Record<string, string> = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif',
  tif: 'image/tiff', tiff: 'image/tiff', bmp: 'image/bmp', avif: 'image/avif',
};
/** The only photo names served or moved: one path segment, no dots at the start, a known image extension. */
const PHOTO_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.([A-Za-z]{3,4})$/;
export const TOKEN_HEADER = 'x-edgeloom-token';

export function photoType(name: string): string | null {
  const m = name.length <= 200 ? PHOTO_NAME.exec(name) : null;
  return m ? PHOTO_TYPES[m[1].toLowerCase()] ?? null : null;
}

/** A class's folder: its name when that is a plain folder name, else its slug ("T-shirt/top" -> "t-shirt-top"). */
export function classFolder(name: string): string {
  const plain = /^[^/\\\0:*?"<>|.][^/\\\0:*?"<>|]{0,99}$/.test(name) && name.trim() === name;
  const folder = plain ? name : classSlug(name);
  if (!folder || folder.toLowerCase() === UNLABELLED_DIR) throw new UserError(`class "${name}": cannot be a folder name (rename the class)`);
  return folder;
}

/** Class names from --classes, else from the model's metadata. */
export async function labelClasses(opts: { classes?: string; model?: string }): Promise<string[]> {
  if (opts.classes !== undefined) {
    const list = opts.classes.split(',').map((c) => c.trim()).filter(Boolean);
    if (list.length < 2 || new Set(list).size !== list.length || list.length > 256) throw new UserError(`--classes: expected 2-256 different comma-separated names, got "${opts.classes}"`);
    return list;
  }
  const path = opts.model ?? DEFAULT_MODEL_PATH;
  const classes = (await readModelMetadata(path))?.classes;
  if (!classes?.length) throw new UserError(`${path}: no class names in the model's metadata (pass --classes a,b,c)`);
  return classes;
}

export interface LabelServerOptions {
  dir: string;
  classes: readonly string[];
  host?: string;
  port?: number;
}

export interface LabelServer {
  url: string;
  port: number;
  /** The per-session token the page sends with every move. */
  token: string;
  unlabelledDir: string;
  close(): Promise<void>;
}

interface Move { name: string; folder: string }

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * `edgeloom label`: one page and a JSON API over `DIR/unlabelled/`. Built for a hostile browser:
 * reads only validated names directly inside the folder (no symlinks), accepts moves only as JSON
 * POSTs carrying the session token that is embedded in the page, from its own origin (so no other
 * web page, and no DNS-rebound host name, can move files), with bodies of at most 4 KiB.
 */
export async function startLabelServer(opts: LabelServerOptions): Promise<LabelServer> {
  const root = resolve(opts.dir);
  const unlabelled = join(root, UNLABELLED_DIR);
  if (!(await lstat(unlabelled).catch(() => null))?.isDirectory()) throw new UserError(`${unlabelled}: not a folder (collect photos first: edgeloom collect --source SPEC --out ${opts.dir})`);
  const folders = new Map(opts.classes.map((c) => [c, classFolder(c)]));
  if (new Set(folders.values()).size !== folders.size) throw new UserError(`classes: two classes map to the same folder (${[...folders.values()].join(', ')})`);
  const host = opts.host ?? '127.0.0.1';
  const token = randomBytes(24).toString('base64url');
  const undo: Move[] = [];
  let port = 0;

  const allowedHost = (h: string | undefined): boolean => {
    if (!LOOPBACK.has(host)) return true;
    return !!h && [...LOOPBACK].some((name) => h === `${name}:${port}`);
  };

  async function readSidecar(path: string): Promise<Record<string, unknown> | null> {
    const text = await readBounded(path, LABEL_SERVER_LIMITS.sidecarBytes).catch(() => null);
    if (!text) return null;
    try {
      const v: unknown = JSON.parse(text.toString('utf8'));
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  async function items(): Promise<unknown[]> {
    const names = (await readdir(unlabelled)).filter((n) => photoType(n)).sort().slice(0, LABEL_SERVER_LIMITS.items);
    const out: unknown[] = [];
    for (const name of names) {
      const side = await readSidecar(join(unlabelled, `${name}.json`));
      out.push({ name, label: side?.label ?? null, confidence: side?.confidence ?? null, top: Array.isArray(side?.top) ? side.top : [], ts: side?.ts ?? null, ood: side?.ood ?? null });
    }
    return out;
  }

  /**
   * Photo and sidecar from `from/` to `to/`: the sidecar first, so whoever sees the photo finds its
   * sidecar; the photo by hard link then unlink, so an existing name is never replaced.
   */
  async function movePhoto(name: string, fromDir: string, toDir: string, sidecar: (s: Record<string, unknown>) => Record<string, unknown>, hiddenSidecarIn: 'from' | 'to'): Promise<void> {
    const src = join(fromDir, name);
    const dst = join(toDir, name);
    if (!(await lstat(src).catch(() => null))?.isFile()) throw new HttpError(404, 'no such photo');
    if (await lstat(dst).catch(() => null)) throw new HttpError(409, 'a photo of that name is already there');
    await mkdir(toDir, { recursive: true });
    const sideFrom = join(fromDir, hiddenSidecarIn === 'from' ? `.${name}.json` : `${name}.json`);
    const side = await readSidecar(sideFrom);
    if (side) await writeFileAtomic(join(toDir, hiddenSidecarIn === 'to' ? `.${name}.json` : `${name}.json`), `${JSON.stringify(sidecar(side), null, 2)}\n`);
    try {
      await link(src, dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new HttpError(409, 'a photo of that name is already there');
      throw err;
    }
    await rm(src);
    if (side) await rm(sideFrom, { force: true });
  }

  async function label(body: Record<string, unknown>): Promise<unknown> {
    const name = body.name;
    const cls = body.class;
    if (typeof name !== 'string' || !photoType(name)) throw new HttpError(400, 'name: expected a photo name from /api/items');
    const folder = typeof cls === 'string' ? folders.get(cls) : undefined;
    if (!folder) throw new HttpError(400, 'class: expected one of the listed classes');
    // The sidecar stays with the photo, hidden, so `train --data folder:` sees only images.
    await movePhoto(name, unlabelled, join(root, folder), (s) => ({ ...s, labelled: { class: cls, at: new Date().toISOString() } }), 'to');
    undo.push({ name, folder });
    if (undo.length > LABEL_SERVER_LIMITS.undoDepth) undo.shift();
    return { moved: name, folder };
  }

  async function undoLast(): Promise<unknown> {
    const last = undo.pop();
    if (!last) throw new HttpError(409, 'nothing to undo');
    await movePhoto(last.name, join(root, last.folder), unlabelled, ({ labelled: _, ...s }) => s, 'from');
    return { restored: last.name, from: last.folder };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHost(req.headers.host)) throw new HttpError(421, 'unexpected Host');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, 'foreign origin');
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (path === '/') return send(res, 200, 'text/html; charset=utf-8', labelPage(token, opts.classes, unlabelled));
      if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
      if (path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', LABEL_SCRIPT);
      if (path === '/api/items') return send(res, 200, 'application/json', JSON.stringify({ classes: opts.classes, items: await items() }));
      if (path.startsWith('/photo/')) return sendPhoto(res, decodeSegment(path.slice('/photo/'.length)));
      throw new HttpError(404, 'not found');
    }
    if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
    if (path !== '/api/label' && path !== '/api/undo') throw new HttpError(404, 'not found');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') throw new HttpError(403, 'cross-site request');
    if (!sameToken(req.headers[TOKEN_HEADER], token)) throw new HttpError(403, 'missing or wrong session token');
    if (!/^application\/json(;|$)/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected application/json');
    const body = await readBody(req, LABEL_SERVER_LIMITS.bodyBytes);
    let parsed: unknown;
    try {
      parsed = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      throw new HttpError(400, 'body: not valid JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'body: expected a JSON object');
    const result = path === '/api/label' ? await label(parsed as Record<string, unknown>) : await undoLast();
    send(res, 200, 'application/json', JSON.stringify(result));
  }

  async function sendPhoto(res: ServerResponse, name: string | null): Promise<void> {
    const type = name ? photoType(name) : null;
    if (!name || !type) throw new HttpError(404, 'not found');
    const bytes = await readBounded(join(unlabelled, name), LABEL_SERVER_LIMITS.photoBytes).catch(() => null);
    if (!bytes) throw new HttpError(404, 'not found');
    send(res, 200, type, bytes);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent) send(res, status, 'application/json', JSON.stringify({ error: err instanceof HttpError ? err.message : 'internal error' }));
      else res.destroy();
      if (status === 413) req.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => fail(new UserError(`--port ${opts.port ?? 8090}: cannot listen on ${host} (${err.code ?? err.message})`)));
    server.listen(opts.port ?? 8090, host, () => ok());
  });
  port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    token,
    unlabelledDir: unlabelled,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // A framed page could be made to receive keypresses: never allow framing.
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}

function decodeSegment(s: string): string | null {
  try {
    const d = decodeURIComponent(s);
    return d.includes('/') || d.includes('\\') ? null : d;
  } catch {
    return null;
  }
}

function sameToken(given: string | string[] | undefined, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(new HttpError(413, `body larger than ${max} bytes`));
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.pause();
        fail(new HttpError(413, `body larger than ${max} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

/** A regular file (never a symlink) of at most `max` bytes. */
async function readBounded(path: string, max: number): Promise<Buffer | null> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > max) return null;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
