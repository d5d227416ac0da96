import { createLogger } from '../src/log.ts';
import { UserError } from '../src/errors.ts';
import { resolveAgentConfig, type AgentFlags } from './config.ts';
import { SHUTDOWN_DEFAULTS, startAgent } from './agent.ts';
import type { BrokerOptions, EmbeddedBroker } from './broker.ts';

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
 * After a stop signal the process exits within `ms` whatever still hangs (a source stuck in a
 * read, a dead disk). The timer is unref'd: a clean stop exits earlier without waiting for it.
 */
export function exitAfter(ms: number, log: { error(m: string): void }): void {
  setTimeout(() => {
    log.error(`stop did not complete within ${ms} ms; exiting`);
    process.exit(1);
  }, ms).unref();
}

/**
 * `edgeloom agent`: runs until SIGTERM/SIGINT, or until every camera ended (finite sources,
 * --max-frames). Either way it finishes the frame in flight, delivers queued labels for a moment
 * (the rest stays on disk), publishes `offline` and exits; after a signal within 5 s at most.
 */
export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  const log = createLogger('agent');
  const config = await resolveAgentConfig(flags);
  const agent = await startAgent(config, log);
  const signal = await untilStopSignal(agent.finished());
  log.info(signal ? `${signal}: stopping` : 'all cameras finished: stopping');
  if (signal) exitAfter(SHUTDOWN_DEFAULTS.hardExitMs, log);
  await agent.stop({ drainTimeoutMs: signal ? SHUTDOWN_DEFAULTS.drainMs : SHUTDOWN_DEFAULTS.finishedDrainMs });
  const cameras = [...agent.ctx.cameras.values()];
  if (!signal && cameras.every((c) => c.fatal)) throw new UserError(cameras[0].fatal!);
}

/** `edgeloom broker`: runs until SIGTERM/SIGINT; SIGHUP re-reads the --users file (a bad file keeps the old users). */
/** Something served next to the broker for as long as it runs (the web dashboard). */
export type BrokerCompanion = (broker: EmbeddedBroker) => Promise<{ close(): Promise<void> }>;

export async function runBrokerCommand(opts: BrokerOptions, companion?: BrokerCompanion): Promise<void> {
  // Imported here so that `edgeloom agent` does not load aedes.
  const { startBroker } = await import('./broker.ts');
  const broker = await startBroker(opts);
  let extra: { close(): Promise<void> } | undefined;
  try {
    extra = await companion?.(broker);
  } catch (err) {
    await broker.close();
    throw err;
  }
  const log = createLogger('broker');
  const onHangup = () => {
    if (!opts.users) return log.warn('SIGHUP: nothing to reload (no --users)');
    broker.reloadUsers().catch((err: Error) => log.error(`SIGHUP: ${err.message}; still using the users loaded before`));
  };
  process.on('SIGHUP', onHangup);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.off('SIGHUP', onHangup);
  await extra?.close();
  await broker.close();
}
