import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { UserError } from '../../src/errors.ts';
import { MemoryQueue } from './memory.ts';
import type { QueueBounds, StoredMessage } from './types.ts';

export interface DiskQueueOptions {
  dir: string;
  bounds?: Partial<QueueBounds>;
  /** Start a new segment file past this size. */
  segmentBytes?: number;
  /** fsync appended data at most this often (0 = on every append). */
  fsyncIntervalMs?: number;
  /** Write the committed offset at most this often; it is always written on flush/close. */
  commitIntervalMs?: number;
  now?: () => number;
}

const SEGMENT_RE = /^seg-(\d{16})\.jsonl$/;
const segmentName = (firstSeq: number) => `seg-${String(firstSeq).padStart(16, '0')}.jsonl`;

/**
 * On-disk queue: append-only JSON-lines segment files plus `committed.json` (the highest delivered
 * seq), replaced atomically. Each record carries its seq, so restarts need no index. A torn last
 * line (power cut mid-write) is ignored, and every open starts a new segment so nothing is appended
 * after it. Appends are fsynced on a timer: a power cut loses at most that window, a process crash
 * loses nothing (the data is in the page cache). Delivered segments are deleted.
 */
export class DiskQueue extends MemoryQueue {
  private handle: FileHandle | null = null;
  private segmentSize = 0;
  /** Per segment file: its last seq, to know when it is fully delivered. */
  private segments: { name: string; lastSeq: number }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private dirty = false;
  private fsyncTimer: NodeJS.Timeout | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private writtenCommit = 0;
  private readonly segmentBytes: number;
  private readonly fsyncIntervalMs: number;
  private readonly commitIntervalMs: number;

  constructor(private readonly opts: DiskQueueOptions) {
    super(opts.bounds, opts.now);
    this.segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 1000;
    this.commitIntervalMs = opts.commitIntervalMs ?? 1000;
  }

  override async open(): Promise<void> {
    const dir = this.opts.dir;
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new UserError(`queue dir ${dir}: cannot create (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      const c = JSON.parse(await readFile(join(dir, 'committed.json'), 'utf8')) as { committed?: unknown };
      if (typeof c.committed === 'number') this.committedSeq = this.writtenCommit = c.committed;
    } catch {
      // No committed file yet: nothing was delivered.
    }
    const names = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    let maxSeq = this.committedSeq;
    for (const name of names) {
      let last = 0;
      for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
        const m = parseRecord(line);
        if (!m) continue;
        last = Math.max(last, m.seq);
        maxSeq = Math.max(maxSeq, m.seq);
        if (m.seq > this.committedSeq) this.push(m);
      }
      this.segments.push({ name, lastSeq: last });
    }
    this.pending.sort((a, b) => a.seq - b.seq);
    this.nextSeq = maxSeq + 1;
    await this.deleteDeliveredSegments();
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  protected override persistAppend(m: StoredMessage): Promise<void> {
    const line = `${JSON.stringify({ s: m.seq, t: m.topic, p: m.payload, q: m.qos, r: m.retain ? 1 : 0, ts: m.ts })}\n`;
    return this.enqueue(async () => {
      if (!this.handle || this.segmentSize >= this.segmentBytes) await this.rotate(m.seq);
      await this.handle!.write(line);
      this.segmentSize += Buffer.byteLength(line);
      this.segments[this.segments.length - 1].lastSeq = m.seq;
      this.dirty = true;
      if (this.fsyncIntervalMs === 0) await this.sync();
      else this.fsyncTimer ??= setTimeout(() => {
        this.fsyncTimer = null;
        this.enqueue(() => this.sync()).catch(() => undefined);
      }, this.fsyncIntervalMs);
    });
  }

  private async rotate(firstSeq: number): Promise<void> {
    if (this.handle) {
      await this.sync();
      await this.handle.close();
    }
    const name = segmentName(firstSeq);
    this.handle = await open(join(this.opts.dir, name), 'a');
    this.segmentSize = 0;
    this.segments.push({ name, lastSeq: firstSeq });
  }

  private async sync(): Promise<void> {
    if (this.handle && this.dirty) {
      this.dirty = false;
      await this.handle.sync();
    }
  }

  protected override persistCommit(_seq: number): Promise<void> {
    if (this.commitIntervalMs === 0) return this.enqueue(() => this.writeCommit());
    this.commitTimer ??= setTimeout(() => {
      this.commitTimer = null;
      this.enqueue(() => this.writeCommit()).catch(() => undefined);
    }, this.commitIntervalMs);
    return Promise.resolve();
  }

  private async writeCommit(): Promise<void> {
    if (this.committedSeq === this.writtenCommit) return;
    const seq = this.committedSeq;
    await writeFileAtomic(join(this.opts.dir, 'committed.json'), `${JSON.stringify({ committed: seq })}\n`);
    this.writtenCommit = seq;
    await this.deleteDeliveredSegments();
  }

  private async deleteDeliveredSegments(): Promise<void> {
    // Never the open (last) segment: it is still being appended to.
    while (this.segments.length > 1 && this.segments[0].lastSeq <= this.writtenCommit) {
      await rm(join(this.opts.dir, this.segments.shift()!.name), { force: true });
    }
  }

  override async flush(): Promise<void> {
    await this.enqueue(async () => {
      await this.sync();
      await this.writeCommit();
    });
  }

  override async close(): Promise<void> {
    if (this.fsyncTimer) clearTimeout(this.fsyncTimer);
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.fsyncTimer = this.commitTimer = null;
    await this.flush();
    await this.enqueue(async () => {
      await this.handle?.close();
      this.handle = null;
    });
  }
}

function parseRecord(line: string): StoredMessage | null {
  if (!line) return null;
  try {
    const r = JSON.parse(line) as { s: number; t: string; p: string; q: 0 | 1 | 2; r?: number; ts: number };
    if (typeof r.s !== 'number' || typeof r.t !== 'string' || typeof r.p !== 'string') return null;
    return { seq: r.s, topic: r.t, payload: r.p, qos: r.q ?? 1, retain: r.r === 1, ts: r.ts ?? 0 };
  } catch {
    return null; // torn write
  }
}
