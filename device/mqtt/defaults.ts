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
};

/** The wait before reconnect attempt `attempt` (0 = first after a loss): exponential, capped, jittered. */
export function reconnectDelayMs(attempt: number, o: { reconnectMinMs: number; reconnectMaxMs: number; reconnectJitter: number }, random: () => number = Math.random): number {
  const backoff = Math.min(o.reconnectMaxMs, o.reconnectMinMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(backoff * (1 - o.reconnectJitter * random())));
}
