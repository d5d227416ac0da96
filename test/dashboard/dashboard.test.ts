import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { startAgent, type Agent } from '../../device/agent.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { loadTestImages } from '../../device/sources/fashion-mnist.ts';
import { startDashboard, type DashboardServer } from '../../dashboard/server.ts';
import { agentConfig, freePort, makeWorkspace, type Workspace } from '../device/helpers.ts';
import { findMosquitto, startMosquitto } from '../helpers/mosquitto.ts';
import { ARTIFACTS, launch, noChromium, type Browser } from './browser.ts';

/**
 * The dashboard in Debian's Chromium against a real broker (aedes over WebSocket) and a real agent
 * (the shipped int8 model): the device comes online, labels arrive, blurred frames raise a drift
 * alert, commands round-trip, the device going away raises an offline alert; on a phone too.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let broker: EmbeddedBroker;
let dash: DashboardServer;
let browser: Browser;

/** 40 clean test images, then 40 blurred ones: two drift windows of 20 each. */
async function frames(): Promise<Buffer[]> {
  const { images } = await loadTestImages();
  const out: Buffer[] = [];
  for (let i = 0; i < 80; i++) {
    let img = sharp(Buffer.from(images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } });
    if (i >= 40) img = img.blur(1.2);
    out.push(await img.png().toBuffer());
  }
  return out;
}

