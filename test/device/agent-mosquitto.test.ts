import { test, describe, before, after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, makeWorkspace, sleep, type Workspace } from './helpers.ts';
import { findMosquitto, portOpen } from '../helpers/mosquitto.ts';
import { shippedModelLabelsTrueClasses, labelsOnePerFrame, sigkillPublishesWill, storeAndForward, type BrokerHandle } from './scenarios.ts';

const binary = findMosquitto();
const skip = binary ? false : 'mosquitto is not installed (apt-get install -y mosquitto); skipping the mosquitto tests';

let ws: Workspace;
let port = 0;
let conf = '';
let proc: ChildProcess | null = null;

const handle: BrokerHandle = {
  get url() {
    return `mqtt://127.0.0.1:${port}`;
  },
  async start() {
    proc = spawn(binary!, ['-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await portOpen(port)); i++) await sleep(50);
    if (!(await portOpen(port))) throw new Error(`mosquitto did not start on port ${port}`);
  },
  async stop() {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  },
};

describe('agent with mosquitto', { skip }, () => {
  before(async () => {
    process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
    ws = await makeWorkspace();
    port = await freePort();
    conf = join(ws.dir, 'mosquitto.conf');
    await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type none\n`);
    await handle.start();
  });
  after(async () => {
    await handle.stop();
    if (ws) await rm(ws.dir, { recursive: true, force: true });
  });

  test('the shipped default model labels known test images with their true classes (pinned names)', async () => {
    await shippedModelLabelsTrueClasses(handle, ws, 'mosq-known');
  });

  test('one label per frame (MQTT 5)', async () => {
    await labelsOnePerFrame(handle, ws, 'mosq-labels', '5');
  });

  test('store and forward: mosquitto stopped for 20 s mid-run, every label arrives in order', async () => {
    await storeAndForward(handle, ws, 'mosq-saf', 20_000, 4);
  });

  test('SIGKILL of the agent process -> offline through the last will', async () => {
    await sigkillPublishesWill(handle, ws, 'mosq-kill');
  });
});
