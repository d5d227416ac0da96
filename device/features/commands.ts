import { firstLine } from '../../src/errors.ts';
import { z } from 'zod';
import { COMMAND_NAMES, type CommandName } from '../../src/mqtt/topics.ts';
import type { CommandRequests, CommandResult } from '../../src/mqtt/payloads.ts';
import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';
import type { IncomingMessage } from '../mqtt/client.ts';
import type { CameraRunner } from '../camera.ts';
import { fpsSchema } from '../config.ts';
import { ModelRefusedError } from '../model-store.ts';
import { OPT_IN_COMMANDS, SerialQueue, TokenBucket } from './command-queue.ts';

/** Why a command was not run (`code` of the result; a model refusal carries ModelRefusedError's code). */
export type CommandErrorCode = 'rate-limited' | 'busy' | 'disabled' | 'too-large' | 'bad-body' | 'unknown-camera' | 'no-frame' | 'failed';

export class CommandError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Command bodies: strict JSON objects, every field bounded (unknown fields are refused). */
const requestId = z.string().max(128).optional();
const camera = z.string().min(1).max(64).optional();
const sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits').optional();
const BODIES = {
  'set-fps': z.object({ requestId, camera, fps: fpsSchema }).strict(),
  pause: z.object({ requestId, camera }).strict(),
  resume: z.object({ requestId, camera }).strict(),
  snapshot: z.object({ requestId, camera }).strict(),
  'reload-model': z.object({ requestId, sha256 }).strict(),
  'switch-model': z.object({ requestId, model: z.string().min(1).max(255), sha256 }).strict(),
} satisfies { [N in CommandName]: z.ZodType<CommandRequests[N]> };
type Body<N extends CommandName> = z.infer<(typeof BODIES)[N]>;

/** Error texts go to every client that may read results: one line, bounded. */
const MAX_ERROR_CHARS = 300;

/**
 * A command body, checked (pure; exported for its tests). Throws `bad-body` CommandErrors carrying the
 * `requestId` when one was readable, so that even a refusal can be matched to its request.
 */
