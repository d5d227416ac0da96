import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { runDemo } from '../../device/demo.ts';
import { resolveAgentConfig } from '../../device/config.ts';
import type { HttpFeatureHandle } from '../../device/features/http.ts';
import { agentConfig, makeWorkspace, type Workspace } from './helpers.ts';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let broker: EmbeddedBroker;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0 });
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

test('the agent\'s /healthz and /metrics server binds 127.0.0.1 unless --http-host says otherwise', async () => {
  const agent = await startAgent(await agentConfig(ws, { deviceId: 'bind', source: `dir:${ws.framesDir}`, mqttUrl: broker.url, httpPort: 0 }), quiet);
  try {
    const http = agent.features.find((f) => f.name === 'http') as unknown as HttpFeatureHandle;
    assert.equal(http.address, '127.0.0.1');
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/healthz`)).headers.get('content-type'), 'application/json');
  } finally {
    await agent.stop();
  }
  const base = { deviceId: 'd', source: 'file:x', mqttUrl: broker.url, httpPort: 9464 };
  assert.equal((await resolveAgentConfig({ ...base, httpHost: '0.0.0.0' }, {})).http?.host, '0.0.0.0');
  assert.equal((await resolveAgentConfig(base, { EDGELOOM_HTTP_HOST: '192.0.2.7' })).http?.host, '192.0.2.7');
  await assert.rejects(resolveAgentConfig({ deviceId: 'd', source: 'file:x', mqttUrl: broker.url, httpHost: '0.0.0.0' }, {}), /--http-host: needs --http-port/);
});

test('the demo (npm start) binds its broker to 127.0.0.1, and a LAN --host needs --allow-anonymous', async () => {
  const demo = await runDemo({ model: ws.model, port: 0, wsPort: 0, maxFrames: 1 });
  try {
    assert.deepEqual(demo.broker.addresses, { tcp: '127.0.0.1', ws: '127.0.0.1' });
  } finally {
    await demo.stop();
  }
  await assert.rejects(runDemo({ model: ws.model, port: 0, wsPort: null, host: '0.0.0.0' }), (err: Error & { code?: string }) => err.code === 'EBROKER_ANONYMOUS');
});
