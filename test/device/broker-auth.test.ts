import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { updatePasswordFile } from '../../device/broker-auth.ts';
import { makeSelfSignedCert, tryConnect } from './broker-helpers.ts';

const CLI = new URL('../../bin/edgeloom.js', import.meta.url).pathname;
let dir: string;
let usersFile: string;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  dir = await mkdtemp(join(tmpdir(), 'edgeloom-broker-'));
  usersFile = join(dir, 'broker.users');
  await updatePasswordFile(usersFile, 'agent', 'correct horse');
  await updatePasswordFile(usersFile, 'dashboard', 'battery staple');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI; `input` goes to its stdin (not a TTY). */
function cli(args: string[], input = ''): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'info' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('listening address', () => {
  test('startBroker binds TCP and WebSocket to 127.0.0.1 unless told otherwise; a LAN address of this machine is refused', async (t) => {
    const b = await startBroker({ port: 0, wsPort: 0 });
    try {
      assert.deepEqual(b.addresses, { tcp: '127.0.0.1', ws: '127.0.0.1' });
      const lan = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
      if (!lan) return t.diagnostic('no non-loopback IPv4 interface here: the address check above is the evidence');
      for (const port of [b.port, b.wsPort!]) {
        const s = netConnect(port, lan.address);
        const [err] = (await once(s, 'error')) as [NodeJS.ErrnoException];
        assert.equal(err.code, 'ECONNREFUSED', `${lan.address}:${port}`);
      }
    } finally {
      await b.close();
    }
  });

  test('a non-loopback host without --users refuses to start (EBROKER_ANONYMOUS) unless --allow-anonymous', async () => {
    await assert.rejects(startBroker({ host: '0.0.0.0', port: 0 }),
      (err: Error & { code?: string }) => err.code === 'EBROKER_ANONYMOUS' && /--users FILE/.test(err.message) && /--allow-anonymous/.test(err.message));
    const b = await startBroker({ host: '0.0.0.0', port: 0, allowAnonymous: true });
    assert.equal(b.addresses.tcp, '0.0.0.0');
    await b.close();
  });
});

describe('--users', () => {
  let broker: EmbeddedBroker;
  before(async () => {
    broker = await startBroker({ port: 0, wsPort: 0, users: usersFile });
  });
  after(async () => {
    await broker.close();
  });

  test('the right password is accepted; wrong password, unknown user, no password and no credentials get CONNACK 4', async () => {
    const ok = await tryConnect(broker.url, { username: 'agent', password: 'correct horse' });
    assert.ok(ok.connected);
    await ok.client.endAsync(true);
    const before = broker.refused.auth;
    for (const creds of [{ username: 'agent', password: 'wrong' }, { username: 'nobody', password: 'correct horse' }, { username: 'agent' }, {}]) {
      const a = await tryConnect(broker.url, creds);
      assert.equal(a.connected, false, JSON.stringify(creds));
      if (!a.connected) assert.equal(a.error.code, 4, `${JSON.stringify(creds)}: ${a.error.message}`);
    }
    assert.equal(broker.refused.auth, before + 4);
  });

  test('WebSocket clients need the password too', async () => {
    const url = `ws://127.0.0.1:${broker.wsPort}`;
    const anon = await tryConnect(url);
    assert.equal(anon.connected, false);
    const ok = await tryConnect(url, { username: 'dashboard', password: 'battery staple' });
    assert.ok(ok.connected);
    await ok.client.endAsync(true);
  });

  test('a CONNECT flood beyond the check queue is answered "server unavailable" (3), not queued without bound', async () => {
    const b = await startBroker({ port: 0, users: usersFile, authConcurrency: 1, authQueue: 0 });
    try {
      const attempts = await Promise.all(Array.from({ length: 6 }, () => tryConnect(b.url, { username: 'agent', password: 'wrong' })));
      const codes = attempts.map((a) => (a.connected ? 0 : a.error.code));
      assert.ok(codes.includes(3), `codes ${codes}`);
      assert.ok(codes.every((c) => c === 3 || c === 4), `codes ${codes}`);
      assert.equal(b.refused['auth-busy'], codes.filter((c) => c === 3).length);
    } finally {
      await b.close();
    }
  });

  test('a bad password file is named with its line (EPASSWD_SYNTAX); a missing one says how to create it', async () => {
    const bad = join(dir, 'bad.users');
    await writeFile(bad, `${(await readFile(usersFile, 'utf8')).split('\n')[0]}\nmallory:plaintext\n`);
    await assert.rejects(startBroker({ port: 0, users: bad }), (err: Error & { code?: string }) => err.code === 'EPASSWD_SYNTAX' && err.message.startsWith(`${bad}:2:`));
    await assert.rejects(startBroker({ port: 0, users: join(dir, 'missing') }), (err: Error & { code?: string }) => err.code === 'EPASSWD_READ' && /edgeloom broker passwd/.test(err.message));
  });
});

