import { DEFAULT_QUEUE_BOUNDS, QUEUE_FAULTS, type DropReason, type MessageQueue, type QueueBounds, type QueueFault, type QueuedMessage, type StoredMessage } from './types.ts';

export function messageBytes(m: QueuedMessage): number {
  return Buffer.byteLength(m.topic) + Buffer.byteLength(m.payload) + 16;
}

/** The in-memory queue; also the bookkeeping base of the disk queue (which adds persistence hooks). */
export class MemoryQueue implements MessageQueue {
  protected pending: StoredMessage[] = [];
  protected nextSeq = 1;
  protected committedSeq = 0;
  private pendingBytes = 0;
  readonly dropped = { total: 0, byReason: { 'max-messages': 0, 'max-bytes': 0, 'max-age': 0 } as Record<DropReason, number> };
  readonly faults = Object.fromEntries(QUEUE_FAULTS.map((f) => [f, 0])) as Record<QueueFault, number>;
  protected readonly bounds: QueueBounds;

  constructor(bounds: Partial<QueueBounds> = {}, private readonly now: () => number = Date.now) {
    this.bounds = { ...DEFAULT_QUEUE_BOUNDS, ...bounds };
  }

  async open(): Promise<void> {}

  get depth(): number {
    return this.pending.length;
  }

  get unwritten(): number {
    return 0;
  }

  get bytes(): number {
    return this.pendingBytes;
  }

  protected push(m: StoredMessage): void {
    this.pending.push(m);
    this.pendingBytes += messageBytes(m);
  }

  async append(msg: QueuedMessage): Promise<void> {
    const stored: StoredMessage = { ...msg, seq: this.nextSeq++ };
    this.push(stored);
    await this.persistAppend(stored);
    await this.enforceBounds();
  }

  peek(max: number): StoredMessage[] {
    this.dropExpired();
    return this.pending.slice(0, max);
  }

  async commit(seq: number): Promise<void> {
    if (seq <= this.committedSeq) return;
    this.committedSeq = seq;
    while (this.pending.length > 0 && this.pending[0].seq <= seq) this.removeHead();
    await this.persistCommit(seq);
  }

  private removeHead(): StoredMessage {
    const m = this.pending.shift()!;
    this.pendingBytes -= messageBytes(m);
    return m;
  }

  private dropHead(reason: DropReason): number {
    const m = this.removeHead();
    this.dropped.total++;
    this.dropped.byReason[reason]++;
    return m.seq;
  }

  private dropExpired(): number {
    let last = 0;
    const oldest = this.now() - this.bounds.maxAgeMs;
    while (this.pending.length > 0 && this.pending[0].ts < oldest) last = this.dropHead('max-age');
    return last;
  }

  private async enforceBounds(): Promise<void> {
    let last = this.dropExpired();
    while (this.pending.length > this.bounds.maxMessages) last = this.dropHead('max-messages');
    while (this.pending.length > 0 && this.pendingBytes > this.bounds.maxBytes) last = this.dropHead('max-bytes');
    if (last > this.committedSeq) {
      this.committedSeq = last;
      await this.persistCommit(last);
    }
  }

  protected async persistAppend(_m: StoredMessage): Promise<void> {}
  protected async persistCommit(_seq: number): Promise<void> {}
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
