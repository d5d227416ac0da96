import { createLogger } from '../src/log.ts';
import { resolveAgentConfig, type AgentFlags } from './config.ts';
import { startAgent, type Agent } from './agent.ts';
import { startBroker, type EmbeddedBroker } from './broker.ts';

export interface Demo {
  broker: EmbeddedBroker;
  agent: Agent;
  stop(): Promise<void>;
}

/**
 * An embedded broker plus an agent replaying the Fashion-MNIST test set into it: the pieces
 * `npm start` needs. Flags override the defaults (e.g. `model`, `fps`, `source`).
 */
export async function runDemo(flags: AgentFlags & { port?: number; wsPort?: number | null } = {}): Promise<Demo> {
  const broker = await startBroker({ port: flags.port ?? 1883, wsPort: flags.wsPort === undefined ? 8083 : flags.wsPort, host: '127.0.0.1' });
  try {
    const config = await resolveAgentConfig({
      deviceId: 'demo',
      source: 'fashion-mnist:test',
      fps: 2,
      loop: true,
      ...flags,
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
