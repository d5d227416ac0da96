import { existsSync } from 'node:fs';
import { createLogger } from '../src/log.ts';
import { UserError } from '../src/errors.ts';
import { untilStopSignal } from './run.ts';
import { resolveAgentConfig, type AgentFlags } from './config.ts';
import { startAgent, type Agent } from './agent.ts';
import { BROKER_DEFAULTS, startBroker, type EmbeddedBroker } from './broker.ts';

export interface Demo {
  broker: EmbeddedBroker;
  agent: Agent;
  stop(): Promise<void>;
}

/**
 * An embedded broker plus an agent replaying the Fashion-MNIST test set into it: the pieces
 * `npm start` needs. Flags override the defaults (e.g. `model`, `fps`, `source`).
 */
export async function runDemo(flags: AgentFlags & { port?: number; wsPort?: number | null; host?: string; allowAnonymous?: boolean } = {}): Promise<Demo> {
  const { port, wsPort, host, allowAnonymous, ...agentFlags } = flags;
  // The broker's defaults apply: 127.0.0.1 unless --host, and no anonymous clients off loopback unless --allow-anonymous.
  const broker = await startBroker({ port, wsPort: wsPort === undefined ? BROKER_DEFAULTS.commandWsPort : wsPort, host, allowAnonymous });
  try {
    const config = await resolveAgentConfig({
      deviceId: 'demo',
      source: 'fashion-mnist:test',
      fps: 2,
      loop: true,
      ...agentFlags,
      mqttUrl: broker.url,
    });
    config.queue.type = 'memory';
    const agent = await startAgent(config, createLogger('demo'));
    return {
      broker,
      agent,
      async stop() {
        await agent.stop({ drainTimeoutMs: 2000 });
        await broker.close();
      },
    };
  } catch (err) {
    await broker.close();
    throw err;
  }
}

export interface DemoOptions {
  model: string;
  fps?: number;
  port: number;
  wsPort: number;
  host?: string;
  allowAnonymous?: boolean;
  maxFrames?: number;
}

/** Something started beside the demo's broker (the CLI passes the web dashboard): lines to print, and its stop. */
export type DemoCompanion = (broker: EmbeddedBroker) => Promise<{ lines: string[]; close(): Promise<void> }>;

/** `edgeloom demo` (`npm start`): runs until Ctrl-C/SIGTERM or --max-frames, then stops cleanly. */
export async function runDemoCommand(opts: DemoOptions, companion?: DemoCompanion): Promise<void> {
  if (!existsSync(opts.model)) {
    throw new UserError(`${opts.model} not found: the demo needs a model; train one and export it (edgeloom train --arch edgenet --out runs/edgenet && edgeloom export --model runs/edgenet --out ` +
      `models/edgenet.onnx && edgeloom quantize --model models/edgenet.onnx --out models/default.onnx) or pass --model FILE`);
  }
  const demo = await runDemo({
    model: opts.model,
    port: opts.port,
    wsPort: opts.wsPort,
    host: opts.host,
    allowAnonymous: opts.allowAnonymous,
    ...(opts.fps !== undefined ? { fps: opts.fps } : {}),
    ...(opts.maxFrames !== undefined ? { maxFrames: opts.maxFrames } : {}),
  });
  const { broker, agent } = demo;
  const cam = agent.ctx.config.cameras[0];
  // Ctrl-C/SIGTERM are handled from here on, also while the companion starts.
  const stopped = untilStopSignal(agent.finished());
  const extra = companion ? await companion(broker) : null;
  process.stderr.write([
    '',
    `edgeloom demo: agent "${agent.ctx.config.deviceId}" classifies the Fashion-MNIST test set with ${opts.model} at ${cam.fps} fps`,
    ...(extra?.lines ?? []),
    `  watch the labels:  mosquitto_sub -h localhost -p ${broker.port} -t 'edgeloom/#' -v`,
    `  MQTT over WebSocket (browser dashboards, MQTT Explorer): ws://localhost:${broker.wsPort}`,
    `  labels on ${agent.ctx.topics.label(cam.id)}; Ctrl-C to stop`,
    '',
  ].join('\n'));
  const signal = await stopped;
  process.stderr.write(`edgeloom demo: ${signal ? `${signal}, stopping` : 'all frames done, stopping'}\n`);
  await extra?.close();
  await demo.stop();
}
