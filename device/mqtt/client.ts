import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { UserError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';

/**
 * The only module that imports `mqtt`. Wraps one MQTT.js client: MQTT 5 first, falling back to
 * 3.1.1 when the broker refuses the protocol version (aedes, old mosquitto); reconnects with
 * exponential backoff; sets the last will. Topics and payloads are built by the caller.
 */
export interface MqttConnectionOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** File paths for TLS. */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  keepaliveS: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  protocol: 'auto' | '5' | '3.1.1';
  connectTimeoutMs?: number;
}

export interface Will {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export interface PublishOptions {
  qos: 0 | 1 | 2;
  retain?: boolean;
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  /** Delivered from the broker's retained store (not a live publish). */
  retain: boolean;
}

/** Events: 'connect' (every (re)connect), 'offline', 'message' (IncomingMessage). */
export class DeviceMqttClient extends EventEmitter {
  private client: MqttClient | null = null;
  private protocolVersion: 4 | 5;
  private everConnected = false;
  private backoffMs: number;
  private stopping = false;
  /** Outage logging: one warning per outage and per distinct error, not one per reconnect attempt. */
  private outageErrors = new Set<string>();
  private inOutage = false;
  /** Send times of QoS >= 1 publishes still waiting for their ack, oldest first (read by /healthz). */
  private readonly unacked = new Set<{ at: number }>();

  constructor(private readonly opts: MqttConnectionOptions, private readonly will: Will, private readonly log: Logger) {
    super();
    this.protocolVersion = opts.protocol === '3.1.1' ? 4 : 5;
    this.backoffMs = opts.reconnectMinMs;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get protocol(): string {
    return this.protocolVersion === 5 ? '5' : '3.1.1';
  }

  /** Starts connecting; does not wait for the broker (the agent runs and queues while it is away). */
  start(): void {
    this.client = this.createClient();
  }

  private readTls(): Pick<IClientOptions, 'ca' | 'cert' | 'key'> {
    const read = (path: string | undefined, what: string) => {
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new UserError(`mqtt.tls.${what} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    };
    return { ca: read(this.opts.ca, 'ca'), cert: read(this.opts.cert, 'cert'), key: read(this.opts.key, 'key') };
  }

  private createClient(): MqttClient {
    const options: IClientOptions = {
      clientId: this.opts.clientId,
      username: this.opts.username,
      password: this.opts.password,
      keepalive: this.opts.keepaliveS,
      protocolVersion: this.protocolVersion,
      clean: true,
      reconnectPeriod: this.backoffMs,
      connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      will: { topic: this.will.topic, payload: Buffer.from(this.will.payload), qos: this.will.qos, retain: this.will.retain },
      rejectUnauthorized: this.opts.rejectUnauthorized ?? true,
      // Messages are only published while connected (the store-and-forward queue holds the rest).
      queueQoSZero: false,
      ...this.readTls(),
    };
    const client = mqtt.connect(this.opts.url, options);
    client.on('connect', () => {
      if (!this.everConnected) this.log.info(`connected to ${this.opts.url} (MQTT ${this.protocol})`);
      else this.log.info(`reconnected to ${this.opts.url}`);
      this.everConnected = true;
      this.inOutage = false;
      this.outageErrors.clear();
      this.backoffMs = this.opts.reconnectMinMs;
      client.options.reconnectPeriod = this.backoffMs;
      this.emit('connect');
    });
    client.on('close', () => {
      if (this.stopping) return;
      // Exponential backoff between reconnect attempts, reset on success.
      client.options.reconnectPeriod = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.opts.reconnectMaxMs);
    });
    client.on('offline', () => {
      if (!this.stopping && !this.inOutage) this.log.warn(`broker ${this.opts.url} unreachable; labels are queued until it is back`);
      this.inOutage = true;
      this.emit('offline');
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      const refusedVersion = err.code === 1 || err.code === 132;
      if (refusedVersion && this.protocolVersion === 5 && this.opts.protocol === 'auto') {
        this.log.info('broker refused MQTT 5; falling back to MQTT 3.1.1');
        this.protocolVersion = 4;
        client.end(true);
        this.client = this.createClient();
        return;
      }
      if (!this.outageErrors.has(err.message)) this.log.warn(`mqtt: ${err.message}`);
      this.outageErrors.add(err.message);
    });
    client.on('message', (topic, payload, packet) => this.emit('message', { topic, payload, retain: packet.retain } satisfies IncomingMessage));
    return client;
  }

  /** Resolves once the broker acknowledged (QoS 1/2) or the packet was written (QoS 0). */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('mqtt client not started'));
    const sent = { at: Date.now() };
    if (opts.qos > 0) this.unacked.add(sent);
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err) => {
        this.unacked.delete(sent);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Age (ms) of the oldest QoS >= 1 publish still waiting for its ack; 0 when none is. */
  oldestUnackedMs(now = Date.now()): number {
    for (const sent of this.unacked) return now - sent.at;
    return 0;
  }

  subscribe(filter: string, qos: 0 | 1 | 2): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('mqtt client not started'));
    return new Promise((resolve, reject) => {
      client.subscribe(filter, { qos }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Clean stop: optionally publish a last message (the `offline` status), then disconnect. */
  async stop(last?: { topic: string; payload: string; opts: PublishOptions }, timeoutMs = 3000): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopping = true;
    if (last && client.connected) {
      await Promise.race([this.publish(last.topic, last.payload, last.opts).catch(() => undefined), delay(timeoutMs)]);
    }
    await new Promise<void>((resolve) => client.end(!client.connected, {}, () => resolve()));
    this.client = null;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
