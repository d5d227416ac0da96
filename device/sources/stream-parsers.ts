/**
 * Pure, incremental parsers for streamed frames, so they can be tested chunk by chunk.
 */

/** Splits `multipart/x-mixed-replace` (MJPEG over HTTP) into part bodies. */
export class MultipartParser {
  private buf: Buffer = Buffer.alloc(0);
  private readonly delimiter: Buffer;

  constructor(boundary: string, private readonly maxPartBytes: number) {
    this.delimiter = Buffer.from(`--${boundary.replace(/^--/, '')}`);
  }

  /** Feeds a chunk; returns the complete parts it finished (or Errors for oversized parts). */
  push(chunk: Buffer): (Buffer | Error)[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: (Buffer | Error)[] = [];
    for (;;) {
      const start = this.buf.indexOf(this.delimiter);
      if (start < 0) {
        this.trimGarbage();
        return out;
      }
      const headerEnd = this.buf.indexOf('\r\n\r\n', start);
      if (headerEnd < 0) return out;
      const headers = this.buf.subarray(start + this.delimiter.length, headerEnd).toString('latin1');
      const bodyStart = headerEnd + 4;
      const lengthMatch = /content-length:\s*(\d+)/i.exec(headers);
      let bodyEnd: number;
      if (lengthMatch) {
        const length = Number(lengthMatch[1]);
        if (length > this.maxPartBytes) {
          out.push(new Error(`mjpeg part too large (${length} bytes > ${this.maxPartBytes})`));
          this.buf = this.buf.subarray(bodyStart);
          continue;
        }
        if (this.buf.length < bodyStart + length) return out;
        bodyEnd = bodyStart + length;
      } else {
        const next = this.buf.indexOf(this.delimiter, bodyStart);
        if (next < 0) {
          if (this.buf.length - bodyStart > this.maxPartBytes) {
            out.push(new Error(`mjpeg part too large (> ${this.maxPartBytes} bytes without a boundary)`));
            this.buf = Buffer.alloc(0);
          }
          return out;
        }
        bodyEnd = next;
        while (bodyEnd > bodyStart && (this.buf[bodyEnd - 1] === 0x0a || this.buf[bodyEnd - 1] === 0x0d)) bodyEnd--;
      }
      out.push(Buffer.from(this.buf.subarray(bodyStart, bodyEnd)));
      this.buf = this.buf.subarray(bodyEnd);
    }
  }

  private trimGarbage(): void {
    // Keep only a tail that could still be the start of a delimiter.
    if (this.buf.length > this.delimiter.length) this.buf = this.buf.subarray(this.buf.length - this.delimiter.length);
  }
}

/** Splits a concatenated JPEG stream (ffmpeg `-f image2pipe -c:v mjpeg`) at SOI/EOI markers. */
export class JpegStreamSplitter {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Buffer): (Buffer | Error)[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: (Buffer | Error)[] = [];
    for (;;) {
      const soi = this.buf.indexOf(SOI);
      if (soi < 0) {
        // A trailing 0xFF may be the first half of the next start marker.
        this.buf = this.buf.length > 0 && this.buf[this.buf.length - 1] === 0xff ? this.buf.subarray(this.buf.length - 1) : Buffer.alloc(0);
        return out;
      }
      const eoi = this.buf.indexOf(EOI, soi + 2);
      if (eoi < 0) {
        if (this.buf.length - soi > this.maxFrameBytes) {
          out.push(new Error(`stream frame too large (> ${this.maxFrameBytes} bytes)`));
          this.buf = Buffer.alloc(0);
        } else if (soi > 0) this.buf = this.buf.subarray(soi);
        return out;
      }
      out.push(Buffer.from(this.buf.subarray(soi, eoi + 2)));
      this.buf = this.buf.subarray(eoi + 2);
    }
  }
}

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);
