import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';

/** Publishes `<prefix>/<device>/stats` every `statsIntervalS` seconds. */
class StatsFeature implements Feature {
  readonly name = 'stats';
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly ctx: AgentContext) {}
  async start(): Promise<void> {
    this.timer = setInterval(() => {
      const payload = this.ctx.stats.report(this.ctx.queue);
      this.ctx.publisher.send(this.ctx.topics.stats, JSON.stringify(payload), { qos: this.ctx.config.mqtt.qos.stats })
        .catch((err: Error) => this.ctx.log.warn(`stats: ${err.message}`));
    }, this.ctx.config.statsIntervalS * 1000);
    this.timer.unref();
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}

export const statsFeature: FeatureDefinition = {
  name: 'stats',
  enabled: (c) => c.statsIntervalS > 0,
  create: async (ctx) => new StatsFeature(ctx),
};
