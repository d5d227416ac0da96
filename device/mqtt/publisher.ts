import type { Logger } from '../../src/log.ts';
import type { MessageQueue } from '../queue/types.ts';
import type { AgentStats } from '../stats.ts';
import { RateLimitedWarnings } from '../rate-limited-warnings.ts';
import type { DeviceMqttClient, PublishOptions } from './client.ts';
import { backoffDelayMs, MQTT_CONNECTION_DEFAULTS, type PublisherOptions } from './defaults.ts';
import { settleWindow } from './publish-outcome.ts';

/** How many queued messages are in flight at once; MQTT.js keeps them in order on the wire. */
const WINDOW = 32;

/**
 * Routes outgoing messages: QoS >= 1 messages go through the store-and-forward queue (appended
 * first, removed once the broker acked them), so order holds across outages and restarts; QoS 0
 * messages are sent only while connected and counted as dropped otherwise. A queued message the
 * broker refuses for good (MQTT 5 PUBACK >= 0x80, publish-outcome.ts) leaves the queue counted as
 * `refused`; a transient failure keeps it and retries with backoff.
 */
export class Publisher {
  private draining = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  /** Drains in a row that ended in a transient failure (drives the retry backoff). */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly o: PublisherOptions;
  private readonly warnings: RateLimitedWarnings;

  constructor(private readonly mqtt: DeviceMqttClient, private readonly queue: MessageQueue, private readonly stats: AgentStats, log: Logger, opts: Partial<PublisherOptions> = {}) {
    const { publishRetryMinMs, publishRetryMaxMs, publishWarnIntervalMs, reconnectJitter } = MQTT_CONNECTION_DEFAULTS;
    this.o = { publishRetryMinMs, publishRetryMaxMs, publishWarnIntervalMs, reconnectJitter, ...opts };
    this.warnings = new RateLimitedWarnings((m) => log.warn(m), this.o.publishWarnIntervalMs);
    mqtt.on('connect', this.onConnect);
  }

  /** A reconnect is a fresh chance: the queue does not wait out a backoff armed on the old link. */
  private readonly onConnect = (): void => {
    this.cancelRetry();
    this.kick();
  };

  async send(topic: string, payload: string, opts: PublishOptions): Promise<void> {
    if (opts.qos === 0) {
      if (!this.mqtt.connected) {
        this.stats.drop('offline-qos0');
        return;
      }
      await this.mqtt.publish(topic, payload, opts).catch(() => this.stats.drop('offline-qos0'));
      return;
    }
    await this.queue.append({ topic, payload, qos: opts.qos, retain: opts.retain, ts: Date.now() });
    this.kick();
  }

  /** Sends now if connected, never queued (status, info, command results: stale copies are useless). */
  async sendLive(topic: string, payload: string, opts: PublishOptions): Promise<boolean> {
    if (!this.mqtt.connected) return false;
    try {
      await this.mqtt.publish(topic, payload, opts);
      return true;
    } catch {
      return false;
    }
  }

  /** Starts draining unless a drain runs, a retry waits out its backoff, or the publisher stopped. */
  private kick(): void {
    if (this.draining || this.stopped || this.retryTimer) return;
    this.draining = true;
    this.drain().then((failure) => this.drainEnded(failure), (err: Error) => this.drainEnded(`queue drain: ${err.message}`));
  }

  private drainEnded(failure: string | null): void {
    this.draining = false;
    if (failure) this.failures++;
    if (this.queue.depth === 0) this.notifyIdle();
    else if (this.mqtt.connected && !this.stopped) this.retryLater(failure);
  }

  private retryLater(failure: string | null): void {
    const wait = backoffDelayMs(Math.max(0, this.failures - 1), this.o.publishRetryMinMs, this.o.publishRetryMaxMs, this.o.reconnectJitter);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, wait);
    this.retryTimer.unref();
    if (failure) this.warnings.warn('retried publishes', `mqtt: ${failure}; kept in the queue, retrying in ${wait} ms`);
  }

  private cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Sends window after window while connected; what stopped it early (the rest waits for a retry), or null. */
  private async drain(): Promise<string | null> {
    while (this.mqtt.connected && !this.stopped) {
      const batch = this.queue.peek(WINDOW);
      if (batch.length === 0) return null;
      // Acks arrive after a reconnect too: MQTT.js resends unacknowledged QoS 1 packets itself.
      // allSettled, not all: nothing of a window is sent again while part of it is in flight.
      const results = await Promise.allSettled(batch.map((m) => this.mqtt.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain })));
      const { done, refused, retry } = settleWindow(results);
      if (done > 0) await this.queue.commit(batch[done - 1].seq);
      for (const r of refused) {
        const { topic } = batch[r.index];
        this.stats.drop('refused');
        this.warnings.warn(`refused on ${topic}`, `mqtt: the broker refused a message on ${topic}: ${r.reason}; dropped, not retried (stats dropped.byReason.refused)`);
      }
      if (retry) return `the broker did not take a message on ${batch[retry.index].topic}: ${retry.reason}`;
      this.failures = 0;
    }
    return null;
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of w) resolve();
  }

  /** Waits until the queue is empty (everything acked) or the timeout passes; true when empty. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.queue.depth === 0) return true;
    this.kick();
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
    return this.queue.depth === 0;
  }

  /** Stops draining and lets go of the client: a stopped publisher keeps no listener on it. */
  stop(): void {
    this.stopped = true;
    this.mqtt.off('connect', this.onConnect);
    this.cancelRetry();
    this.notifyIdle();
  }
}
