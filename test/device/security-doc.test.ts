import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { freePort } from './helpers.ts';
import { tryConnect } from './broker-helpers.ts';

/** The mosquitto ACL that docs/security.md gives, run on a real mosquitto (CI installs it). */
const DOC = new URL('../../docs/security.md', import.meta.url).pathname;
const mosquitto = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find(existsSync);
const mosquittoPasswd = ['/usr/bin/mosquitto_passwd', '/usr/sbin/mosquitto_passwd'].find(existsSync);
const skip = mosquitto && mosquittoPasswd ? false : 'mosquitto is not installed (apt-get install -y mosquitto); skipping';

let dir: string;
let proc: ChildProcess | null = null;
let url = '';
const USERS = ['pi-kitchen', 'pi-hall', 'operator', 'dashboard'];

async function docAcl(): Promise<string> {
  const text = await readFile(DOC, 'utf8');
  const m = /`\/etc\/mosquitto\/edgeloom\.acl`[^\n]*\n\n```\n([\s\S]*?)```/.exec(text);
  assert.ok(m, 'docs/security.md has the edgeloom.acl block');
  return m[1];
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'edgeloom-acl-'));
  await chmod(dir, 0o755); // mosquitto started as root reads its files after dropping to user mosquitto
  await writeFile(join(dir, 'edgeloom.acl'), await docAcl());
  await writeFile(join(dir, 'passwd'), '');
  for (const u of USERS) {
    const r = spawnSync(mosquittoPasswd!, ['-b', join(dir, 'passwd'), u, `pw-${u}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  await chmod(join(dir, 'passwd'), 0o644);
  const port = await freePort();
  await writeFile(join(dir, 'mosquitto.conf'), [
    `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${join(dir, 'passwd')}`, `acl_file ${join(dir, 'edgeloom.acl')}`, 'persistence false', '',
  ].join('\n'));
  proc = spawn(mosquitto!, ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  url = `mqtt://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const a = await tryConnect(url, { username: 'operator', password: 'pw-operator' });
    if (a.connected) return void (await a.client.endAsync(true));
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('mosquitto did not start');
});
after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function client(user: string): Promise<MqttClient> {
  const a = await tryConnect(url, { username: user, password: `pw-${user}`, protocolVersion: 4 });
  if (!a.connected) throw new Error(`${user}: ${a.error.message}`);
  return a.client;
}

test('the mosquitto ACL in docs/security.md: only operators command agents; agents publish only their own topics', { skip }, async () => {
  const [kitchen, hall, operator, dashboard] = await Promise.all(USERS.map(client));
  const seen: Record<string, string[]> = { kitchen: [], dashboard: [] };
  kitchen.on('message', (t) => seen.kitchen.push(t));
  dashboard.on('message', (t) => seen.dashboard.push(t));
  await kitchen.subscribeAsync('edgeloom/pi-kitchen/cmd/+', { qos: 1 });
  await dashboard.subscribeAsync('edgeloom/#', { qos: 1 });

  /** Publishes as `from`, then an allowed marker from the operator: the marker's arrival means the first one had its chance. */
  const attempt = async (from: MqttClient, topic: string, watcher: 'kitchen' | 'dashboard'): Promise<boolean> => {
    seen[watcher].length = 0;
    await from.publishAsync(topic, 'x', { qos: 1 }).catch(() => {});
    const marker = `edgeloom/pi-kitchen/cmd/marker-${Math.random().toString(36).slice(2)}`;
    const watching = watcher === 'kitchen' ? kitchen : dashboard;
    const arrived = new Promise<void>((resolve) => {
      const onMessage = (t: string) => {
        if (t !== marker) return;
        watching.off('message', onMessage);
        resolve();
      };
      watching.on('message', onMessage);
    });
    await operator.publishAsync(marker, 'm', { qos: 1 });
    await arrived;
    return seen[watcher].includes(topic);
  };

  assert.equal(await attempt(operator, 'edgeloom/pi-kitchen/cmd/pause', 'kitchen'), true, 'operator commands an agent');
  assert.equal(await attempt(hall, 'edgeloom/pi-kitchen/cmd/pause', 'kitchen'), false, 'an agent cannot command another');
  assert.equal(await attempt(kitchen, 'edgeloom/pi-kitchen/cmd/resume', 'kitchen'), false, 'an agent cannot command itself');
  assert.equal(await attempt(dashboard, 'edgeloom/pi-kitchen/cmd/snapshot', 'kitchen'), false, 'a dashboard cannot command');
  assert.equal(await attempt(kitchen, 'edgeloom/pi-kitchen/cam0/label', 'dashboard'), true, 'an agent publishes its labels');
  assert.equal(await attempt(kitchen, 'edgeloom/pi-kitchen/cmd/pause/result', 'dashboard'), true, 'and its command results');
  assert.equal(await attempt(hall, 'edgeloom/pi-kitchen/cam0/label', 'dashboard'), false, 'but not another agent\'s labels');
  await Promise.all([kitchen, hall, operator, dashboard].map((c) => c.endAsync(true)));
});
