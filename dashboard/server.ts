import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../src/errors.ts';
import { DEFAULT_TOPIC_PREFIX } from '../src/mqtt/topics.ts';
import { buildDashboardBundle, type DashboardBundle } from './build.ts';

/**
 * Serves the dashboard: one HTML page, its bundle (built from dashboard/app with esbuild at start),
 * onnxruntime-web's WebAssembly files, the models the page can try, and a few test images. Live data
 * never passes through here: the page talks MQTT over WebSocket to the broker itself. Only GET/HEAD
 * of the listed paths is answered; nothing reveals the server's file system.
 */
export const DASHBOARD_DEFAULTS = { port: 8080, host: '127.0.0.1', modelsDir: 'models', topicPrefix: DEFAULT_TOPIC_PREFIX, testImages: 20 };

export interface DashboardOptions {
  /** The broker as the browser reaches it, `ws://` or `wss://`; a host of 0.0.0.0 means "the host that served the page". */
  mqttUrl: string;
  port?: number;
  host?: string;
  /** `.onnx` models offered by "Try the model in the browser" (the page picks the one a device runs). */
  modelsDir?: string;
  topicPrefix?: string;
  /** Fashion-MNIST test images offered as examples (0 for none). */
  testImages?: number;
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
  models: { name: string; sha256: string; bytes: number }[];
  testImages: { name: string; label: string }[];
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.onnx$/;
const MAX_MODEL_BYTES = 64 * 1024 * 1024;
const ORT_FILES = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs'];

const SECURITY_HEADERS = {
  // The broker may be any host: connect-src allows WebSockets anywhere, everything else is this server.
  // mqtt.js runs its keepalive timer in a blob: worker (background tabs throttle timers).
  'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ws: wss:; worker-src 'self' blob:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
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

async function listModels(dir: string): Promise<Map<string, { path: string; sha256: string; bytes: number }>> {
  const out = new Map<string, { path: string; sha256: string; bytes: number }>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names.filter((n) => MODEL_NAME.test(n)).sort().slice(0, 100)) {
    const path = join(dir, name);
    const info = await stat(path);
    if (!info.isFile() || info.size > MAX_MODEL_BYTES) continue;
    out.set(name, { path, sha256: createHash('sha256').update(await readFile(path)).digest('hex'), bytes: info.size });
  }
  return out;
}

async function testImagePngs(count: number): Promise<Map<string, { png: Buffer; label: string }>> {
  const out = new Map<string, { png: Buffer; label: string }>();
  if (count <= 0) return out;
  try {
    const [{ loadTestImages }, { FASHION_MNIST_CLASSES, IMAGE_PIXELS, IMAGE_SIZE, classSlug }, { default: sharp }] = await Promise.all([
      import('../device/sources/fashion-mnist.ts'), import('../src/classes.ts'), import('sharp'),
    ]);
    const t = await loadTestImages();
    for (let i = 0; i < Math.min(count, t.count); i++) {
      const label = FASHION_MNIST_CLASSES[t.labels[i]];
      const png = await sharp(Buffer.from(t.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } }).png().toBuffer();
      out.set(`${i}-${classSlug(label)}.png`, { png, label });
    }
  } catch {
    // No Fashion-MNIST here: the page still takes dropped photos.
  }
  return out;
}

function ortDir(): string {
  // The package's `require` entry is dist/ort.min.js: its directory holds the WebAssembly files.
  return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.png': 'image/png', '.html': 'text/html; charset=utf-8', '.json': 'application/json' };
const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';

export async function startDashboard(opts: DashboardOptions): Promise<DashboardServer> {
  const mqttUrl = checkMqttUrl(opts.mqttUrl);
  const host = opts.host ?? DASHBOARD_DEFAULTS.host;
  const bundle: DashboardBundle = await buildDashboardBundle();
  const html = await readFile(join(import.meta.dirname, 'index.html'));
  const models = await listModels(opts.modelsDir ?? DASHBOARD_DEFAULTS.modelsDir);
  const images = await testImagePngs(opts.testImages ?? DASHBOARD_DEFAULTS.testImages);
  const config: DashboardConfig = {
    mqttUrl,
    topicPrefix: opts.topicPrefix ?? DASHBOARD_DEFAULTS.topicPrefix,
    models: [...models].map(([name, m]) => ({ name, sha256: m.sha256, bytes: m.bytes })),
    testImages: [...images].map(([name, i]) => ({ name, label: i.label })),
  };
  const configJson = Buffer.from(JSON.stringify(config));
  const ort = ortDir();

  const send = (res: ServerResponse, status: number, type: string, body: Buffer | string) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const sendFile = (req: IncomingMessage, res: ServerResponse, path: string, type: string) => {
    stat(path).then((info) => {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': info.size });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(path).on('error', () => res.destroy()).pipe(res);
    }, () => send(res, 404, 'text/plain', 'not found\n'));
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') return send(res, 200, TYPES['.html'], html);
    if (path === '/config.json') return send(res, 200, TYPES['.json'], configJson);
    const asset = bundle.files.get(path.slice(1));
    if (asset) return send(res, 200, typeOf(path), asset);
    if (path.startsWith('/ort/') && ORT_FILES.includes(path.slice(5))) return sendFile(req, res, join(ort, path.slice(5)), typeOf(path));
    if (path.startsWith('/models/')) {
      const m = models.get(safeDecode(path.slice(8)));
      if (m) return sendFile(req, res, m.path, TYPES['.onnx']);
    }
    if (path.startsWith('/test-images/')) {
      const img = images.get(basename(path));
      if (img) return send(res, 200, TYPES['.png'], img.png);
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`dashboard --port ${opts.port ?? DASHBOARD_DEFAULTS.port} on ${host}: ${err.code === 'EADDRINUSE' ? 'port already in use (pass --port N)' : err.message}`)));
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
