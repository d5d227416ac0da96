import { createHash } from 'node:crypto';
import type { StoredMessage } from './types.ts';

/**
 * One queue record per line: `<8 hex checksum> <json>\n`, the checksum being the first 32 bits of
 * the SHA-256 of the JSON text. Lines written before checksums (they start with `{`) are still
 * read, so an upgrade loses nothing that was queued. SHA-256 instead of CRC-32 because zlib.crc32
 * only exists from Node 20.15; it costs ~1 us per 500-byte label, noise next to inference.
 */
const CHECKED_RE = /^([0-9a-f]{8}) (\{.*\})$/;

function checksum(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 8);
}

export function encodeRecord(m: StoredMessage): Buffer {
  const json = JSON.stringify({ s: m.seq, t: m.topic, p: m.payload, q: m.qos, r: m.retain ? 1 : 0, ts: m.ts });
  return Buffer.from(`${checksum(json)} ${json}\n`);
}

function decodeJson(json: string): StoredMessage | null {
  try {
    const r = JSON.parse(json) as { s?: unknown; t?: unknown; p?: unknown; q?: unknown; r?: unknown; ts?: unknown };
    if (!Number.isSafeInteger(r.s) || (r.s as number) < 1 || typeof r.t !== 'string' || typeof r.p !== 'string') return null;
    const qos = r.q === 0 || r.q === 2 ? r.q : 1;
    return { seq: r.s as number, topic: r.t, payload: r.p, qos, retain: r.r === 1, ts: typeof r.ts === 'number' ? r.ts : 0 };
  } catch {
    return null;
  }
}

/** One line without its newline: a message, or null when it is damaged (bad checksum, bad JSON). */
export function decodeLine(line: string): StoredMessage | null {
  if (line.startsWith('{')) return decodeJson(line); // written before checksums
  const m = CHECKED_RE.exec(line);
  if (!m || checksum(m[2]) !== m[1]) return null;
  return decodeJson(m[2]);
}

export interface SegmentContents {
  records: StoredMessage[];
  /** Complete lines that failed their checksum or did not parse (bit rot, foreign writes). */
  corrupt: number;
  /** A last line without its newline that does not decode: a write cut short (power cut, full disk). */
  torn: boolean;
}

export function decodeSegment(text: string): SegmentContents {
  const lines = text.split('\n');
  const tail = lines.pop()!; // '' when the file ends with a newline
  const out: SegmentContents = { records: [], corrupt: 0, torn: false };
  for (const line of lines) {
    if (line === '') continue;
    const m = decodeLine(line);
    if (m) out.records.push(m);
    else out.corrupt++;
  }
  if (tail !== '') {
    // The bytes of a record may all be there with only the newline missing: keep it then.
    const m = decodeLine(tail);
    if (m) out.records.push(m);
    else out.torn = true;
  }
  return out;
}
