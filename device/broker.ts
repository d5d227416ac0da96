import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { createLogger, type Logger } from '../src/log.ts';
import { UserError } from '../src/errors.ts';
import { createOriginPolicy, guardConnection, isLoopbackHost, normalizeOrigin } from './broker-guard.ts';
import { BROKER_DEFAULTS } from './broker-defaults.ts';
import { createAuthenticator, isReadableByOthers, readPasswordFile, type Authenticator } from './broker-auth.ts';

export { BROKER_DEFAULTS };

export type BrokerOptions = { [K in keyof typeof BROKER_DEFAULTS]?: (typeof BROKER_DEFAULTS)[K] };

export type BrokerErrorCode = 'EBROKER_OPTION' | 'EBROKER_TLS' | 'EBROKER_LISTEN' | 'EBROKER_ANONYMOUS';

export class BrokerError extends UserError {
  constructor(readonly code: BrokerErrorCode, message: string) {
    super(message);
  }
}

export type RefusalReason = 'packet-too-large' | 'malformed-length' | 'origin' | 'auth' | 'auth-busy';

export interface BrokerRefusal {
  reason: RefusalReason;
  transport: 'tcp' | 'ws';
  remote: string;
  /** Bytes read from the client's connection when it was cut (packet guards only). */
  bytesRead?: number;
  detail?: string;
}

export interface BrokerEvents {
  refused: [BrokerRefusal];
}

/** An embedded MQTT broker (aedes) on TCP and, optionally, WebSocket (for browser dashboards). */
export interface EmbeddedBroker {
  port: number;
  wsPort: number | null;
  /** The addresses the listeners are bound to, as the OS reports them. */
  addresses: { tcp: string; ws: string | null };
  tls: boolean;
  /** `mqtt://` or `mqtts://` URL reaching the TCP listener from this machine. */
  url: string;
  /** Connections refused so far, by reason. */
  readonly refused: Record<RefusalReason, number>;
  readonly events: EventEmitter<BrokerEvents>;
  /** Re-reads the password file (`edgeloom broker` does on SIGHUP); returns the number of users. */
  reloadUsers(): Promise<number>;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new BrokerError('EBROKER_LISTEN', `${what} ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'port already in use' : err.message}`)));
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

function checkOptions(o: typeof BROKER_DEFAULTS): void {
  if (!Number.isInteger(o.maxPacketBytes) || o.maxPacketBytes < 64 || o.maxPacketBytes > 268_435_460) {
    throw new BrokerError('EBROKER_OPTION', `--max-packet-bytes ${o.maxPacketBytes}: expected an integer from 64 to 268435460 (MQTT's largest packet)`);
  }
  for (const origin of o.wsOrigins) {
    if (origin === '*') continue;
    try {
      normalizeOrigin(origin);
    } catch (err) {
      throw new BrokerError('EBROKER_OPTION', `--ws-origin ${origin}: ${(err as Error).message} (e.g. https://dashboard.example:8443, or '*' for any)`);
    }
  }
  if ((o.tlsCert === null) !== (o.tlsKey === null)) throw new BrokerError('EBROKER_TLS', 'TLS needs both --tls-cert FILE and --tls-key FILE');
  if (o.users === null && !o.allowAnonymous && !isLoopbackHost(o.host)) {
    throw new BrokerError('EBROKER_ANONYMOUS', `--host ${o.host}: anyone on the network could publish commands to every agent; add --users FILE (create it with: edgeloom broker passwd FILE USER), ` +
      `or pass --allow-anonymous to accept that`);
  }
}

