import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../../src/errors.ts';
import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';

/** What tests and embedders can read from the running feature. */
export interface HttpFeatureHandle extends Feature {
  readonly port: number;
  /** The address the server is bound to (`http.host`, default 127.0.0.1). */
  readonly address: string;
}

/** `/healthz` (JSON, 200 while the agent runs, 503 while the broker is unreachable) and Prometheus `/metrics`. */
class HttpFeature implements HttpFeatureHandle {
  readonly name = 'http';
  private server: Server | null = null;
  port = 0;
  address = '';
  constructor(private readonly ctx: AgentContext) {}

  async start(): Promise<void> {
    const { Registry, Gauge, Counter, collectDefaultMetrics } = await import('prom-client');
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'edgeloom_process_' });
    const { ctx } = this;
    const s = ctx.stats;
    new Counter({ name: 'edgeloom_frames_total', help: 'Frames read', labelNames: ['camera'], registers: [registry], collect() {
      this.reset();
      for (const [id, c] of s.cameras) this.inc({ camera: id }, c.frames);
    } });
    new Counter({ name: 'edgeloom_labels_total', help: 'Labels produced', labelNames: ['camera'], registers: [registry], collect() {
      this.reset();
      for (const [id, c] of s.cameras) this.inc({ camera: id }, c.labels);
    } });
    new Counter({ name: 'edgeloom_frame_errors_total', help: 'Frames that failed, by reason', labelNames: ['reason'], registers: [registry], collect() {
      this.reset();
      for (const [reason, n] of Object.entries(s.errorsByReason)) this.inc({ reason }, n);
    } });
    new Gauge({ name: 'edgeloom_inference_ms', help: 'Inference latency over the recent window', labelNames: ['quantile'], registers: [registry], collect() {
      const inf = s.inferenceMs();
      this.set({ quantile: '0.5' }, inf.p50);
      this.set({ quantile: '0.95' }, inf.p95);
    } });
    new Gauge({ name: 'edgeloom_queue_depth', help: 'Labels waiting for the broker', registers: [registry], collect() {
      this.set(ctx.queue.depth);
    } });
    new Counter({ name: 'edgeloom_dropped_total', help: 'Messages dropped (queue bounds, QoS 0 while offline)', registers: [registry], collect() {
      this.reset();
      this.inc(ctx.queue.dropped.total + Object.values(s.droppedByReason).reduce((a, b) => a + b, 0));
    } });
    new Gauge({ name: 'edgeloom_mqtt_connected', help: '1 while connected to the broker', registers: [registry], collect() {
      this.set(ctx.mqtt.connected ? 1 : 0);
    } });
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
        const body = { status: ctx.mqtt.connected ? 'ok' : 'degraded', mqttConnected: ctx.mqtt.connected, model: ctx.model.current.ref, uptimeS: s.uptimeS(), queueDepth: ctx.queue.depth };
        res.writeHead(ctx.mqtt.connected ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      } else if (path === '/metrics') {
        registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
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
    const bound = await new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`--http-port ${http.port} --http-host ${http.host}: ${err.code === 'EADDRINUSE' ? 'port already in use' : err.message}`)));
      server.listen(http.port, http.host, () => resolve(server.address() as AddressInfo));
    });
    this.port = bound.port;
    this.address = bound.address;
    ctx.log.info(`health and metrics on http://${http.host}:${this.port}/healthz and /metrics${http.host === '127.0.0.1' ? ' (this machine only; --http-host 0.0.0.0 to let a Prometheus elsewhere scrape it)' : ''}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export const httpFeature: FeatureDefinition = {
  name: 'http',
  enabled: (c) => c.http !== null,
  create: async (ctx) => new HttpFeature(ctx),
};