describe('TLS', () => {
  let cert: { cert: string; key: string };
  let broker: EmbeddedBroker;
  before(async () => {
    cert = await makeSelfSignedCert(dir);
    broker = await startBroker({ port: 0, wsPort: 0, users: usersFile, tlsCert: cert.cert, tlsKey: cert.key });
  });
  after(async () => {
    await broker.close();
  });

  test('mqtts:// and wss:// connect with the CA; plain mqtt:// to the TLS port and an unverified certificate fail', async () => {
    const ca = await readFile(cert.cert);
    const creds = { username: 'agent', password: 'correct horse' };
    assert.ok(broker.url.startsWith('mqtts://127.0.0.1:'));
    for (const url of [broker.url, `wss://127.0.0.1:${broker.wsPort}`]) {
      const a = await tryConnect(url, { ...creds, ca });
      assert.ok(a.connected, `${url}: ${a.connected ? '' : a.error.message}`);
      await a.client.endAsync(true);
    }
    const plain = await tryConnect(`mqtt://127.0.0.1:${broker.port}`, { ...creds, connectTimeout: 3000 });
    assert.equal(plain.connected, false);
    const untrusted = await tryConnect(broker.url, creds);
    assert.equal(untrusted.connected, false);
    if (!untrusted.connected) assert.match(untrusted.error.message, /self[- ]signed/i);
  });

  test('a key that does not match the certificate is refused at start (EBROKER_TLS), naming both files', async () => {
    const other = await makeSelfSignedCert(await mkdtemp(join(dir, 'other-')));
    await assert.rejects(startBroker({ port: 0, tlsCert: cert.cert, tlsKey: other.key }),
      (err: Error & { code?: string }) => err.code === 'EBROKER_TLS' && err.message.includes(cert.cert) && err.message.includes(other.key));
    await assert.rejects(startBroker({ port: 0, tlsCert: cert.cert }), (err: Error & { code?: string }) => err.code === 'EBROKER_TLS');
  });
});

describe('edgeloom broker passwd (CLI)', () => {
  const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
  test('on a terminal it prompts twice without echo', { skip: script ? false : 'util-linux script(1) is not installed', timeout: 60_000 }, async () => {
    const file = join(dir, 'tty.users');
    // script(1) gives the CLI a pseudo-terminal; answers are typed only once each prompt is shown.
    const child = spawn(script!, ['-qec', `${process.execPath} ${CLI} broker passwd ${file} carol`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => {
      const before = screen;
      screen += d.toString();
      if (!before.includes('Password for carol:') && screen.includes('Password for carol:')) child.stdin.write('tty pass 1\r');
      if (!before.includes('Reenter password:') && screen.includes('Reenter password:')) child.stdin.write('tty pass 1\r');
    });
    const [code] = (await once(child, 'close')) as [number];
    assert.equal(code, 0, screen);
    assert.ok(!screen.includes('tty pass 1'), 'the password is not echoed');
    const b = await startBroker({ port: 0, users: file });
    try {
      const carol = await tryConnect(b.url, { username: 'carol', password: 'tty pass 1' });
      assert.ok(carol.connected);
      await carol.client.endAsync(true);
    } finally {
      await b.close();
    }
  });

  test('writes a 0600 scrypt file the broker accepts; SIGHUP reloads it; --delete removes a user', { timeout: 60_000 }, async () => {
    const file = join(dir, 'cli.users');
    const added = await cli(['broker', 'passwd', file, 'alice'], 's3cret pass\n');
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), /^alice:\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}\n$/);
    assert.equal((await cli(['broker', 'passwd', file, 'bob'], '\n')).code, 1, 'an empty password is refused');

    const child = spawn(process.execPath, [CLI, 'broker', '--port', '0', '--ws-port', '0', '--users', file],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'info' } });
    let log = '';
    const waitLog = (re: RegExp) => new Promise<RegExpMatchArray>((resolve) => {
      const check = () => {
        const m = log.match(re);
        if (m) {
          child.stderr!.off('data', check);
          resolve(m);
        }
      };
      child.stderr!.on('data', (d) => (log += d));
      child.stderr!.on('data', check);
      check();
    });
    const exited = once(child, 'close');
    try {
      const m = await waitLog(/listening on mqtt:\/\/([\d.]+):(\d+) and ws:\/\/([\d.]+):\d+/);
      assert.equal(m[1], '127.0.0.1', 'the command binds loopback by default');
      assert.equal(m[3], '127.0.0.1');
      const url = `mqtt://127.0.0.1:${m[2]}`;
      const alice = await tryConnect(url, { username: 'alice', password: 's3cret pass' });
      assert.ok(alice.connected);
      await alice.client.endAsync(true);
      assert.equal((await tryConnect(url, { username: 'alice', password: 's3cret' })).connected, false);

      assert.equal((await cli(['broker', 'passwd', file, 'alice', '--delete'])).code, 0);
      child.kill('SIGHUP');
      await waitLog(/0 user\(s\) loaded/);
      assert.equal((await tryConnect(url, { username: 'alice', password: 's3cret pass' })).connected, false);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await exited) as [number];
    assert.equal(code, 0);
  });
});
