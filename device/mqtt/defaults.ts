/**
 * Every MQTT connection option's default, in one place (the config schema and the client read
 * them from here). No `mqtt` import, so the config can use it without loading MQTT.js.
 */
export const MQTT_CONNECTION_DEFAULTS = {
  keepaliveS: 30,
  protocol: 'auto' as 'auto' | '5' | '3.1.1',
  /** First wait before reconnecting; doubles per failed attempt up to reconnectMaxMs. */
  reconnectMinMs: 1000,
  reconnectMaxMs: 30_000,
  /**
   * Each wait is drawn from [(1 - jitter) x backoff, backoff], so a fleet that lost its broker
   * together does not come back in lockstep.
   */
  reconnectJitter: 0.5,
  /** TCP + TLS + CONNACK; a black-holed broker (accepts, never answers) is given up after this. */
  connectTimeoutMs: 10_000,
  /** On stop: how long to wait for the `offline` status to be acked, then for a clean disconnect. */
  stopPublishTimeoutMs: 1000,
  stopEndTimeoutMs: 500,
  /**
   * SUBACK wait: a broker that keeps the link alive but never acks a SUBSCRIBE would otherwise leave
   * the commands feature deaf without a word; after this the subscription fails with a warning.
   */
  subscribeTimeoutMs: 10_000,
  /**
   * Store-and-forward retries after a transient failure (MQTT 5 Quota exceeded, a publish failed
   * without a reason code): the first after this, doubling per failure in a row up to
   * publishRetryMaxMs, jittered by reconnectJitter. A clean window resets it.
   */
  publishRetryMinMs: 200,
  publishRetryMaxMs: 30_000,
  /**
   * A refused or retried publish is logged at most once per topic per interval: a topic the broker
   * denies would otherwise log at frame rate; the counts stay exact in stats.
   */
  publishWarnIntervalMs: 60_000,
};

/** The defaults above the publisher reads (device/mqtt/publisher.ts); the others configure the connection. */
export type PublisherOptions = Pick<typeof MQTT_CONNECTION_DEFAULTS, 'publishRetryMinMs' | 'publishRetryMaxMs' | 'publishWarnIntervalMs' | 'reconnectJitter'>;

/** The wait before reconnect attempt `attempt` (0 = first after a loss): exponential, capped, jittered. */
export function reconnectDelayMs(attempt: number, o: { reconnectMinMs: number; reconnectMaxMs: number; reconnectJitter: number }, random: () => number = Math.random): number {
  return backoffDelayMs(attempt, o.reconnectMinMs, o.reconnectMaxMs, o.reconnectJitter, random);
}

/** The wait before retry `attempt` (0 = the first): minMs doubling per attempt, capped at maxMs, jittered. */
export function backoffDelayMs(attempt: number, minMs: number, maxMs: number, jitter: number, random: () => number = Math.random): number {
  const backoff = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(backoff * (1 - jitter * random())));
}
