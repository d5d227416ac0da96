import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeSegment } from '../../device/queue/record.ts';

/**
 * Fault injection on loopback: a TCP proxy between agent and broker, a size-limited tmpfs for the
 * queue, and the real agent process (bin/edgeloom.js) with its stderr kept for the assertions.
 */
export type ProxyMode = 'up' | 'down' | 'black-hole';

interface Pair {
  client: Socket;
  upstream: Socket | null;
}

/**
 * `up` forwards; `down` resets every connection and refuses new ones (a broker restart, a cable
 * pulled at the switch); `black-hole` accepts and keeps connections but forwards nothing (a dead
 * NAT entry, a firewall dropping packets): only keepalive and connect timeouts notice it.
 */
export class TcpProxy {
  private pairs = new Set<Pair>();
  private mode: ProxyMode = 'up';
  private constructor(private readonly server: Server, readonly port: number, private readonly target: number) {
    server.on('connection', (s) => this.accept(s));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, (server.address() as AddressInfo).port, targetPort);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far (each agent connect attempt is one). */
  accepted = 0;

  private accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: null };
    this.pairs.add(pair);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    if (this.mode === 'black-hole') {
      client.on('data', () => undefined); // read and drop
      return;
    }
    const upstream = connect(this.target, '127.0.0.1');
    pair.upstream = upstream;
    // In a black hole nothing travels, not even the broker closing its side.
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      if (this.mode !== 'black-hole') client.destroy();
    });
    client.on('data', (d) => {
      if (this.mode === 'up') upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (this.mode === 'up') client.write(d);
    });
  }

  set(mode: ProxyMode): void {
    this.mode = mode;
    // Going black-hole keeps the connections open, silent. Any other change ends them.
    if (mode === 'black-hole') return;
    for (const p of this.pairs) {
      p.client.resetAndDestroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.set('down');
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const run = promisify(execFile);

/** A tmpfs of `bytes`, or the reason there cannot be one here (not root, no CAP_SYS_ADMIN). */
export async function mountTmpfs(dir: string, bytes: number): Promise<{ resize(bytes: number): Promise<void>; unmount(): Promise<void> } | string> {
  await mkdir(dir, { recursive: true });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  } catch (err) {
    return `cannot mount a tmpfs (${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}); the ENOSPC tests need root or CAP_SYS_ADMIN`;
  }
  return {
    resize: async (b) => void (await run('mount', ['-o', `remount,size=${b}`, dir])),
    unmount: async () => void (await run('umount', ['-l', dir]).catch(() => undefined)),
  };
}

/** Frame numbers of the labels in a queue directory's segment files (what survives a restart). */
export async function framesOnDisk(dir: string): Promise<number[]> {
  const frames: number[] = [];
  for (const n of (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort()) {
    for (const r of decodeSegment(await readFile(join(dir, n), 'utf8')).records) frames.push((JSON.parse(r.payload) as { frame: number }).frame);
  }
  return frames;
}

export interface AgentProcess {
  child: ChildProcess;
  stderr(): string;
  /** Resolves once stderr matches (the agent's own log says what it did). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM; resolves with the exit code and how long the exit took. */
  terminate(): Promise<{ code: number | null; ms: number }>;
  exited(): Promise<number | null>;
}

/** The real agent process with a JSON config file (`config` is merged over fast test settings). */
export async function spawnAgent(dir: string, config: Record<string, unknown>, logLevel = 'info'): Promise<AgentProcess> {
  const path = join(dir, `agent-${config.deviceId as string}-${Date.now()}.json`);
  await writeFile(path, JSON.stringify({ statsIntervalS: 3600, ...config }));
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/edgeloom.js'), 'agent', '--config', path], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, EDGELOOM_LOG_LEVEL: logLevel },
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const w of waiters) w();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => stderr,
    waitForLog(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!re.test(stderr)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in the agent's log:\n${stderr.slice(-1500)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async terminate() {
      const t0 = performance.now();
      child.kill('SIGTERM');
      const code = await exit;
      return { code, ms: performance.now() - t0 };
    },
    exited: () => exit,
  };
}

/** Settings that make outages visible in seconds instead of the production minutes. */
export const FAST_MQTT = { keepalive: 1, reconnectMinMs: 100, reconnectMaxMs: 400, connectTimeoutMs: 1000 };
