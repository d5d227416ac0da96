/**
 * What the broker's answers to a window of queued publishes mean for the store-and-forward queue
 * (pure; exported for its tests). An MQTT 5 broker refuses one publish with a PUBACK reason code
 * >= 0x80, which MQTT.js passes on as the error's numeric `code` (mosquitto 2.0.11 answers 0x87 Not
 * authorized to a publish its ACL denies, measured in test/device/publisher-acl-mosquitto.test.ts);
 * MQTT 3.1.1 has no way to refuse one publish (mosquitto acks it and drops it).
 */

/**
 * Refusals that may pass with time; every other refusal is final for that message, since the broker
 * answers the same message the same way on every retry and one such message would hold up every
 * label behind it. 0x91 is a packet id clash of the session, not a fault of the message; 0x88,
 * 0x89, 0x93 and 0x96 are DISCONNECT codes, taken at their meaning should a broker put one on a PUBACK.
 */
export const TRANSIENT_REASON_CODES: ReadonlySet<number> = new Set([
  0x97, // Quota exceeded
  0x91, // Packet identifier in use
  0x88, // Server unavailable
  0x89, // Server busy
  0x93, // Receive Maximum exceeded
  0x96, // Message rate too high
]);

export type PublishOutcome =
  | { kind: 'acked' }
  /** Refused for good: the message leaves the queue, counted as dropped (`refused`). */
  | { kind: 'refused'; reasonCode: number; reason: string }
  /** Not delivered for now: the message stays queued and is sent again. */
  | { kind: 'retry'; reasonCode?: number; reason: string };

/** The outcome of one publish, from its settled promise. */
export function publishOutcome(result: PromiseSettledResult<unknown>): PublishOutcome {
  if (result.status === 'fulfilled') return { kind: 'acked' };
  const err = result.reason as { code?: unknown; message?: unknown } | null | undefined;
  const message = typeof err?.message === 'string' ? err.message : String(result.reason);
  const code = err?.code;
  // No reason code: the client's own error (connection closed with the publish in flight).
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 0xff) return { kind: 'retry', reason: message };
  // Reason codes below 0x80 are successes (MQTT 5 section 2.4); MQTT.js reports all but 0x10 as errors.
  if (code < 0x80) return { kind: 'acked' };
  const reason = reasonText(message, code);
  return TRANSIENT_REASON_CODES.has(code) ? { kind: 'retry', reasonCode: code, reason } : { kind: 'refused', reasonCode: code, reason };
}

/** `Not authorized (0x87)` from MQTT.js's `Publish error: Not authorized`; the code alone for a code MQTT.js has no name for. */
export function reasonText(message: string, code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = message.replace(/^Publish error: /, '');
  return name && name !== 'undefined' ? `${name} (${hex})` : `reason ${hex}`;
}

export interface WindowSettlement {
  /** How many messages from the window's head may leave the queue: each acked or refused for good. */
  done: number;
  /** The refused ones among those, by index in the window. */
  refused: { index: number; reasonCode: number; reason: string }[];
  /** The failure that ended the prefix early: it and every message after it are sent again. */
  retry: { index: number; reasonCode?: number; reason: string } | null;
}

/**
 * Settles a window in order: the queue can only commit a prefix (`commit(seq)` means everything up
 * to seq), so a message acked after a transient failure is sent again (a duplicate, as QoS 1 allows).
 */
export function settleWindow(results: readonly PromiseSettledResult<unknown>[]): WindowSettlement {
  const refused: WindowSettlement['refused'] = [];
  for (let index = 0; index < results.length; index++) {
    const o = publishOutcome(results[index]);
    if (o.kind === 'retry') return { done: index, refused, retry: { index, reasonCode: o.reasonCode, reason: o.reason } };
    if (o.kind === 'refused') refused.push({ index, reasonCode: o.reasonCode, reason: o.reason });
  }
  return { done: results.length, refused, retry: null };
}
