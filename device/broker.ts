import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { createLogger } from '../src/log.ts';
import { UserError } from '../src/errors.ts';

/** An embedded MQTT broker (aedes) on TCP and, optionally, WebSocket (for browser dashboards). */
export interface EmbeddedBroker {
  port: number;
  wsPort: number | null;
  url: string;
  close(): Promise<void>;
}

export interface BrokerOptions {
  port?: number;
  wsPort?: number | null;
  host?: string;
}

function listen(server: Server | HttpServer, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`${what} ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'port already in use' : err.message}`)));
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startBroker(opts: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const log = createLogger('broker');
  const host = opts.host ?? '0.0.0.0';
  const aedes = await Aedes.createBroker();
  const tcp = createServer(aedes.handle);
  const port = await listen(tcp, opts.port ?? 1883, host, 'broker --port');
  let http: HttpServer | null = null;
  let wss: WebSocketServer | null = null;
  let wsPort: number | null = null;
  if (opts.wsPort !== undefined && opts.wsPort !== null) {
    http = createHttpServer();
    wss = new WebSocketServer({ server: http });
    wss.on('connection', (socket, req) => aedes.handle(createWebSocketStream(socket) as never, req as never));
    wsPort = await listen(http, opts.wsPort, host, 'broker --ws-port');
  }
  log.info(`MQTT broker listening on tcp ${host}:${port}${wsPort !== null ? ` and ws ${host}:${wsPort}` : ''}`);
  return {
    port,
    wsPort,
    url: `mqtt://127.0.0.1:${port}`,
    async close() {
      for (const c of wss?.clients ?? []) c.terminate();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()));
    },
  };
}
