import { readFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { UserError } from '../src/errors.ts';
import { DEFAULT_TOPIC_PREFIX } from '../src/mqtt/topics.ts';
import { buildDashboardBundle, type DashboardBundle } from './build.ts';
import { loadTryModelAssets } from './try-model.ts';

/**
 * Serves the dashboard: one HTML page, its bundle (built from dashboard/app with esbuild at start)
 * and /config.json. Live data never passes through here: the page talks MQTT over WebSocket to the
 * broker itself. Only GET/HEAD of these paths is answered; nothing reveals the server's file system.
 */
export const DASHBOARD_DEFAULTS = { port: 8080, host: '127.0.0.1', topicPrefix: DEFAULT_TOPIC_PREFIX };

export interface DashboardOptions {
  /** The broker as the browser reaches it, `ws://` or `wss://`; a host of 0.0.0.0 means "the host that served the page". */
  mqttUrl: string;
  port?: number;
  host?: string;
  topicPrefix?: string;
}

export interface DashboardServer {
  port: number;
  /** http://host:port/ as a person would open it. */
  url: string;
  close(): Promise<void>;
}

/** What the page reads from /config.json. */
export interface DashboardConfig {
  mqttUrl: string;
  topicPrefix: string;
}

const SECURITY_HEADERS = {
  // The broker may be any host: connect-src allows WebSockets anywhere, everything else is this server.
  // mqtt.js runs its keepalive timer in a blob: worker (background tabs throttle timers).
  // 'wasm-unsafe-eval' lets onnxruntime-web compile its WebAssembly (Try the model); it allows no JS eval.
  'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ws: wss:; worker-src 'self' blob:; img-src 'self' data: blob:; style-src 'self' " +
    "'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function checkMqttUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`--mqtt-url: "${url}" is not a URL (expected ws://HOST:PORT or wss://HOST:PORT, the broker's MQTT-over-WebSocket listener)`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new UserError(`--mqtt-url: browsers reach MQTT brokers over WebSocket only: expected ws:// or wss://, got ${parsed.protocol}//`);
  if (parsed.username || parsed.password) throw new UserError('--mqtt-url: no username or password in the URL (the page asks for them when the broker wants them and keeps them out of URLs)');
  return url;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8', '.json': 'application/json' };
const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';

export async function startDashboard(opts: DashboardOptions): Promise<DashboardServer> {
  const mqttUrl = checkMqttUrl(opts.mqttUrl);
  const host = opts.host ?? DASHBOARD_DEFAULTS.host;
  const bundle: DashboardBundle = await buildDashboardBundle();
  const html = await readFile(join(import.meta.dirname, 'index.html'));
  const tryModel = await loadTryModelAssets();
  const config: DashboardConfig = { mqttUrl, topicPrefix: opts.topicPrefix ?? DASHBOARD_DEFAULTS.topicPrefix };
  const configJson = Buffer.from(JSON.stringify(config));

  const send = (res: ServerResponse, status: number, type: string, body: Buffer | string) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') return send(res, 200, TYPES['.html'], html);
    if (path === '/config.json') return send(res, 200, TYPES['.json'], configJson);
    const asset = bundle.files.get(path.slice(1));
    if (asset) return send(res, 200, typeOf(path), asset);
    const fixed = tryModel.files.get(path);
    if (fixed) return send(res, 200, fixed[0], fixed[1]);
    const lazy = tryModel.lazy.get(path);
    if (lazy) {
      lazy[1]().then((body) => send(res, 200, lazy[0], body), () => send(res, 500, 'text/plain', 'unavailable\n'));
      return;
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`dashboard --port ${opts.port ?? DASHBOARD_DEFAULTS.port} on ${host}: ${err.code === 'EADDRINUSE' ? 'port already in ' +
      'use (pass --port N)' : err.message}`)));
    server.listen(opts.port ?? DASHBOARD_DEFAULTS.port, host, () => resolve((server.address() as AddressInfo).port));
  });
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `http://${shown}:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
