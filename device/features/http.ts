import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../../src/errors.ts';
import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';
import { HealthMonitor } from '../health.ts';

/** What tests and embedders can read from the running feature. */
export interface HttpFeatureHandle extends Feature {
  readonly port: number;
  /** The address the server is bound to (`http.host`, default 127.0.0.1). */
  readonly address: string;
}

/**
 * `/healthz` (JSON; 503 with the reasons when a camera is stalled, the broker is unreachable, acks
 * are overdue, the queue grows while connected or the event loop lags: device/health.ts) and
 * Prometheus `/metrics`.
 */
class HttpFeature implements HttpFeatureHandle {
  readonly name = 'http';
  private server: Server | null = null;
  private readonly health: HealthMonitor;
  private metrics: { stop(): void } | null = null;
  port = 0;
  address = '';
  constructor(private readonly ctx: AgentContext) {
    this.health = new HealthMonitor(ctx);
  }

  async start(): Promise<void> {
    // Loaded only when the HTTP feature is on: a board without --http-port never loads prom-client.
    const { AgentMetrics } = await import('./metrics.ts');
    const metrics = new AgentMetrics(this.ctx);
    this.metrics = metrics;
    metrics.start();
    const { ctx } = this;
    const s = ctx.stats;
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
        const report = this.health.check();
        const body = {
          status: report.ok ? 'ok' : 'degraded', reasons: report.reasons, mqttConnected: ctx.mqtt.connected,
          model: ctx.model.current.ref, uptimeS: s.uptimeS(), queueDepth: ctx.queue.depth, cameras: report.cameras,
        };
        res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(body));
      } else if (path === '/metrics') {
        metrics.metrics().then((text) => {
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(text);
        }, (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        });
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found: try /healthz or /metrics\n');
      }
    });
    const http = ctx.config.http!;
    const server = this.server;
    this.health.start();
    const bound = await new Promise<AddressInfo>((resolve, reject) => {
      server.once('error',
        (err: NodeJS.ErrnoException) => reject(new UserError(`--http-port ${http.port} --http-host ${http.host}: ${err.code === 'EADDRINUSE' ? 'port already in use' : err.message}`)));
      server.listen(http.port, http.host, () => resolve(server.address() as AddressInfo));
    });
    this.port = bound.port;
    this.address = bound.address;
    ctx.log.info(`health and metrics on http://${http.host}:${this.port}/healthz and /metrics${http.host === '127.0.0.1' ? ' (this machine only; --http-host 0.0.0.0 to let a Prometheus elsewhere ' +
      'scrape it)' : ''}`);
  }

  async stop(): Promise<void> {
    this.health.stop();
    this.metrics?.stop();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export const httpFeature: FeatureDefinition = {
  name: 'http',
  enabled: (c) => c.http !== null,
  create: async (ctx) => new HttpFeature(ctx),
};
