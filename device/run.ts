import { createLogger } from '../src/log.ts';
import { UserError } from '../src/errors.ts';
import { resolveAgentConfig, type AgentFlags } from './config.ts';
import { startAgent } from './agent.ts';
import type { BrokerOptions } from './broker.ts';

/** Resolves with the signal's name on SIGTERM/SIGINT, or with null once `finished` settles. */
export async function untilStopSignal(finished: Promise<void>): Promise<string | null> {
  let signal: string | null = null;
  const stopOn = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        signal = sig;
        resolve();
      });
    }
  });
  await Promise.race([stopOn, finished]);
  return signal;
}

/**
 * `edgeloom agent`: runs until SIGTERM/SIGINT, or until every camera ended (finite sources,
 * --max-frames). Either way it finishes the frame in flight, delivers queued labels for a few
 * seconds, and publishes `offline`.
 */
export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  const log = createLogger('agent');
  const config = await resolveAgentConfig(flags);
  const agent = await startAgent(config, log);
  const signal = await untilStopSignal(agent.finished());
  log.info(signal ? `${signal}: stopping` : 'all cameras finished: stopping');
  await agent.stop({ drainTimeoutMs: signal ? 5000 : 15_000 });
  const cameras = [...agent.ctx.cameras.values()];
  if (!signal && cameras.every((c) => c.fatal)) throw new UserError(cameras[0].fatal!);
}

export async function runBrokerCommand(opts: BrokerOptions): Promise<void> {
  // Imported here so that `edgeloom agent` does not load aedes.
  const { startBroker } = await import('./broker.ts');
  const broker = await startBroker(opts);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await broker.close();
}