async function readTls(o: typeof BROKER_DEFAULTS): Promise<{ cert: Buffer; key: Buffer } | null> {
  if (o.tlsCert === null || o.tlsKey === null) return null;
  const read = async (path: string, flag: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new BrokerError('EBROKER_TLS', `${flag} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  return { cert: await read(o.tlsCert, '--tls-cert'), key: await read(o.tlsKey, '--tls-key') };
}

async function loadUsers(path: string, log: Logger): Promise<Map<string, string>> {
  const users = await readPasswordFile(path);
  if (users.size === 0) log.warn(`${path}: no users, so every client will be refused (add one: edgeloom broker passwd ${path} USER)`);
  if (await isReadableByOthers(path)) log.warn(`${path}: readable by other users; chmod 600 ${path}`);
  return users;
}

/** The bound address as a client on this machine dials it: a wildcard becomes loopback. */
function reachable(a: AddressInfo): AddressInfo {
  if (a.address === '0.0.0.0') return { ...a, address: '127.0.0.1' };
  if (a.address === '::') return { ...a, address: '::1' };
  return a;
}

function describeRemote(socket: { remoteAddress?: string; remotePort?: number }): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

type Handle = (conn: Duplex, transport: 'tcp' | 'ws', socket: Socket, req?: IncomingMessage) => void;

function createTcpServer(tls: { cert: Buffer; key: Buffer } | null, o: typeof BROKER_DEFAULTS, handle: Handle): Server {
  if (!tls) return createNetServer((s) => handle(s, 'tcp', s));
  try {
    return createTlsServer({ ...tls, handshakeTimeout: o.connectTimeoutMs }, (s: TLSSocket) => handle(s, 'tcp', s));
  } catch (err) {
    throw new BrokerError('EBROKER_TLS', `--tls-cert ${o.tlsCert} --tls-key ${o.tlsKey}: ${(err as Error).message} (expected a PEM certificate and its own private key)`);
  }
}

/** The HTTP(S) server behind the WebSocket port: upgrades from allowed origins only, 426 for anything else. */
function createWsServer(tls: { cert: Buffer; key: Buffer } | null, o: typeof BROKER_DEFAULTS, handle: Handle, refuse: (r: BrokerRefusal) => void): { http: HttpServer; wss: WebSocketServer } {
  const notWebSocket = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('MQTT over WebSocket only\n');
  };
  const http = tls ? createHttpsServer({ ...tls, handshakeTimeout: o.connectTimeoutMs }, notWebSocket) : createHttpServer(notWebSocket);
  http.headersTimeout = o.connectTimeoutMs;
  http.requestTimeout = o.connectTimeoutMs;
  // ws holds a whole message before emitting it, so its cap must not exceed ours (ws' default is 100 MiB).
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPacketBytes, perMessageDeflate: false });
  const originAllowed = createOriginPolicy(o.wsOrigins);
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!originAllowed(req.headers.origin, req.headers.host)) {
      refuse({ reason: 'origin', transport: 'ws', remote: describeRemote(socket), detail: `Origin ${JSON.stringify(req.headers.origin)}; allow it with --ws-origin` });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => handle(createWebSocketStream(client), 'ws', socket, req));
  });
  return { http, wss };
}

export async function startBroker(opts: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const o: typeof BROKER_DEFAULTS = { ...BROKER_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  checkOptions(o);
  const log = createLogger('broker');
  const tls = await readTls(o);
  const auth: Authenticator | null = o.users === null ? null : await createAuthenticator(await loadUsers(o.users, log), { concurrency: o.authConcurrency, queue: o.authQueue });
  const events = new EventEmitter<BrokerEvents>();
  const refused: Record<RefusalReason, number> = { 'packet-too-large': 0, 'malformed-length': 0, origin: 0, auth: 0, 'auth-busy': 0 };
  const refuse = (r: BrokerRefusal) => {
    refused[r.reason]++;
    log.warn(`refused ${r.transport} client ${r.remote}: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`);
    events.emit('refused', r);
  };

  const peers = new WeakMap<object, { transport: 'tcp' | 'ws'; remote: string }>();
  const aedes = await Aedes.createBroker({
    connectTimeout: o.connectTimeoutMs,
    drainTimeout: o.drainTimeoutMs,
    ...(auth ? {
      authenticate: (client, username, password, done) => {
        const { transport, remote } = peers.get(client.conn) ?? { transport: 'tcp', remote: '?' };
        auth.check(username, password).then((result) => {
          if (result === 'ok') return done(null, true);
          refuse({ reason: result === 'busy' ? 'auth-busy' : 'auth', transport, remote, detail: `client id ${JSON.stringify(client.id)}` });
          done(Object.assign(new Error(result === 'busy' ? 'server busy' : 'bad user name or password'), { returnCode: result === 'busy' ? 3 : 4 }), false);
        }, (err: Error) => done(Object.assign(err, { returnCode: 3 }), false));
      },
    } : {}),
  });

  /** Hands a client's byte stream to aedes behind the packet size guard. */
  const handle: Handle = (conn, transport, socket, req) => {
    const remote = describeRemote(socket);
    const guarded = guardConnection(conn, o.maxPacketBytes, (verdict) => {
      refuse({ reason: verdict.reason, transport, remote, bytesRead: socket.bytesRead, detail: verdict.reason === 'packet-too-large' ? `${verdict.declaredBytes} bytes declared, --max-packet-bytes ` +
        `${o.maxPacketBytes}` : undefined });
    });
    peers.set(guarded, { transport, remote });
    aedes.handle(guarded as never, req as never);
  };

  const sockets = new Set<Socket>();
  const track = (server: Server) => {
    server.maxConnections = o.maxConnections;
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
  };

  let tcp: Server | null = null;
  let ws: { http: HttpServer; wss: WebSocketServer } | null = null;
  const close = async () => {
    for (const c of ws?.wss.clients ?? []) c.terminate();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const s of sockets) s.destroy();
    for (const server of [tcp, ws?.http]) if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  let tcpAddress: AddressInfo;
  let wsAddress: AddressInfo | null = null;
  try {
    tcp = createTcpServer(tls, o, handle);
    track(tcp);
    if (tls) tcp.on('tlsClientError', (err: Error, s: TLSSocket) => log.debug(`TLS handshake with ${describeRemote(s)} failed: ${err.message}`));
    tcpAddress = await listen(tcp, opts.port ?? (tls ? o.tlsPort : o.port), o.host, '--port');
    if (o.wsPort !== null) {
      ws = createWsServer(tls, o, handle, refuse);
      track(ws.http);
      wsAddress = await listen(ws.http, o.wsPort, o.host, '--ws-port');
    }
  } catch (err) {
    await close();
    throw err;
  }
  const scheme = tls ? ['mqtts', 'wss'] : ['mqtt', 'ws'];
  const show = (a: AddressInfo) => (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
  log.info(`MQTT broker listening on ${scheme[0]}://${show(tcpAddress)}${wsAddress ? ` and ${scheme[1]}://${show(wsAddress)}` : ''}; ${auth ? `users from ` +
    `${o.users}` : 'no authentication'}, packets up to ${o.maxPacketBytes} bytes`);
  if (!auth && !isLoopbackHost(o.host)) log.warn(`--allow-anonymous on ${o.host}: any client on the network can connect, publish and subscribe`);

  return {
    port: tcpAddress.port,
    wsPort: wsAddress?.port ?? null,
    addresses: { tcp: tcpAddress.address, ws: wsAddress?.address ?? null },
    tls: tls !== null,
    url: `${scheme[0]}://${show(reachable(tcpAddress))}`,
    refused,
    events,
    async reloadUsers() {
      if (!auth || o.users === null) throw new BrokerError('EBROKER_OPTION', 'this broker was started without --users');
      const users = await loadUsers(o.users, log);
      auth.setUsers(users);
      log.info(`${o.users}: ${users.size} user(s) loaded`);
      return users.size;
    },
    close,
  };
}
