/**
 * Pure, incremental parsers for streamed frames, so they can be tested chunk by chunk.
 *
 * Both keep the unparsed bytes in one ByteWindow: a chunk is copied in once (amortised growth, no
 * `Buffer.concat` of everything so far per chunk, which made a 1 MB part arriving in 1 KB chunks
 * copy ~500 MB) and searches resume where the previous one stopped. Memory stays below the part
 * cap plus one chunk, whatever the peer sends.
 */

/** A growable byte buffer with a read offset; `find` scans only bytes not scanned before. */
export class ByteWindow {
  private buf = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  private scanned = 0;

  get length(): number {
    return this.end - this.start;
  }

  append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.length;
      if (live + chunk.length <= this.buf.length && this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end);
      } else {
        const next = Buffer.allocUnsafe(Math.max(live + chunk.length, this.buf.length * 2, 4096));
        this.buf.copy(next, 0, this.start, this.end);
        this.buf = next;
      }
      this.scanned -= this.start;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Offset (from the window start) of `needle` at or after `from`, or -1; remembers how far it looked. */
  find(needle: Buffer, from = 0): number {
    const begin = Math.max(this.start + from, this.scanned - needle.length + 1);
    const at = this.buf.subarray(0, this.end).indexOf(needle, begin);
    this.scanned = at < 0 ? this.end : at;
    return at < 0 ? -1 : at - this.start;
  }

  at(offset: number): number {
    return this.buf[this.start + offset];
  }

  /** A copy of [from, to) (offsets from the window start): the only per-frame copy. */
  copy(from: number, to: number): Buffer {
    return Buffer.from(this.buf.subarray(this.start + from, this.start + to));
  }

  text(from: number, to: number): string {
    return this.buf.toString('latin1', this.start + from, this.start + to);
  }

  /** Drops the first n bytes. */
  consume(n: number): void {
    this.start += Math.min(n, this.length);
    this.scanned = Math.max(this.scanned, this.start);
    if (this.start === this.end) {
      this.start = this.end = this.scanned = 0;
      // Give back the room a large frame needed instead of holding it for the life of the stream.
      if (this.buf.length > 1024 * 1024) this.buf = Buffer.alloc(0);
    }
  }

  /** Keeps only the last n bytes (a needle may start in them). */
  keepTail(n: number): void {
    if (this.length > n) this.consume(this.length - n);
  }

  clear(): void {
    this.consume(this.length);
  }
}

const HEADER_END = Buffer.from('\r\n\r\n');

type PartState = { kind: 'seek' } | { kind: 'headers' } | { kind: 'body'; length: number | null };

/** Splits `multipart/x-mixed-replace` (MJPEG over HTTP) into part bodies. */
export class MultipartParser {
  private readonly win = new ByteWindow();
  private readonly delimiter: Buffer;
  private state: PartState = { kind: 'seek' };

  constructor(boundary: string, private readonly maxPartBytes: number, private readonly maxHeaderBytes = 64 * 1024) {
    this.delimiter = Buffer.from(`--${boundary.replace(/^--/, '')}`);
  }

  /** Bytes held while waiting for the rest of a header or part (bounded by the caps plus one chunk). */
  get buffered(): number {
    return this.win.length;
  }

  /** Feeds a chunk; returns the complete parts it finished (or Errors for oversized parts/headers). */
  push(chunk: Uint8Array): (Buffer | Error)[] {
    this.win.append(chunk);
    const out: (Buffer | Error)[] = [];
    while (this.step(out));
    return out;
  }

  /** One state transition; false when more input is needed. */
  private step(out: (Buffer | Error)[]): boolean {
    const { win } = this;
    switch (this.state.kind) {
      case 'seek': {
        const at = win.find(this.delimiter);
        if (at < 0) {
          win.keepTail(this.delimiter.length - 1);
          return false;
        }
        win.consume(at + this.delimiter.length);
        this.state = { kind: 'headers' };
        return true;
      }
      case 'headers': {
        const end = win.find(HEADER_END);
        if (end < 0 || end > this.maxHeaderBytes) {
          if (end < 0 && win.length <= this.maxHeaderBytes) return false;
          out.push(new Error(`mjpeg part header larger than ${this.maxHeaderBytes} bytes`));
          win.clear();
          this.state = { kind: 'seek' };
          return end >= 0;
        }
        const length = /content-length:\s*(\d+)/i.exec(win.text(0, end));
        win.consume(end + HEADER_END.length);
        const declared = length ? Number(length[1]) : null;
        if (declared !== null && declared > this.maxPartBytes) {
          out.push(new Error(`mjpeg part too large (${declared} bytes > ${this.maxPartBytes})`));
          this.state = { kind: 'seek' };
          return true;
        }
        this.state = { kind: 'body', length: declared };
        return true;
      }
      case 'body': {
        const { length } = this.state;
        if (length !== null) {
          if (win.length < length) return false;
          out.push(win.copy(0, length));
          win.consume(length);
          this.state = { kind: 'seek' };
          return true;
        }
        const next = win.find(this.delimiter);
        if (next < 0) {
          if (win.length - this.delimiter.length > this.maxPartBytes) {
            out.push(new Error(`mjpeg part too large (> ${this.maxPartBytes} bytes without a boundary)`));
            win.keepTail(this.delimiter.length - 1);
            this.state = { kind: 'seek' };
          }
          return false;
        }
        let end = next;
        while (end > 0 && (win.at(end - 1) === 0x0a || win.at(end - 1) === 0x0d)) end--;
        if (end > this.maxPartBytes) out.push(new Error(`mjpeg part too large (${end} bytes > ${this.maxPartBytes})`));
        else out.push(win.copy(0, end));
        win.consume(next);
        this.state = { kind: 'seek' };
        return true;
      }
    }
  }
}

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

/** Splits a concatenated JPEG stream (ffmpeg `-f image2pipe -c:v mjpeg`) at SOI/EOI markers. */
export class JpegStreamSplitter {
  private readonly win = new ByteWindow();
  private inFrame = false;
  constructor(private readonly maxFrameBytes: number) {}

  get buffered(): number {
    return this.win.length;
  }

  push(chunk: Uint8Array): (Buffer | Error)[] {
    this.win.append(chunk);
    const out: (Buffer | Error)[] = [];
    for (;;) {
      if (!this.inFrame) {
        const soi = this.win.find(SOI);
        if (soi < 0) {
          // A trailing 0xFF may be the first half of the next start marker.
          this.win.keepTail(1);
          return out;
        }
        this.win.consume(soi);
        this.inFrame = true;
      }
      const eoi = this.win.find(EOI, 2);
      if (eoi < 0) {
        if (this.win.length > this.maxFrameBytes) {
          out.push(new Error(`stream frame too large (> ${this.maxFrameBytes} bytes)`));
          this.win.keepTail(1);
          this.inFrame = false;
        }
        return out;
      }
      if (eoi + 2 > this.maxFrameBytes) out.push(new Error(`stream frame too large (${eoi + 2} bytes > ${this.maxFrameBytes})`));
      else out.push(this.win.copy(0, eoi + 2));
      this.win.consume(eoi + 2);
      this.inFrame = false;
    }
  }
}
