import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { firstLine, UserError } from '../src/errors.ts';
import { EXECUTION_PROVIDERS } from '../src/onnx/providers.ts';
import { DEFAULT_TOPIC_PREFIX, HOME_ASSISTANT_PREFIX, isReservedCameraId, isValidTopicId, RESERVED_CAMERA_IDS } from '../src/mqtt/topics.ts';
import { DEFAULT_MODEL_PATH } from '../src/defaults.ts';
import { MODEL_STORE_DEFAULTS } from './model-store.ts';
import { COMMAND_DEFAULTS, OPT_IN_COMMANDS } from './features/command-queue.ts';
import { COMMAND_NAMES } from '../src/mqtt/topics.ts';
import { DEFAULT_DRIFT_CONFIG, driftConfigSchema } from '../src/drift/config.ts';
import { SOURCE_DEFAULTS } from './sources/types.ts';
import { HEALTH_DEFAULTS } from './health.ts';
import { MQTT_CONNECTION_DEFAULTS as MQTT } from './mqtt/defaults.ts';
import { collectConfigSchema } from './collect/policy.ts';

/**
 * Home Assistant discovery: off by default; `discoveryPrefix` is Home Assistant's own setting;
 * labels and confidence become `unavailable` after `expireAfterS` without a label (longer when a
 * camera's fps needs it: at least 10 frame intervals).
 */
export const HOME_ASSISTANT_DEFAULTS = { enabled: false, discoveryPrefix: HOME_ASSISTANT_PREFIX, expireAfterS: 60 };

/** Agent configuration: file (YAML or JSON) < EDGELOOM_* environment < command-line flags. */
const topicId = z.string().refine(isValidTopicId, 'expected 1-64 characters of A-Z a-z 0-9 _ -');
const qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);

/**
 * Frames per second a camera may run at (config, --fps, `cmd/set-fps`): one frame per 100 s up to
 * 120/s. Below ~5e-7 fps the frame interval overflows Node's 32-bit timers and the camera would run
 * flat out; `pause` is the way to stop a camera.
 */
export const FPS_RANGE = { min: 0.01, max: 120 } as const;
export const fpsSchema = z.number().min(FPS_RANGE.min).max(FPS_RANGE.max);

const cameraId = topicId.refine((id) => !isReservedCameraId(id), `reserved for the device's own topics (${RESERVED_CAMERA_IDS.join(', ')}): choose another camera id`);

export const cameraSchema = z.object({
  id: cameraId,
  source: z.string().min(1),
  fps: fpsSchema.default(1),
  roi: z.object({ left: z.number().int().min(0), top: z.number().int().min(0), width: z.number().int().positive(), height: z.number().int().positive() }).strict().nullable().default(null),
  invert: z.enum(['auto', 'always', 'never']).default('auto'),
  loop: z.boolean().default(false),
}).strict();

