/**
 * Store-and-forward queue for QoS 1 messages (labels) while the broker is unreachable. Pluggable
 * like MQTT.js stores: an in-memory default and an on-disk implementation that survives restarts.
 * Delivery is at-least-once: a message is only removed once `commit` says the broker acked it (or
 * refused it for good: the publisher counts those as dropped, `refused`).
 */
export interface QueuedMessage {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain?: boolean;
  /** Enqueue time, ms since epoch (age bound). */
  ts: number;
}

export interface StoredMessage extends QueuedMessage {
  /** Monotonic sequence number, never reused (also across restarts for the disk queue). */
  seq: number;
}

export interface QueueBounds {
  maxMessages: number;
  maxBytes: number;
  maxAgeMs: number;
}

export const DEFAULT_QUEUE_BOUNDS: QueueBounds = { maxMessages: 100_000, maxBytes: 64 * 1024 * 1024, maxAgeMs: 7 * 24 * 3600 * 1000 };

export type DropReason = 'max-messages' | 'max-bytes' | 'max-age';

/**
 * Storage trouble, counted (the agent adds them to `stats.errors.byReason` as `queue-<fault>`):
 * `disk-full` a label could not be written (ENOSPC/EDQUOT) and is held in memory and retried;
 * `write-error` the same for any other write error; `corrupt-record` a complete record that failed
 * its checksum, skipped at open; `torn-record` a record cut short (power cut, full disk), skipped;
 * `dropped-segment` a segment file without one readable record, removed at open.
 */
export type QueueFault = 'disk-full' | 'write-error' | 'corrupt-record' | 'torn-record' | 'dropped-segment';
export const QUEUE_FAULTS: readonly QueueFault[] = ['disk-full', 'write-error', 'corrupt-record', 'torn-record', 'dropped-segment'];

export interface MessageQueue {
  open(): Promise<void>;
  /** Adds at the tail; drops from the head (oldest first) when a bound is exceeded, counting why. */
  append(msg: QueuedMessage): Promise<void>;
  /** Up to `max` oldest undelivered messages, in order. */
  peek(max: number): StoredMessage[];
  /** Everything with seq <= `seq` was delivered (acked, or refused by the broker for good). */
  commit(seq: number): Promise<void>;
  readonly depth: number;
  readonly bytes: number;
  readonly dropped: { total: number; byReason: Record<DropReason, number> };
  readonly faults: Record<QueueFault, number>;
  /** Messages held only in memory because the last write failed (disk full); retried. */
  readonly unwritten: number;
  /** Makes everything appended so far durable, as far as the disk lets it; never rejects. */
  flush(): Promise<void>;
  /** Flushes and releases files; never rejects (what cannot be written is logged and counted). */
  close(): Promise<void>;
}
