import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { writeToStream } from 'mqtt-packet';
import { UserError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { MQTT_CONNECTION_DEFAULTS, reconnectDelayMs, type PublisherOptions } from './defaults.ts';

/**
 * The only module that imports `mqtt`. Wraps one MQTT.js client: MQTT 5 first, falling back to
 * 3.1.1 when the broker refuses the protocol version (aedes, old mosquitto); reconnects with capped,
 * jittered exponential backoff after every failure, CONNACK refusals (wrong password, not
 * authorized) included; sets the last will. Topics and payloads are built by the caller.
 */

// MQTT.js's encoder (mqtt-packet) builds 65,536 two-byte Buffers on the first packet it writes, a
// cache for packet ids: 15-19 MiB of the agent's RSS to save an allocation per label
// (docs/benchmarks.md "Agent memory").
writeToStream.cacheNumbers = false;

export interface MqttConnectionOptions extends Partial<Omit<typeof MQTT_CONNECTION_DEFAULTS, 'protocol' | Exclude<keyof PublisherOptions, 'reconnectJitter'>>> {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** File paths for TLS. */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  protocol?: 'auto' | '5' | '3.1.1';
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

/** Why the client is (or last was) not connected; for the log, /healthz and stats. */
export interface MqttConnectionError {
  /**
   * `CONNACK_REFUSED` (see reasonCode: 4/134 bad username or password, 5/135 not authorized),
   * `CONNACK_TIMEOUT`, `KEEPALIVE_TIMEOUT`, `CONNECTION_CLOSED`, a Node errno (`ECONNREFUSED`,
   * `ECONNRESET`, TLS codes) or `MQTT_ERROR`.
   */
  code: string;
  /** MQTT reason/return code of a refusal or a broker's DISCONNECT. */
  reasonCode?: number;
  message: string;
  /** ISO time of the error. */
  at: string;
}

type MqttJsError = Error & { code?: number | string };

/** What an MQTT.js error means, as `lastError` reports it (pure; exported for its tests). */
export function describeError(err: MqttJsError): MqttConnectionError {
  const at = new Date().toISOString();
  if (typeof err.code === 'number') {
    const code = /^Connection refused/.test(err.message) ? 'CONNACK_REFUSED' : 'MQTT_ERROR';
    return { code, reasonCode: err.code, message: err.message, at };
  }
  if (typeof err.code === 'string') return { code: err.code, message: err.message, at };
  if (err.message === 'connack timeout') return { code: 'CONNACK_TIMEOUT', message: err.message, at };
  if (err.message === 'Keepalive timeout') return { code: 'KEEPALIVE_TIMEOUT', message: err.message, at };
  return { code: 'MQTT_ERROR', message: err.message, at };
}

/** Events: 'connect' (every (re)connect), 'offline', 'message' (IncomingMessage). */
export class DeviceMqttClient extends EventEmitter {
  private client: MqttClient | null = null;
  private protocolVersion: 4 | 5;
  private everConnected = false;
  /** Failed attempts since the last successful connect (drives the backoff). */
  private attempts = 0;
  private stopping = false;
  /** Outage logging: one warning per outage and per distinct error, not one per reconnect attempt. */
  private outageErrors = new Set<string>();
  private inOutage = false;
  private lastErr: MqttConnectionError | null = null;
  /** An error was recorded for the current connection attempt (its close then adds nothing). */
  private errorInAttempt = false;
  private readonly o: typeof MQTT_CONNECTION_DEFAULTS;
  /** QoS >= 1 publishes still waiting for their ack, oldest first: send time (read by /healthz), and how to fail it. */
  private readonly unacked = new Set<{ at: number; fail: (err: Error) => void }>();

  constructor(private readonly opts: MqttConnectionOptions, private readonly will: Will, private readonly log: Logger) {
    super();
    const given = Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in MQTT_CONNECTION_DEFAULTS && v !== undefined));
    this.o = { ...MQTT_CONNECTION_DEFAULTS, ...given };
    this.protocolVersion = this.o.protocol === '3.1.1' ? 4 : 5;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /**
   * The most recent connection error (kept after a reconnect, with its time), or null if there was
   * none. While `connected` is false it is the reason why.
   */
  get lastError(): MqttConnectionError | null {
    return this.lastErr;
  }

  /** Failed connection attempts since the last successful connect. */
  get reconnectAttempts(): number {
    return this.attempts;
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

  private nextDelay(): number {
    return reconnectDelayMs(this.attempts, this.o);
  }

  private createClient(): MqttClient {
    const options: IClientOptions = {
      clientId: this.opts.clientId,
      username: this.opts.username,
      password: this.opts.password,
      keepalive: this.o.keepaliveS,
      protocolVersion: this.protocolVersion,
      clean: true,
      // MQTT.js reads reconnectPeriod when it arms the next reconnect timer; 'reconnect' below
      // sets it before every attempt, so each wait follows reconnectDelayMs.
      reconnectPeriod: this.nextDelay(),
      // Without this a refused CONNACK (wrong password) ends reconnecting for good.
      reconnectOnConnackError: true,
      connectTimeout: this.o.connectTimeoutMs,
      will: { topic: this.will.topic, payload: Buffer.from(this.will.payload), qos: this.will.qos, retain: this.will.retain },
      rejectUnauthorized: this.opts.rejectUnauthorized ?? true,
      // Messages are only published while connected (the store-and-forward queue holds the rest).
      queueQoSZero: false,
      ...this.readTls(),
    };
    const client = mqtt.connect(this.opts.url, options);
    const current = () => client === this.client && !this.stopping;
    client.on('connect', () => {
      if (!this.everConnected) this.log.info(`connected to ${this.opts.url} (MQTT ${this.protocol})`);
      else this.log.info(`reconnected to ${this.opts.url}${this.attempts > 0 ? ` after ${this.attempts} attempt(s)` : ''}`);
      this.everConnected = true;
      this.inOutage = false;
      this.outageErrors.clear();
      this.attempts = 0;
      this.errorInAttempt = false;
      client.options.reconnectPeriod = this.nextDelay();
      this.emit('connect');
    });
    client.on('reconnect', () => {
      this.attempts++;
      client.options.reconnectPeriod = this.nextDelay();
    });
    client.on('close', () => {
      if (!current()) return;
      // A broker that just closes the socket raises no error: the close is the reason then. Every
      // attempt ends in a close, so the next attempt's reason is recorded afresh.
      if (!this.errorInAttempt) this.lastErr = { code: 'CONNECTION_CLOSED', message: 'connection closed', at: new Date().toISOString() };
      this.errorInAttempt = false;
    });
    client.on('offline', () => {
      if (!current()) return;
      if (!this.inOutage) this.log.warn(`broker ${this.opts.url} unreachable; labels are queued until it is back`);
      this.inOutage = true;
      this.emit('offline');
    });
    client.on('error', (err: MqttJsError) => {
      const refusedVersion = err.code === 1 || err.code === 132;
      if (refusedVersion && this.protocolVersion === 5 && this.o.protocol === 'auto' && current()) {
        this.log.info('broker refused MQTT 5; falling back to MQTT 3.1.1');
        this.protocolVersion = 4;
        client.end(true);
        this.client = this.createClient();
        return;
      }
      if (!current()) return;
      this.lastErr = describeError(err);
      this.errorInAttempt = true;
      if (!this.outageErrors.has(err.message)) {
        const retry = `retrying with backoff (${this.o.reconnectMinMs}-${this.o.reconnectMaxMs} ms)`;
        if (this.lastErr.code === 'CONNACK_REFUSED') this.log.warn(`mqtt: broker ${this.opts.url} refused the connection: ${err.message} (reason ${err.code}); ${retry}`);
        else this.log.warn(`mqtt: ${err.message}; ${retry}`);
      }
      this.outageErrors.add(err.message);
    });
    client.on('message', (topic, payload, packet) => this.emit('message', { topic, payload, retain: packet.retain } satisfies IncomingMessage));
    return client;
  }

  /** Resolves once the broker acknowledged (QoS 1/2) or the packet was written (QoS 0). */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('mqtt client not started'));
    return new Promise((resolve, reject) => {
      const sent = { at: Date.now(), fail: reject };
      if (opts.qos > 0) this.unacked.add(sent);
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

  /** Resolves on the broker's SUBACK; rejects on an error or, with code MQTT_SUBSCRIBE_TIMEOUT, after subscribeTimeoutMs. */
  subscribe(filter: string, qos: 0 | 1 | 2): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('mqtt client not started'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const ms = this.o.subscribeTimeoutMs;
        reject(Object.assign(new Error(`broker did not acknowledge the subscription to ${filter} within ${ms} ms`), { code: 'MQTT_SUBSCRIBE_TIMEOUT' }));
      }, this.o.subscribeTimeoutMs);
      timer.unref();
      client.subscribe(filter, { qos }, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /**
   * Stop: publishes a last message (the `offline` status) if connected, then disconnects. Bounded
   * in time whatever the broker does (a black-holed link never acks): after the timeouts the socket
   * is destroyed, and the broker publishes the will instead.
   */
  async stop(last?: { topic: string; payload: string; opts: PublishOptions }): Promise<{ lastSent: boolean }> {
    const client = this.client;
    if (!client) return { lastSent: false };
    this.stopping = true;
    let lastSent = false;
    if (last && client.connected) {
      const sent = this.publish(last.topic, last.payload, last.opts).then(() => true, () => false);
      lastSent = await Promise.race([sent, delay(this.o.stopPublishTimeoutMs).then(() => false)]);
    }
    const ended = new Promise<boolean>((resolve) => client.end(!client.connected, {}, () => resolve(true)));
    // end(false) waits for every in-flight QoS 1 ack; they stay in our queue, so cut the socket.
    if (!(await Promise.race([ended, delay(this.o.stopEndTimeoutMs).then(() => false)]))) client.stream?.destroy();
    // MQTT.js fails in-flight QoS >= 1 publishes on close only when it would not reconnect
    // (reconnectPeriod 0); ours always would, so without this their promises never settle.
    const stopped = Object.assign(new Error('mqtt client stopped before the broker acked'), { code: 'MQTT_STOPPED' });
    for (const sent of this.unacked) sent.fail(stopped);
    this.unacked.clear();
    this.client = null;
    return { lastSent };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
