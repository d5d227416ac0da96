import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SourceError } from './types.ts';

export interface HttpGet {
  /** Resolves with the response once its headers arrived (within `connectTimeoutMs`). */
  response: Promise<IncomingMessage>;
  /** Ends the request and the response (its readers see `err`). */
  abort(err: Error): void;
}

/**
 * A bounded GET with node:http rather than fetch: fetch refuses URLs with credentials
 * (`http://admin:pw@camera/`, common on IP cameras) and cannot cap the response header size.
 * Redirects are not followed (a camera endpoint answers directly).
 */
export function httpGet(url: string, limits: { connectTimeoutMs: number; maxHeaderBytes: number }): HttpGet {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const req = request(target, { method: 'GET', maxHeaderSize: limits.maxHeaderBytes, headers: { accept: 'image/*, multipart/x-mixed-replace' } });
  let res: IncomingMessage | null = null;
  const abort = (err: Error) => {
    req.destroy(err);
    res?.destroy(err);
  };
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => abort(new SourceError('connect-timeout', `no response within ${limits.connectTimeoutMs} ms`)), limits.connectTimeoutMs);
    req.on('response', (r) => {
      clearTimeout(timer);
      res = r;
      resolve(r);
    });
    // Stays attached: a request destroyed after the response must not become an unhandled 'error'.
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'HPE_HEADER_OVERFLOW' ? new SourceError('header-too-large', `response headers larger than ${limits.maxHeaderBytes} bytes`) : err);
    });
    req.end();
  });
  return { response, abort };
}

/** Reads a whole body, failing as soon as it passes `maxBytes` (declared or not) or ends early. */
export function readBodyCapped(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        const err = new SourceError('frame-too-large', `snapshot larger than ${maxBytes} bytes`);
        res.destroy(err);
        reject(err);
      } else chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks, size)));
    res.on('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ECONNRESET' ? new SourceError('truncated', `connection closed after ${size} bytes of the body`) : err));
    res.on('close', () => {
      if (!res.complete) reject(new SourceError('truncated', `connection closed after ${size} bytes of the body`));
    });
  });
}
