import { createLogger, type Logger } from '../src/log.ts';
import { deviceTopics } from '../src/mqtt/topics.ts';
import type { InfoPayload } from '../src/mqtt/payloads.ts';
import { EDGELOOM_VERSION } from '../src/version.ts';
import type { AgentConfig } from './config.ts';
import type { AgentContext, Feature } from './context.ts';
import { CameraRunner } from './camera.ts';
import { FEATURES } from './features/index.ts';
import { openModel } from './model-holder.ts';
import { redactConfig, redactingLogger, redactSecrets } from '../src/redact.ts';
import { DeviceMqttClient } from './mqtt/client.ts';
import { Publisher } from './mqtt/publisher.ts';
import { DiskQueue } from './queue/disk.ts';
import { MemoryQueue } from './queue/memory.ts';
import type { MessageQueue } from './queue/types.ts';
import { AgentStats } from './stats.ts';
import type { FrameSource } from './sources/types.ts';

export interface Agent {
  readonly ctx: AgentContext;
  readonly features: readonly Feature[];
  /** Resolves when every camera has ended (finite sources, --max-frames). */
  finished(): Promise<void>;
  /** Finishes frames in flight, delivers what it can within `drainTimeoutMs`, publishes `offline`. */
  stop(opts?: { drainTimeoutMs?: number }): Promise<void>;
}

function createQueue(cfg: AgentConfig): MessageQueue {
  const bounds = { maxMessages: cfg.queue.maxMessages, maxBytes: cfg.queue.maxBytes, maxAgeMs: cfg.queue.maxAgeS * 1000 };
  return cfg.queue.type === 'memory' ? new MemoryQueue(bounds) : new DiskQueue({ dir: cfg.queue.dir!, bounds });
}

export interface StartAgentOptions {
  /** Frame sources by camera id, used instead of opening the camera's `source` spec (tests, embedding). */
  sources?: ReadonlyMap<string, FrameSource>;
}

/** Loads the model, opens the queue, connects to the broker and starts cameras and features. */
export async function startAgent(config: AgentConfig, log: Logger = createLogger('agent'), opts: StartAgentOptions = {}): Promise<Agent> {
  log = redactingLogger(log);
  log.debug(`effective config: ${JSON.stringify(redactConfig(config))}`);
  const model = await openModel(config, log);
  const queue = createQueue(config);
  await queue.open();
  if (queue.depth > 0) log.info(`store-and-forward queue: ${queue.depth} label(s) from before the restart will be delivered first`);
  const topics = deviceTopics(config.deviceId, config.mqtt.topicPrefix);
  const { qos } = config.mqtt;
  const mqtt = new DeviceMqttClient({
    url: config.mqtt.url,
    clientId: config.mqtt.clientId!,
    username: config.mqtt.username,
    password: config.mqtt.password,
    ca: config.mqtt.tls.ca,
    cert: config.mqtt.tls.cert,
    key: config.mqtt.tls.key,
    rejectUnauthorized: config.mqtt.tls.rejectUnauthorized,
    keepaliveS: config.mqtt.keepalive,
    reconnectMinMs: config.mqtt.reconnectMinMs,
    reconnectMaxMs: config.mqtt.reconnectMaxMs,
    protocol: config.mqtt.protocol,
  }, { topic: topics.status, payload: 'offline', qos: qos.status, retain: true }, createLogger('mqtt'));
  const stats = new AgentStats();
  const publisher = new Publisher(mqtt, queue, stats, log);
  const cameras = new Map<string, CameraRunner>();
  const startedAt = new Date();

  const ctx: AgentContext = {
    config, log, topics, mqtt, publisher, queue, model, stats, cameras, startedAt,
    frameObservers: new Set(),
    info(): InfoPayload {
      const m = model.current;
      return {
        version: EDGELOOM_VERSION,
        deviceId: config.deviceId,
        startedAt: startedAt.toISOString(),
        model: { ...m.ref, path: m.path, arch: m.metadata.arch, metrics: m.metadata.metrics, classes: m.metadata.classes },
        provider: m.provider,
        cameras: [...cameras.values()].map((c) => ({ id: c.id, source: redactSecrets(c.cfg.source), fps: c.fps, roi: c.cfg.roi })),
      };
    },
    async publishInfo() {
      await publisher.sendLive(topics.info, JSON.stringify(ctx.info()), { qos: qos.info, retain: true });
    },
  };

  // Status first on every (re)connect, so `online` always follows the broker's will-free session.
  mqtt.on('connect', () => {
    publisher.sendLive(topics.status, 'online', { qos: qos.status, retain: true })
      .then(() => ctx.publishInfo())
      .catch((err: Error) => log.warn(`status: ${err.message}`));
  });

  for (const cam of config.cameras) cameras.set(cam.id, new CameraRunner(cam, ctx, opts.sources?.get(cam.id)));
  const features: Feature[] = [];
  for (const def of FEATURES) if (def.enabled(config)) features.push(await def.create(ctx));
  mqtt.start();
  for (const f of features) await f.start();
  for (const c of cameras.values()) c.start();
  log.info(`agent ${config.deviceId}: ${cameras.size} camera(s), features: ${features.map((f) => f.name).join(', ') || 'none'}`);

  let stopped: Promise<void> | null = null;
  return {
    ctx,
    features,
    finished: async () => {
      await Promise.all([...cameras.values()].map((c) => c.finished()));
    },
    stop(opts = {}) {
      stopped ??= (async () => {
        await Promise.all([...cameras.values()].map((c) => c.stop()));
        const drained = await publisher.drained(opts.drainTimeoutMs ?? 5000);
        if (!drained) log.warn(`${queue.depth} label(s) not yet delivered; ${queue instanceof DiskQueue ? 'kept on disk for the next start' : 'lost (memory queue)'}`);
        publisher.stop();
        for (const f of [...features].reverse()) await f.stop();
        await queue.close();
        await mqtt.stop({ topic: topics.status, payload: 'offline', opts: { qos: qos.status, retain: true } });
        await model.close();
        log.info('agent stopped');
      })();
      return stopped;
    },
  };
}
