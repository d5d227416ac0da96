import type { Logger } from '../../src/log.ts';
import type { MessageQueue } from '../queue/types.ts';
import type { AgentStats } from '../stats.ts';
import type { DeviceMqttClient, PublishOptions } from './client.ts';

/** How many queued messages are in flight at once; MQTT.js keeps them in order on the wire. */
const WINDOW = 32;

/**
 * Routes outgoing messages: QoS >= 1 messages go through the store-and-forward queue (appended
 * first, removed once the broker acked them), so order holds across outages and restarts; QoS 0
 * messages are sent only while connected and counted as dropped otherwise.
 */
export class Publisher {
  private draining = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly mqtt: DeviceMqttClient, private readonly queue: MessageQueue, private readonly stats: AgentStats, private readonly log: Logger) {
    mqtt.on('connect', () => this.kick());
  }

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

  private kick(): void {
    if (this.draining || this.stopped) return;
    this.draining = true;
    this.drain().catch((err: Error) => this.log.warn(`queue drain: ${err.message}`)).finally(() => {
      this.draining = false;
      if (this.queue.depth === 0) this.notifyIdle();
      else if (this.mqtt.connected && !this.stopped) setTimeout(() => this.kick(), 200).unref();
    });
  }

  private async drain(): Promise<void> {
    while (this.mqtt.connected && !this.stopped) {
      const batch = this.queue.peek(WINDOW);
      if (batch.length === 0) return;
      // Acks arrive after a reconnect too: MQTT.js resends unacknowledged QoS 1 packets itself.
      await Promise.all(batch.map((m) => this.mqtt.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain })));
      await this.queue.commit(batch[batch.length - 1].seq);
    }
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

  stop(): void {
    this.stopped = true;
    this.notifyIdle();
  }
}