export const agentConfigSchema = z.object({
  deviceId: topicId,
  model: z.string().default(DEFAULT_MODEL_PATH),
  ep: z.enum(EXECUTION_PROVIDERS).default('auto'),
  threads: z.number().int().min(0).default(0),
  mqtt: z.object({
    url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\//, 'expected mqtt://, mqtts://, ws:// or wss:// URL'),
    clientId: z.string().min(1).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z.object({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional(), rejectUnauthorized: z.boolean().default(true) }).strict().default({ rejectUnauthorized: true }),
    topicPrefix: z.string().regex(/^[^#+]+$/, 'no MQTT wildcards').default(DEFAULT_TOPIC_PREFIX),
    keepalive: z.number().int().min(0).default(MQTT.keepaliveS),
    protocol: z.enum(['auto', '5', '3.1.1']).default(MQTT.protocol),
    reconnectMinMs: z.number().int().positive().default(MQTT.reconnectMinMs),
    reconnectMaxMs: z.number().int().positive().default(MQTT.reconnectMaxMs),
    reconnectJitter: z.number().min(0).max(1).default(MQTT.reconnectJitter),
    connectTimeoutMs: z.number().int().positive().default(MQTT.connectTimeoutMs),
    qos: z.object({ labels: qos.default(1), stats: qos.default(0), info: qos.default(1), status: qos.default(1), commands: qos.default(1) }).strict().default({ labels: 1, stats: 0, info: 1,
      status: 1, commands: 1 }),
  }).strict(),
  homeAssistant: z.object({
    enabled: z.boolean().default(HOME_ASSISTANT_DEFAULTS.enabled),
    discoveryPrefix: z.string().regex(/^[^#+/][^#+]*[^#+/]$|^[^#+/]$/, 'a topic prefix without MQTT wildcards or a leading/trailing /').default(HOME_ASSISTANT_DEFAULTS.discoveryPrefix),
    expireAfterS: z.number().int().positive().default(HOME_ASSISTANT_DEFAULTS.expireAfterS),
  }).strict().default(HOME_ASSISTANT_DEFAULTS),
  models: z.object({
    /** Where `switch-model` looks up file names; default: the directory of the start-up `model`. */
    dir: z.string().min(1).optional(),
    maxBytes: z.number().int().positive().default(MODEL_STORE_DEFAULTS.maxBytes),
    /** Ed25519 public key PEM files; with any, every model must carry a valid `<model>.sig`. */
    trustedKeys: z.array(z.string().min(1)).default([]),
  }).strict().default({ maxBytes: MODEL_STORE_DEFAULTS.maxBytes, trustedKeys: [] }),
  commands: z.object({
    disabled: z.array(z.enum(COMMAND_NAMES)).default(COMMAND_DEFAULTS.disabled),
    enabled: z.array(z.enum(OPT_IN_COMMANDS)).default(COMMAND_DEFAULTS.enabled),
    burst: z.number().int().positive().max(1000).default(COMMAND_DEFAULTS.burst),
    ratePerS: z.number().positive().max(1000).default(COMMAND_DEFAULTS.ratePerS),
    maxQueued: z.number().int().positive().max(1000).default(COMMAND_DEFAULTS.maxQueued),
    maxPayloadBytes: z.number().int().positive().max(16 * 1024 * 1024).default(COMMAND_DEFAULTS.maxPayloadBytes),
  }).strict().default(COMMAND_DEFAULTS),
  queue: z.object({
    type: z.enum(['disk', 'memory']).default('disk'),
    dir: z.string().optional(),
    maxMessages: z.number().int().positive().default(100_000),
    maxBytes: z.number().int().positive().default(64 * 1024 * 1024),
    maxAgeS: z.number().positive().default(7 * 24 * 3600),
  }).strict().default({ type: 'disk', maxMessages: 100_000, maxBytes: 64 * 1024 * 1024, maxAgeS: 7 * 24 * 3600 }),
  statsIntervalS: z.number().positive().default(10),
  // Loopback unless told otherwise: /metrics tells anyone who can reach it what runs here.
  http: z.object({ port: z.number().int().min(0).max(65535), host: z.string().min(1).default('127.0.0.1') }).strict().nullable().default(null),
  maxFrameBytes: z.number().int().positive().default(SOURCE_DEFAULTS.maxFrameBytes),
  /** Source timeouts (device/sources/types.ts SOURCE_DEFAULTS says what each bounds). */
  sources: z.object({
    connectTimeoutMs: z.number().int().positive().default(SOURCE_DEFAULTS.connectTimeoutMs),
    idleTimeoutMs: z.number().int().positive().default(SOURCE_DEFAULTS.idleTimeoutMs),
    readTimeoutMs: z.number().int().positive().default(SOURCE_DEFAULTS.readTimeoutMs),
  }).strict().default({ connectTimeoutMs: SOURCE_DEFAULTS.connectTimeoutMs, idleTimeoutMs: SOURCE_DEFAULTS.idleTimeoutMs, readTimeoutMs: SOURCE_DEFAULTS.readTimeoutMs }),
  /** When a camera is stalled and /healthz turns 503 (device/health.ts HEALTH_DEFAULTS). */
  health: z.object({
    stallIntervals: z.number().positive().default(HEALTH_DEFAULTS.stallIntervals),
    minStallS: z.number().positive().default(HEALTH_DEFAULTS.minStallS),
    ackTimeoutS: z.number().positive().default(HEALTH_DEFAULTS.ackTimeoutS),
    queueGrowthS: z.number().positive().default(HEALTH_DEFAULTS.queueGrowthS),
    eventLoopLagMs: z.number().positive().default(HEALTH_DEFAULTS.eventLoopLagMs),
    eventLoopWindowS: z.number().positive().default(HEALTH_DEFAULTS.eventLoopWindowS),
  }).strict().default(HEALTH_DEFAULTS),
  drift: driftConfigSchema.default(DEFAULT_DRIFT_CONFIG),
  collect: collectConfigSchema.default(collectConfigSchema.parse({})),
  maxFrames: z.number().int().positive().nullable().default(null),
  cameras: z.array(cameraSchema).min(1, 'at least one camera (or pass --source)'),
}).strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
type Raw = Record<string, unknown>;

/** Command-line values (all optional); the CLI passes commander's parsed options. */
export interface AgentFlags {
  config?: string;
  source?: string;
  mqttUrl?: string;
  deviceId?: string;
  cameraId?: string;
  fps?: number;
  model?: string;
  ep?: string;
  threads?: number;
  statsInterval?: number;
  httpPort?: number;
  httpHost?: string;
  loop?: boolean;
  maxFrames?: number;
  queueDir?: string;
  homeAssistant?: boolean;
  modelsDir?: string;
  /** Repeatable `--trusted-key PUB`; added to `models.trustedKeys`. */
  trustedKey?: string[];
}

function stateDir(): string {
  return process.env.EDGELOOM_STATE_DIR ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'edgeloom');
}

export function defaultQueueDir(deviceId: string): string {
  return join(stateDir(), 'queue', deviceId);
}

export function defaultCollectDir(deviceId: string): string {
  return join(stateDir(), 'collect', deviceId);
}

async function readConfigFile(path: string): Promise<Raw> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const parsed: unknown = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a mapping at the top level');
    return parsed as Raw;
  } catch (err) {
    throw new UserError(`${path}: not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'} (${firstLine(err)})`);
  }
}

function numberEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${name}: expected a number, got "${v}"`);
  return n;
}

/** Merges env vars (EDGELOOM_*) under the flags: flags win, then env, then the file. */
export function flagsFromEnv(env: NodeJS.ProcessEnv): AgentFlags {
  return {
    config: env.EDGELOOM_CONFIG,
    source: env.EDGELOOM_SOURCE,
    mqttUrl: env.EDGELOOM_MQTT_URL,
    deviceId: env.EDGELOOM_DEVICE_ID,
    cameraId: env.EDGELOOM_CAMERA_ID,
    fps: numberEnv(env, 'EDGELOOM_FPS'),
    model: env.EDGELOOM_MODEL,
    ep: env.EDGELOOM_EP,
    threads: numberEnv(env, 'EDGELOOM_THREADS'),
    statsInterval: numberEnv(env, 'EDGELOOM_STATS_INTERVAL'),
    httpPort: numberEnv(env, 'EDGELOOM_HTTP_PORT'),
    httpHost: env.EDGELOOM_HTTP_HOST,
    queueDir: env.EDGELOOM_QUEUE_DIR,
    modelsDir: env.EDGELOOM_MODELS_DIR,
  };
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export async function resolveAgentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): Promise<AgentConfig> {
  const f: AgentFlags = { ...defined(flagsFromEnv(env)), ...defined(flags) };
  const raw: Raw = f.config ? await readConfigFile(f.config) : {};
  const mqtt = { ...((raw.mqtt as Raw | undefined) ?? {}) };
  if (f.mqttUrl) mqtt.url = f.mqttUrl;
  if (env.EDGELOOM_MQTT_USERNAME) mqtt.username = env.EDGELOOM_MQTT_USERNAME;
  if (env.EDGELOOM_MQTT_PASSWORD) mqtt.password = env.EDGELOOM_MQTT_PASSWORD;
  const merged: Raw = { ...raw, mqtt };
  if (f.deviceId) merged.deviceId = f.deviceId;
  if (f.model) merged.model = f.model;
  if (f.ep) merged.ep = f.ep;
  if (f.threads !== undefined) merged.threads = f.threads;
  if (f.statsInterval !== undefined) merged.statsIntervalS = f.statsInterval;
  if (f.httpPort !== undefined) merged.http = { ...((raw.http as Raw | undefined) ?? {}), port: f.httpPort };
  if (f.httpHost) {
    if (!merged.http) throw new UserError('--http-host: needs --http-port N (or http.port in the config file)');
    merged.http = { ...(merged.http as Raw), host: f.httpHost };
  }
  if (f.maxFrames !== undefined) merged.maxFrames = f.maxFrames;
  if (f.homeAssistant) merged.homeAssistant = { ...((raw.homeAssistant as Raw | undefined) ?? {}), enabled: true };
  if (f.queueDir) merged.queue = { ...((raw.queue as Raw | undefined) ?? {}), dir: f.queueDir };
  if (f.modelsDir || f.trustedKey?.length) {
    const models = { ...((raw.models as Raw | undefined) ?? {}) };
    if (f.modelsDir) models.dir = f.modelsDir;
    // Keys from flags add to the config's: a flag can never make the agent trust fewer signers.
    if (f.trustedKey?.length) models.trustedKeys = [...(Array.isArray(models.trustedKeys) ? models.trustedKeys : []), ...f.trustedKey];
    merged.models = models;
  }
  let cameras = Array.isArray(raw.cameras) ? (raw.cameras as Raw[]).map((c) => ({ ...c })) : [];
  if (f.source) cameras = [{ id: f.cameraId ?? 'cam0', source: f.source }];
  for (const c of cameras) {
    if (f.fps !== undefined) c.fps = f.fps;
    if (f.loop) c.loop = true;
  }
  merged.cameras = cameras;
  if (!mqtt.url) throw new UserError('mqtt.url: missing (pass --mqtt-url URL, set EDGELOOM_MQTT_URL, or mqtt.url in the config file)');
  if (!merged.deviceId) throw new UserError('deviceId: missing (pass --device-id ID, set EDGELOOM_DEVICE_ID, or deviceId in the config file)');
  if (cameras.length === 0) throw new UserError('cameras: none configured (pass --source SPEC or list cameras in the config file)');
  const result = agentConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new UserError(`${f.config ? `${f.config}: ` : ''}${where}: ${issue.message}`);
  }
  const cfg = result.data;
  const ids = new Set<string>();
  for (const c of cfg.cameras) {
    if (ids.has(c.id)) throw new UserError(`cameras: duplicate camera id "${c.id}"`);
    ids.add(c.id);
  }
  cfg.queue.dir ??= defaultQueueDir(cfg.deviceId);
  cfg.collect.dir = resolvePath(cfg.collect.dir ?? defaultCollectDir(cfg.deviceId));
  cfg.mqtt.clientId ??= `edgeloom-${cfg.deviceId}`;
  cfg.models.dir = resolvePath(cfg.models.dir ?? dirname(resolvePath(cfg.model)));
  return cfg;
}
