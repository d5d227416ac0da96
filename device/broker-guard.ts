import { Duplex, Transform, pipeline } from 'node:stream';
import { isIP } from 'node:net';

/**
 * Connection-level guards for the embedded broker. aedes (1.2) has no packet size limit: its parser
 * (mqtt-packet) buffers a PUBLISH until all of its declared length arrived, so a client announcing
 * 100 MB makes the broker hold 100 MB. These guards read only the MQTT fixed header of each packet
 * and cut the connection as soon as a header declares more than the limit.
 */

/** Why a connection was cut before aedes saw the packet. */
export type GuardVerdict = { ok: true } | { ok: false; reason: 'packet-too-large'; declaredBytes: number } | { ok: false; reason: 'malformed-length' };

/**
 * Follows MQTT packet boundaries through a byte stream (pure: no I/O). The fixed header is one type
 * byte and a 1-4 byte "remaining length" varint (MQTT 3.1.1 §2.2.3); the whole packet is
 * 1 + varint bytes + remaining length, the size MQTT 5's Maximum Packet Size counts.
 */
export class PacketSizeScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private remaining = 0;
  private lengthBytes = 0;
  private multiplier = 1;
  constructor(readonly maxPacketBytes: number) {}

  push(chunk: Uint8Array): GuardVerdict {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skip = Math.min(this.remaining, chunk.length - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++];
      if (this.state === 'type') {
        this.state = 'length';
        this.remaining = 0;
        this.lengthBytes = 0;
        this.multiplier = 1;
        continue;
      }
      this.remaining += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return { ok: false, reason: 'malformed-length' };
        continue;
      }
      const total = 1 + this.lengthBytes + this.remaining;
      if (total > this.maxPacketBytes) return { ok: false, reason: 'packet-too-large', declaredBytes: total };
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    return { ok: true };
  }
}

/**
 * Puts a PacketSizeScanner between a client's socket and aedes: aedes reads and writes the returned
 * stream; the first header over the limit destroys the socket, so at most the chunk holding that
 * header (and what the kernel already buffered) is ever read.
 */
export function guardConnection(conn: Duplex, maxPacketBytes: number, onRefused: (verdict: Exclude<GuardVerdict, { ok: true }>) => void): Duplex {
  const scanner = new PacketSizeScanner(maxPacketBytes);
  const checked = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      const verdict = scanner.push(chunk);
      if (verdict.ok) {
        callback(null, chunk);
        return;
      }
      onRefused(verdict);
      conn.destroy();
      callback(Object.assign(new Error(verdict.reason), { code: 'EPACKETGUARD' }));
    },
  });
  pipeline(conn, checked, () => {});
  return Duplex.from({ readable: checked, writable: conn });
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for 127.0.0.0/8, ::1 and localhost: names that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || (isIP(h) === 4 && h.startsWith('127.')) || h.endsWith('.localhost');
}

/** `http://Host:8080/` -> `http://host:8080`; throws for anything that is not an http(s) origin. */
export function normalizeOrigin(value: string): string {
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('expected an http:// or https:// origin');
  if (url.pathname !== '/' || url.search || url.hash || url.username) throw new Error('expected scheme://host[:port] only');
  return url.origin;
}

/**
 * Which browser pages may open an MQTT WebSocket. Browsers always send Origin on a WebSocket
 * handshake; other clients (mqtt.js in Node, MQTT Explorer, Node-RED) send none and are let through
 * (they cannot be told apart from an attacker's script anyway; authentication is what stops those).
 * Allowed by default: pages from this machine (loopback origins), and pages whose origin is the IP
 * address the client itself connected to (an IP-literal origin cannot come from DNS rebinding).
 * Everything else needs `--ws-origin ORIGIN` (or `--ws-origin '*'`).
 */
export function createOriginPolicy(allowed: readonly string[]): (origin: string | undefined, hostHeader: string | undefined) => boolean {
  const any = allowed.includes('*');
  const exact = new Set(allowed.filter((o) => o !== '*').map(normalizeOrigin));
  return (origin, hostHeader) => {
    if (origin === undefined) return true;
    if (any) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (exact.has(url.origin)) return true;
    const host = url.hostname;
    if (isLoopbackHost(host)) return true;
    if (!hostHeader || isIP(host.replace(/^\[|\]$/g, '')) === 0) return false;
    let requested: string;
    try {
      requested = new URL(`http://${hostHeader}`).hostname;
    } catch {
      return false;
    }
    return requested === host;
  };
}