before(async () => {
  if (noChromium) return;
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' });
  dash = await startDashboard({ mqttUrl: `ws://127.0.0.1:${broker.wsPort}`, port: 0 });
  browser = await launch();
});
after(async () => {
  if (noChromium) return;
  await browser.close();
  await dash.close();
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

const card = (page: Page, device: string) => page.locator(`section.device[data-device="${device}"]`);

test('fleet view: online, labels arriving, drift alert after blurred frames, command round trips, offline alert', { skip: noChromium }, async () => {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(dash.url.replace('localhost', '127.0.0.1'));
  await page.locator('#connection.ok').waitFor();

  const cfg = await agentConfig(ws, { deviceId: 'line1', source: 'file:/unused', fps: 40, mqttUrl: broker.url, model: join(ROOT, 'models/default.onnx') });
  cfg.drift.windowSize = 20;
  cfg.statsIntervalS = 1;
  cfg.cameras[0].invert = 'never';
  cfg.commands.enabled = ['snapshot'];
  let agent: Agent | null = await startAgent(cfg, quiet, { sources: new Map([['cam0', new MemorySource(await frames())]]) });
  try {
    const device = card(page, 'line1');
    await device.locator('.badge.status-online').waitFor();
    await page.waitForFunction(() => (document.querySelectorAll('section.device[data-device="line1"] ol.stream li').length ?? 0) >= 5);
    const label = await device.locator('.camera .label').textContent();
    assert.ok(label && label !== 'no label yet', `a label is shown (${label})`);
    // The accuracy the model file itself records (edgeloom.metrics), not a figure copied into the test.
    const { metrics } = (await readModelMetadata(await readFile(join(ROOT, 'models/default.onnx')))) ?? {};
    const shipped = (Number(metrics?.accuracy) * 100).toFixed(2).replace('.', '\\.');
    assert.match(await device.locator('.meta').textContent() ?? '', new RegExp(`model default-[0-9a-f]{12} \\(${shipped} % test accuracy\\) · cpu · edgeloom `));
    assert.equal(await device.locator('ol.top3 li').count(), 3);

    const drift = page.locator('li.alert[data-kind="drift"][data-device="line1"]');
    await drift.waitFor({ timeout: 20_000 });
    assert.match(await drift.textContent() ?? '', /line1\/cam0: drift alert: /);
    assert.match(await device.locator('.badge.drift-alert').textContent() ?? '', /drift alert/);
    assert.ok(await device.locator('ul.reasons li').count() >= 1);
    await device.locator('details.more summary', { hasText: 'Per-class counts' }).click();
    await page.waitForFunction(() => document.querySelectorAll('section.device[data-device="line1"] .counts .count').length >= 5);

    const reply = device.locator('.reply');
    await device.locator('button[data-cmd="pause"]').click();
    await page.waitForFunction(() => document.querySelector('section.device[data-device="line1"] .reply')?.textContent === 'pause: ok (cam0)');
    assert.equal(agent.ctx.cameras.get('cam0')!.paused, true);
    await device.locator('button[data-cmd="resume"]').click();
    await page.waitForFunction(() => document.querySelector('section.device[data-device="line1"] .reply')?.textContent === 'resume: ok (cam0)');
    await device.locator('.camera input[type="number"]').fill('7');
    await device.locator('button[data-cmd="set-fps"]').click();
    await page.waitForFunction(() => /^set-fps: ok, 7 fps/.test(document.querySelector('section.device[data-device="line1"] .reply')?.textContent ?? ''));
    assert.equal(agent.ctx.cameras.get('cam0')!.fps, 7);
    await device.locator('button[data-cmd="snapshot"]').click();
    await device.locator('img.snapshot:not([hidden])').waitFor();
    assert.match(await reply.textContent() ?? '', /^snapshot: cam0 frame \d+, \d+ bytes$/);
    assert.match(await device.locator('img.snapshot').getAttribute('src') ?? '', /^data:image\/png;base64,/);
    await device.locator('select[aria-label="model"]').selectOption('edgenet-robust.int8.onnx');
    await device.locator('button[data-cmd="switch-model"]').click();
    await page.waitForFunction(() => /^switch-model: ok, now edgenet-robust\.int8-/.test(document.querySelector('section.device[data-device="line1"] .reply')?.textContent ?? ''));
    await page.waitForFunction(() => /model edgenet-robust\.int8-/.test(document.querySelector('section.device[data-device="line1"] .meta')?.textContent ?? ''));
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-desktop.png'), fullPage: true });

    // A failing command shows its error from the agent.
    await page.evaluate(() => {
      const s = document.querySelector<HTMLSelectElement>('section.device[data-device="line1"] select[aria-label="model"]')!;
      s.append(new Option('missing.onnx', 'missing.onnx'));
      s.value = 'missing.onnx';
    });
    await device.locator('button[data-cmd="switch-model"]').click();
    await page.waitForFunction(() => /^switch-model: failed: .*missing\.onnx/.test(document.querySelector('section.device[data-device="line1"] .reply.failed')?.textContent ?? ''));

    await agent.stop({ drainTimeoutMs: 500 });
    agent = null;
    const offline = page.locator('li.alert[data-kind="offline"][data-device="line1"]');
    await offline.waitFor();
    assert.equal(await offline.textContent().then((t) => t?.startsWith('line1 is offline')), true);
    assert.equal(await device.locator('.badge.status-offline').count(), 1);
    assert.deepEqual(errors, []);
  } finally {
    await agent?.stop({ drainTimeoutMs: 100 });
    await page.close();
  }
});

test('on a phone-sized screen the page fits the width and shows the retained state of a device that joined earlier', { skip: noChromium }, async () => {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(dash.url.replace('localhost', '127.0.0.1'));
  // line1 stopped in the previous test: its retained offline status, last label and drift arrive at once.
  await card(page, 'line1').locator('.badge.status-offline').waitFor();
  await page.waitForFunction(() => document.querySelector('section.device[data-device="line1"] .camera .label')?.textContent !== 'no label yet');
  await card(page, 'line1').locator('.badge.drift-alert').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (${overflow} px too wide)`);
  await page.screenshot({ path: join(ARTIFACTS, 'fleet-phone.png'), fullPage: true });
  await page.close();
});

const mosquitto = findMosquitto();
test('a broker that wants credentials: the page asks, connects with them, and never puts them in a URL', { skip: noChromium || (mosquitto ? false : 'mosquitto is not installed') }, async () => {
  // mosquitto started as root drops to its own user: the password file must be readable by it.
  const authDir = await mkdtemp(join(tmpdir(), 'edgeloom-mosquitto-auth-'));
  await chmod(authDir, 0o755);
  const passwords = join(authDir, 'passwords');
  await writeFile(passwords, '');
  const made = spawnSync('mosquitto_passwd', ['-b', passwords, 'operator', 's3cret pass'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  await chmod(passwords, 0o644);
  const wsPort = await freePort();
  const wsBroker = await startMosquitto(mosquitto!, ws.dir, 'auth', `allow_anonymous false\npassword_file ${passwords}\nlistener ${wsPort} 127.0.0.1\nprotocol websockets\n`);
  const authDash = await startDashboard({ mqttUrl: `ws://127.0.0.1:${wsPort}`, port: 0 });
  const page = await browser.context.newPage();
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (s) => urls.push(s.url()));
  try {
    await page.goto(authDash.url.replace('localhost', '127.0.0.1'));
    await page.locator('form.login:not([hidden])').waitFor();
    assert.match(await page.locator('#connection').textContent() ?? '', /wants credentials/);
    await page.locator('form.login input[name="username"]').fill('operator');
    await page.locator('form.login input[name="password"]').fill('s3cret pass');
    await page.locator('form.login button').click();
    await page.locator('#connection.ok').waitFor();
    assert.equal(await page.locator('form.login input[name="password"]').inputValue(), '', 'the password field is cleared');
    assert.ok(urls.length > 0 && urls.every((u) => !u.includes('s3cret') && !u.includes('operator')), `no credentials in ${urls.join(' ')}`);
  } finally {
    await page.close();
    await authDash.close();
    await wsBroker.stop();
    await rm(authDir, { recursive: true, force: true });
  }
});