export function parseBody(name: CommandName, raw: Buffer): { requestId: string | null; body: Record<string, unknown> } {
  const text = raw.toString('utf8').trim();
  let parsed: unknown = {};
  try {
    if (text) parsed = JSON.parse(text);
  } catch (err) {
    throw new CommandError('bad-body', `body: not JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CommandError('bad-body', 'body: expected a JSON object');
  const obj = parsed as Record<string, unknown>;
  const id = typeof obj.requestId === 'string' && obj.requestId.length <= 128 ? obj.requestId : null;
  if (name === 'switch-model' && 'path' in obj) {
    throw Object.assign(new CommandError('bad-body', 'path: not accepted; name a file of the model directory instead: {"model": "v2.onnx"}'), { requestId: id });
  }
  const result = BODIES[name].safeParse(obj);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw Object.assign(new CommandError('bad-body', `${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}`), { requestId: id });
  }
  return { requestId: id, body: result.data };
}

/**
 * `<prefix>/<device>/cmd/<name>` with a JSON body (an empty body is `{}`); every command answers
 * on `.../cmd/<name>/result` with `{ok, command, requestId, code?, error?, data?}`.
 *
 * Commands come from the network: retained ones are ignored (a stale `cmd/pause` would pause the
 * agent at every restart), each message takes a token of a rate limiter, the body size is capped
 * before parsing, disabled and opt-in commands are refused, and the rest run one at a time from a
 * bounded queue. Every refusal is answered with an error result; nothing is dropped silently.
 */
class CommandsFeature implements Feature {
  readonly name = 'commands';
  private readonly cfg: AgentContext['config']['commands'];
  private readonly bucket: TokenBucket;
  private readonly queue: SerialQueue;
  private readonly onConnect = () => {
    this.ctx.mqtt.subscribe(this.ctx.topics.commandFilter, this.ctx.config.mqtt.qos.commands).catch((err: Error) => this.ctx.log.warn(`subscribe commands: ${err.message}`));
  };
  private readonly onMessage = (m: IncomingMessage) => {
    const name = this.ctx.topics.parseCommand(m.topic);
    if (name) this.receive(name, m).catch((err: Error) => this.ctx.log.warn(`command ${name}: ${err.message}`));
  };

  constructor(private readonly ctx: AgentContext) {
    this.cfg = ctx.config.commands;
    this.bucket = new TokenBucket(this.cfg.burst, this.cfg.ratePerS, performance.now());
    this.queue = new SerialQueue(this.cfg.maxQueued, (err) => ctx.log.warn(`command: ${err.message}`));
  }

  async start(): Promise<void> {
    this.ctx.mqtt.on('connect', this.onConnect);
    this.ctx.mqtt.on('message', this.onMessage);
    if (this.ctx.mqtt.connected) this.onConnect();
  }

  async stop(): Promise<void> {
    this.ctx.mqtt.off('connect', this.onConnect);
    this.ctx.mqtt.off('message', this.onMessage);
    const discarded = await this.queue.stop();
    if (discarded > 0) this.ctx.log.warn(`commands: ${discarded} queued command(s) not run (agent stopping)`);
  }

  /** Checks in order of cost, so that a flood is refused before its bodies are parsed. */
  private async receive(name: CommandName, m: IncomingMessage): Promise<void> {
    if (m.retain) {
      this.ctx.log.warn(`command ${name}: ignored a retained message on ${m.topic} (commands must not be retained; clear it with an empty retained publish)`);
      return;
    }
    const refuse = (code: CommandErrorCode, error: string, requestId: string | null = null) => this.answer({ ok: false, command: name, requestId, code, error });
    if (!this.bucket.take(performance.now())) {
      return refuse('rate-limited', `rate limit: more than ${this.cfg.burst} commands at once or ${this.cfg.ratePerS}/s sustained (commands.burst, commands.ratePerS); try again later`);
    }
    if (m.payload.length > this.cfg.maxPayloadBytes) return refuse('too-large', `body: ${m.payload.length} bytes, more than commands.maxPayloadBytes (${this.cfg.maxPayloadBytes})`);
    let parsed: ReturnType<typeof parseBody>;
    try {
      parsed = parseBody(name, m.payload);
    } catch (err) {
      return refuse('bad-body', (err as Error).message, (err as { requestId?: string | null }).requestId ?? null);
    }
    if (this.cfg.disabled.includes(name)) return refuse('disabled', `${name}: disabled in this agent's config (commands.disabled)`, parsed.requestId);
    if ((OPT_IN_COMMANDS as readonly string[]).includes(name) && !(this.cfg.enabled as string[]).includes(name)) {
      return refuse('disabled', `${name}: off unless enabled in this agent's config (commands.enabled: [${name}])`, parsed.requestId);
    }
    if (!this.queue.push(() => this.execute(name, parsed.requestId, parsed.body))) {
      return refuse('busy', `busy: ${this.cfg.maxQueued} commands already waiting (commands.maxQueued); try again later`, parsed.requestId);
    }
  }

  private async execute(name: CommandName, requestId: string | null, body: Record<string, unknown>): Promise<void> {
    const result: CommandResult = { ok: true, command: name, requestId };
    try {
      result.data = await this.run(name, body);
    } catch (err) {
      result.ok = false;
      result.code = err instanceof CommandError || err instanceof ModelRefusedError ? err.code : 'failed';
      result.error = firstLine(err);
    }
    await this.answer(result);
  }

  private async answer(result: CommandResult): Promise<void> {
    if (result.error !== undefined && result.error.length > MAX_ERROR_CHARS) result.error = `${result.error.slice(0, MAX_ERROR_CHARS)}...`;
    this.ctx.log.info(`command ${result.command}: ${result.ok ? 'ok' : `failed (${result.code}): ${result.error}`}`);
    const name = result.command as CommandName;
    await this.ctx.publisher.sendLive(this.ctx.topics.commandResult(name), JSON.stringify(result), { qos: this.ctx.config.mqtt.qos.commands });
  }

  private cameras(id: string | undefined): CameraRunner[] {
    if (id === undefined) return [...this.ctx.cameras.values()];
    const cam = this.ctx.cameras.get(id);
    if (!cam) throw new CommandError('unknown-camera', `camera: unknown camera ${JSON.stringify(id)} (have ${[...this.ctx.cameras.keys()].join(', ')})`);
    return [cam];
  }

  private async run(name: CommandName, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (name) {
      case 'set-fps': {
        const { fps, camera } = body as Body<'set-fps'>;
        const cams = this.cameras(camera);
        for (const c of cams) c.setFps(fps);
        await this.ctx.publishInfo();
        return { cameras: cams.map((c) => c.id), fps };
      }
      case 'pause':
      case 'resume': {
        const cams = this.cameras((body as Body<'pause'>).camera);
        for (const c of cams) c.setPaused(name === 'pause');
        return { cameras: cams.map((c) => c.id), paused: name === 'pause' };
      }
      case 'snapshot': {
        // Without `camera`: the first one (an agent has at least one camera).
        const [cam] = this.cameras((body as Body<'snapshot'>).camera);
        const f = cam.lastFrame;
        if (!f) throw new CommandError('no-frame', `camera ${cam.id}: no frame read yet`);
        return { camera: cam.id, frame: cam.frameNo, ts: f.ts.toISOString(), bytes: f.buffer.length, imageBase64: f.buffer.toString('base64') };
      }
      case 'reload-model':
      case 'switch-model': {
        const { sha256 } = body as Body<'reload-model'>;
        const m = name === 'switch-model' ? await this.ctx.model.switchTo((body as Body<'switch-model'>).model, sha256) : await this.ctx.model.reload(sha256);
        await this.ctx.publishInfo();
        return { model: m.ref, path: m.path, provider: m.provider, signedBy: m.signedBy };
      }
    }
  }
}

export const commandsFeature: FeatureDefinition = {
  name: 'commands',
  enabled: () => true,
  create: async (ctx) => new CommandsFeature(ctx),
};

export { COMMAND_NAMES };
