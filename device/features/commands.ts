import { COMMAND_NAMES, type CommandName } from '../../src/mqtt/topics.ts';
import type { CommandResult } from '../../src/mqtt/payloads.ts';
import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';
import type { IncomingMessage } from '../mqtt/client.ts';
import type { CameraRunner } from '../camera.ts';

type Body = Record<string, unknown>;

class CommandError extends Error {}

/**
 * `<prefix>/<device>/cmd/<name>` with a JSON body (an empty body is `{}`); every command answers
 * on `.../cmd/<name>/result` with `{ok, command, requestId, error?, data?}`.
 */
class CommandsFeature implements Feature {
  readonly name = 'commands';
  private readonly onConnect = () => {
    this.ctx.mqtt.subscribe(this.ctx.topics.commandFilter, this.ctx.config.mqtt.qos.commands).catch((err: Error) => this.ctx.log.warn(`subscribe commands: ${err.message}`));
  };
  private readonly onMessage = (m: IncomingMessage) => {
    const name = this.ctx.topics.parseCommand(m.topic);
    if (name) this.handle(name, m.payload).catch((err: Error) => this.ctx.log.warn(`command ${name}: ${err.message}`));
  };

  constructor(private readonly ctx: AgentContext) {}

  async start(): Promise<void> {
    this.ctx.mqtt.on('connect', this.onConnect);
    this.ctx.mqtt.on('message', this.onMessage);
    if (this.ctx.mqtt.connected) this.onConnect();
  }

  async stop(): Promise<void> {
    this.ctx.mqtt.off('connect', this.onConnect);
    this.ctx.mqtt.off('message', this.onMessage);
  }

  private cameras(body: Body): CameraRunner[] {
    if (body.camera === undefined) return [...this.ctx.cameras.values()];
    const cam = this.ctx.cameras.get(String(body.camera));
    if (!cam) throw new CommandError(`camera: unknown camera "${String(body.camera)}" (have ${[...this.ctx.cameras.keys()].join(', ')})`);
    return [cam];
  }

  async handle(name: CommandName, raw: Buffer): Promise<void> {
    let body: Body = {};
    const result: CommandResult = { ok: true, command: name, requestId: null };
    try {
      const text = raw.toString('utf8').trim();
      if (text) {
        const parsed: unknown = JSON.parse(text);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CommandError('body: expected a JSON object');
        body = parsed as Body;
      }
      result.requestId = typeof body.requestId === 'string' ? body.requestId : null;
      result.data = await this.run(name, body);
    } catch (err) {
      result.ok = false;
      result.error = err instanceof SyntaxError ? `body: not JSON (${err.message})` : (err as Error).message.split('\n')[0];
    }
    this.ctx.log.info(`command ${name}: ${result.ok ? 'ok' : `failed: ${result.error}`}`);
    await this.ctx.publisher.sendLive(this.ctx.topics.commandResult(name), JSON.stringify(result), { qos: this.ctx.config.mqtt.qos.commands });
  }

  private async run(name: CommandName, body: Body): Promise<Record<string, unknown>> {
    switch (name) {
      case 'set-fps': {
        const fps = Number(body.fps);
        if (!Number.isFinite(fps) || fps <= 0 || fps > 120) throw new CommandError(`fps: expected a number in (0, 120], got ${JSON.stringify(body.fps)}`);
        const cams = this.cameras(body);
        for (const c of cams) c.setFps(fps);
        await this.ctx.publishInfo();
        return { cameras: cams.map((c) => c.id), fps };
      }
      case 'pause':
      case 'resume': {
        const cams = this.cameras(body);
        for (const c of cams) c.setPaused(name === 'pause');
        return { cameras: cams.map((c) => c.id), paused: name === 'pause' };
      }
      case 'snapshot': {
        const [cam] = this.cameras({ camera: body.camera ?? [...this.ctx.cameras.keys()][0] });
        const f = cam.lastFrame;
        if (!f) throw new CommandError(`camera ${cam.id}: no frame read yet`);
        return { camera: cam.id, frame: cam.frameNo, ts: f.ts.toISOString(), bytes: f.buffer.length, imageBase64: f.buffer.toString('base64') };
      }
      case 'reload-model':
      case 'switch-model': {
        const path = name === 'switch-model' ? body.path : this.ctx.model.current.path;
        if (typeof path !== 'string' || !path) throw new CommandError('path: expected the model file path');
        const m = await this.ctx.model.switchTo(path);
        await this.ctx.publishInfo();
        return { model: m.ref, path: m.path, provider: m.provider };
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
