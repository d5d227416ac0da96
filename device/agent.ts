import { createLogger, type Logger } from '../src/log.ts';
import { deviceTopics } from '../src/mqtt/topics.ts';
import type { InfoPayload } from '../src/mqtt/payloads.ts';
import { EDGELOOM_VERSION } from '../src/version.ts';
import type { AgentConfig } from './config.ts';
import type { AgentContext, Feature } from './context.ts';
import { CameraRunner } from './camera.ts';
import { FEATURES } from './features/index.ts';
import { openModel } from './model-holder.ts';
import { offeredModels } from './model.ts';
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

/**
 * Every stop step is bounded, so SIGTERM ends the process within 5 s (systemd's default
 * TimeoutStopSec is 90 s, but a supervisor that waits for a hung agent is a stalled line).
 */
export const SHUTDOWN_DEFAULTS = {
  /** Waiting for the frame in flight; a source stuck in a read is left behind. */
  camerasMs: 1500,
  /** Delivering queued labels after SIGTERM (the rest stays on disk for the next start). */
  drainMs: 1500,
  /** The same when every camera ended (finite source, --max-frames): nothing else is waiting. */
  finishedDrainMs: 15_000,
  featureMs: 500,
  queueCloseMs: 1000,
  modelCloseMs: 500,
  /** run.ts exits anyway this long after SIGTERM, whatever is still hanging. */
  hardExitMs: 4500,
};

function createQueue(cfg: AgentConfig, stats: AgentStats): MessageQueue {
  const bounds = { maxMessages: cfg.queue.maxMessages, maxBytes: cfg.queue.maxBytes, maxAgeMs: cfg.queue.maxAgeS * 1000 };
  if (cfg.queue.type === 'memory') return new MemoryQueue(bounds);
  // Queue faults count as errors: `queue-disk-full` etc. in stats.errors.byReason.
  const onFault = (fault: string, count: number) => {
    for (let i = 0; i < count; i++) stats.error(null, `queue-${fault}`);
  };
  return new DiskQueue({ dir: cfg.queue.dir!, bounds, log: redactingLogger(createLogger('queue')), onFault });
}

/** Waits for `work` at most `ms`; a failure or timeout is logged, never thrown (stop goes on). */
async function bounded(log: Logger, what: string, work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms).unref()));
  try {
    if ((await Promise.race([work, timeout])) === 'timeout') log.warn(`stop: ${what} did not finish within ${ms} ms; going on`);
  } catch (err) {
    log.warn(`stop: ${what}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
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
  const stats = new AgentStats();
  const queue = createQueue(config, stats);
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
    reconnectJitter: config.mqtt.reconnectJitter,
    connectTimeoutMs: config.mqtt.connectTimeoutMs,
    protocol: config.mqtt.protocol,
  }, { topic: topics.status, payload: 'offline', qos: qos.status, retain: true }, redactingLogger(createLogger('mqtt')));
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
        availableModels: offeredModels(config.models.dir!),
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
        const d = { ...SHUTDOWN_DEFAULTS, ...opts };
        await bounded(log, 'cameras', Promise.all([...cameras.values()].map((c) => c.stop())), d.camerasMs);
        const drained = await publisher.drained(opts.drainTimeoutMs ?? d.drainMs);
        if (!drained) log.warn(`${queue.depth} label(s) not yet delivered; ${queue instanceof DiskQueue ? 'kept on disk for the next start' : 'lost (memory queue)'}`);
        publisher.stop();
        for (const f of [...features].reverse()) await bounded(log, `feature ${f.name}`, f.stop(), d.featureMs);
        // `offline` before closing the queue: a queue stuck on a full or dead disk must not keep it back.
        const { lastSent } = await mqtt.stop({ topic: topics.status, payload: 'offline', opts: { qos: qos.status, retain: true } });
        if (!lastSent) log.warn('offline status not published (broker unreachable or not acking); the broker\'s last will says offline');
        await bounded(log, 'queue close', queue.close(), d.queueCloseMs);
        await bounded(log, 'model close', model.close(), d.modelCloseMs);
        log.info('agent stopped');
      })();
      return stopped;
    },
  };
}
