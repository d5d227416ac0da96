import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../../src/fs-atomic.ts';
import { UserError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { MemoryQueue } from './memory.ts';
import { decodeSegment, encodeRecord } from './record.ts';
import type { QueueBounds, QueueFault, StoredMessage } from './types.ts';

/** Every DiskQueue option's default, in one place. */
export const DISK_QUEUE_DEFAULTS = {
  /** Start a new segment file past this size. */
  segmentBytes: 4 * 1024 * 1024,
  /** fsync appended data at most this often (0 = on every append). */
  fsyncIntervalMs: 1000,
  /** Write the committed seq at most this often (0 = on every commit); always on flush/close. */
  commitIntervalMs: 1000,
  /** After a failed write (disk full), try again this often; labels wait in memory meanwhile. */
  retryIntervalMs: 1000,
};

export interface DiskQueueOptions extends Partial<typeof DISK_QUEUE_DEFAULTS> {
  dir: string;
  bounds?: Partial<QueueBounds>;
  now?: () => number;
  log?: Logger;
  /** Called with every counted fault (the agent adds them to its stats). */
  onFault?: (fault: QueueFault, count: number) => void;
}

const SEGMENT_RE = /^seg-(\d{16})(?:-(\d{1,4}))?\.jsonl$/;
const COMMIT_FILE = 'committed.json';
const STALE_TEMP_RE = /^\.committed\.json\..*\.tmp$/;
const segmentName = (firstSeq: number, n: number) => `seg-${String(firstSeq).padStart(16, '0')}${n > 0 ? `-${n}` : ''}.jsonl`;

/** A segment file, tracked by name: which ones may be deleted never depends on list positions. */
interface Segment {
  name: string;
  /** Highest seq fully written to it (0: nothing readable). */
  maxSeq: number;
}

interface OpenSegment {
  seg: Segment;
  handle: FileHandle;
  bytes: number;
  dirty: boolean;
}

type ErrnoError = Error & { code?: string };

/**
 * On-disk queue: checksummed JSON-lines segment files (device/queue/record.ts) plus
 * `committed.json`, the highest delivered seq, replaced atomically and fsynced with its directory.
 * Records carry their seq, so restarts need no index.
 *
 * A segment is written by one process, once: every start and every failed write begins a new
 * file, so nothing is ever appended after a torn record. At open, segments without one readable
 * record are removed and counted, damaged records are counted and logged, delivered segments are
 * deleted. A write refused by the disk (ENOSPC) keeps the label in memory (bounded by the queue
 * bounds) and is retried every `retryIntervalMs`; delivery goes on meanwhile. Appends are fsynced
 * on a timer: a power cut loses at most that window, a process crash nothing.
 */
export class DiskQueue extends MemoryQueue {
  private readonly segments = new Set<Segment>();
  private current: OpenSegment | null = null;
  /** Appended but not on disk yet, in seq order (a subset of `pending`). */
  private waiting: StoredMessage[] = [];
  /** Set while writes fail; appends then wait for the retry timer instead of hitting the disk. */
  private failing: { code: string; since: number } | null = null;
  private faultCountedUpTo = 0;
  private commitFailing = false;
  private chain: Promise<void> = Promise.resolve();
  private fsyncTimer: NodeJS.Timeout | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private writtenCommit = 0;
  private closed = false;
  private readonly o: typeof DISK_QUEUE_DEFAULTS;
  private readonly log: Logger;

  constructor(private readonly opts: DiskQueueOptions) {
    super(opts.bounds, opts.now);
    const given = Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in DISK_QUEUE_DEFAULTS && v !== undefined));
    this.o = { ...DISK_QUEUE_DEFAULTS, ...given };
    this.log = opts.log ?? createLogger('queue');
  }

  override get unwritten(): number {
    return this.waiting.length;
  }

  private fault(fault: QueueFault, count = 1): void {
    this.faults[fault] += count;
    this.opts.onFault?.(fault, count);
  }

  override async open(): Promise<void> {
    const dir = this.opts.dir;
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new UserError(`queue dir ${dir}: cannot create (${(err as ErrnoError).code ?? (err as Error).message})`);
    }
    await this.readCommitted();
    const names = await readdir(dir);
    for (const n of names.filter((n) => STALE_TEMP_RE.test(n))) await this.remove(n);
    const bySeq = new Map<number, StoredMessage>();
    let maxSeq = this.committedSeq;
    for (const name of names.filter((n) => SEGMENT_RE.test(n)).sort()) {
      const c = decodeSegment(await readFile(join(dir, name), 'utf8'));
      if (c.corrupt > 0) {
        this.fault('corrupt-record', c.corrupt);
        this.log.warn(`queue ${join(dir, name)}: ${c.corrupt} corrupt record(s) skipped (checksum or JSON)`);
      }
      if (c.torn) this.fault('torn-record');
      if (c.records.length === 0) {
        this.fault('dropped-segment');
        this.log.warn(`queue ${join(dir, name)}: no readable record (${c.torn ? 'only a torn write' : 'empty'}); removed`);
        await this.remove(name);
        continue;
      }
      let segMax = 0;
      for (const r of c.records) {
        segMax = Math.max(segMax, r.seq);
        if (r.seq > this.committedSeq && !bySeq.has(r.seq)) bySeq.set(r.seq, r);
      }
      maxSeq = Math.max(maxSeq, segMax);
      if (segMax <= this.committedSeq) await this.remove(name);
      else this.segments.add({ name, maxSeq: segMax });
    }
    for (const m of [...bySeq.values()].sort((a, b) => a.seq - b.seq)) this.push(m);
    this.nextSeq = maxSeq + 1;
  }

  private async readCommitted(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.opts.dir, COMMIT_FILE), 'utf8');
    } catch {
      return; // no committed file yet: nothing was delivered
    }
    try {
      const c = JSON.parse(text) as { committed?: unknown };
      if (!Number.isSafeInteger(c.committed) || (c.committed as number) < 0) throw new Error('no "committed" integer');
      this.committedSeq = this.writtenCommit = c.committed as number;
    } catch (err) {
      // Delivering everything on disk again is the safe side of at-least-once.
      this.fault('corrupt-record');
      this.log.warn(`queue ${join(this.opts.dir, COMMIT_FILE)}: unreadable (${(err as Error).message}); every queued label will be sent again`);
    }
  }

  /** Runs disk work one task at a time, in order; a failed task does not stop the next. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch((err: Error) => this.log.warn(`queue ${this.opts.dir}: ${err.message}`));
    return this.chain;
  }

  protected override persistAppend(m: StoredMessage): Promise<void> {
    this.waiting.push(m);
    if (this.failing || this.closed) return Promise.resolve();
    return this.enqueue(() => this.writeWaiting());
  }

  private async writeWaiting(): Promise<void> {
    // Delivered or dropped while the disk was full: nothing left to write for those.
    const oldest = this.pending[0]?.seq ?? Infinity;
    if (this.waiting.length > 0 && this.waiting[0].seq < oldest) this.waiting = this.waiting.filter((m) => m.seq >= oldest);
    while (this.waiting.length > 0) {
      try {
        await this.writeRecord(this.waiting[0]);
      } catch (err) {
        await this.writeFailed(err as ErrnoError);
        return;
      }
      this.waiting.shift();
    }
    if (this.failing) {
      this.log.info(`queue ${this.opts.dir}: writable again after ${Math.round((Date.now() - this.failing.since) / 1000)} s; the labels held in memory are on disk`);
      this.failing = null;
    }
  }

  private async writeRecord(m: StoredMessage): Promise<void> {
    if (!this.current || this.current.bytes >= this.o.segmentBytes) await this.rotate(m.seq);
    const cur = this.current!;
    const buf = encodeRecord(m);
    const { bytesWritten } = await cur.handle.write(buf, 0, buf.length);
    // A short write leaves a torn record: writeFailed closes this segment for good.
    if (bytesWritten !== buf.length) throw Object.assign(new Error(`short write (${bytesWritten} of ${buf.length} bytes)`), { code: 'ENOSPC' });
    cur.bytes += buf.length;
    cur.seg.maxSeq = m.seq;
    cur.dirty = true;
    if (this.o.fsyncIntervalMs === 0) await this.sync();
    else this.fsyncTimer ??= setTimeout(() => {
      this.fsyncTimer = null;
      void this.enqueue(() => this.sync());
    }, this.o.fsyncIntervalMs).unref();
  }

  private async writeFailed(err: ErrnoError): Promise<void> {
    const code = err.code ?? 'EIO';
    const fault: QueueFault = code === 'ENOSPC' || code === 'EDQUOT' ? 'disk-full' : 'write-error';
    await this.closeCurrent();
    const fresh = this.waiting.filter((m) => m.seq > this.faultCountedUpTo).length;
    if (fresh > 0) {
      this.fault(fault, fresh);
      this.faultCountedUpTo = this.waiting[this.waiting.length - 1].seq;
    }
    if (!this.failing) {
      this.failing = { code, since: Date.now() };
      const what = fault === 'disk-full' ? 'disk full' : 'cannot write';
      this.log.warn(`queue ${this.opts.dir}: ${what} (${code}: ${err.message}); labels stay in memory (within queue.maxBytes) and are written again every ${this.o.retryIntervalMs} ms`);
    }
    if (!this.closed) this.retryTimer ??= setTimeout(() => {
      this.retryTimer = null;
      void this.enqueue(() => this.writeWaiting());
    }, this.o.retryIntervalMs).unref();
  }

  private async rotate(firstSeq: number): Promise<void> {
    await this.closeCurrent();
    // 'wx': never open a file that exists (a segment of an earlier run, or one abandoned after a failed write).
    for (let n = 0; ; n++) {
      const name = segmentName(firstSeq, n);
      try {
        const handle = await open(join(this.opts.dir, name), 'wx');
        const seg = { name, maxSeq: 0 };
        this.segments.add(seg);
        this.current = { seg, handle, bytes: 0, dirty: false };
        break;
      } catch (err) {
        if ((err as ErrnoError).code !== 'EEXIST' || n >= 9999) throw err;
      }
    }
    await syncDir(this.opts.dir); // the new file's directory entry survives a power cut
  }

  private async closeCurrent(): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    try {
      if (cur.dirty) await cur.handle.sync();
    } catch (err) {
      this.log.warn(`queue ${join(this.opts.dir, cur.seg.name)}: fsync failed (${(err as ErrnoError).code ?? (err as Error).message})`);
    }
    await cur.handle.close().catch(() => undefined);
    if (cur.seg.maxSeq === 0 || cur.seg.maxSeq <= this.committedSeq) await this.removeSegment(cur.seg);
  }

  private async sync(): Promise<void> {
    const cur = this.current;
    if (!cur || !cur.dirty) return;
    cur.dirty = false;
    try {
      await cur.handle.sync();
    } catch (err) {
      this.fault('write-error');
      this.log.warn(`queue ${join(this.opts.dir, cur.seg.name)}: fsync failed (${(err as ErrnoError).code ?? (err as Error).message}); starting a new segment`);
      await this.closeCurrent();
    }
  }

  protected override persistCommit(_seq: number): Promise<void> {
    if (this.o.commitIntervalMs === 0) return this.enqueue(() => this.writeCommit());
    this.scheduleCommit();
    return Promise.resolve();
  }

  private scheduleCommit(): void {
    if (this.closed) return;
    this.commitTimer ??= setTimeout(() => {
      this.commitTimer = null;
      void this.enqueue(() => this.writeCommit());
    }, this.o.commitIntervalMs).unref();
  }

  private async writeCommit(): Promise<void> {
    const seq = this.committedSeq;
    if (seq !== this.writtenCommit) {
      try {
        await writeFileAtomic(join(this.opts.dir, COMMIT_FILE), `${JSON.stringify({ committed: seq })}\n`, { durable: true });
        this.writtenCommit = seq;
        if (this.commitFailing) this.log.info(`queue ${this.opts.dir}: ${COMMIT_FILE} written again`);
        this.commitFailing = false;
      } catch (err) {
        if (!this.commitFailing) this.log.warn(`queue ${this.opts.dir}: cannot write ${COMMIT_FILE} (${(err as ErrnoError).code ?? (err as Error).message}); retrying, a restart meanwhile sends ` +
          `some labels twice`);
        this.commitFailing = true;
        this.scheduleCommit();
      }
    }
    await this.deleteDelivered();
  }

  /**
   * Any closed segment whose records are all acked goes, wherever it is in the list. Deleting
   * before committed.json is durable loses nothing: the broker has those labels.
   */
  private async deleteDelivered(): Promise<void> {
    for (const seg of [...this.segments]) {
      if (seg !== this.current?.seg && seg.maxSeq <= this.committedSeq) await this.removeSegment(seg);
    }
  }

  private async removeSegment(seg: Segment): Promise<void> {
    this.segments.delete(seg);
    await this.remove(seg.name);
  }

  private async remove(name: string): Promise<void> {
    await rm(join(this.opts.dir, name), { force: true }).catch((err: ErrnoError) => this.log.warn(`queue ${join(this.opts.dir, name)}: cannot remove (${err.code ?? err.message})`));
  }

  override async flush(): Promise<void> {
    await this.enqueue(async () => {
      await this.writeWaiting();
      await this.sync();
      await this.writeCommit();
    });
  }

  override async close(): Promise<void> {
    this.closed = true;
    for (const t of [this.fsyncTimer, this.commitTimer, this.retryTimer]) if (t) clearTimeout(t);
    this.fsyncTimer = this.commitTimer = this.retryTimer = null;
    await this.flush();
    await this.enqueue(() => this.closeCurrent());
    if (this.waiting.length > 0) {
      this.log.error(`queue ${this.opts.dir}: ${this.waiting.length} undelivered label(s) could not be written (${this.failing?.code ?? 'write error'}) and are lost with this stop`);
    }
  }
}
