import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startAgent, type Agent } from '../../device/agent.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import type { CommandResult, LabelPayload } from '../../src/mqtt/payloads.ts';
import { agentConfig, makeWorkspace, Recorder, type Workspace } from '../device/helpers.ts';
import { findMosquitto, startMosquitto } from '../helpers/mosquitto.ts';

/** docs/fleet.md on a real mosquitto: shared subscriptions between workers, and a site-to-centre bridge. */
const ROOT = join(import.meta.dirname, '..', '..');
const binary = findMosquitto();
const skip = binary ? false : 'mosquitto is not installed (apt-get install -y mosquitto); skipping the fleet tests';
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
});
after(async () => {
  await rm(ws.dir, { recursive: true, force: true });
});

async function runAgents(url: string, ids: string[], frames: number): Promise<Agent[]> {
  const agents: Agent[] = [];
  for (const deviceId of ids) agents.push(await startAgent(await agentConfig(ws, { deviceId, source: 'fashion-mnist:test', fps: 100, maxFrames: frames, mqttUrl: url }), quiet));
  return agents;
}

test('$share/sorters/edgeloom/+/+/label: each label of two agents reaches exactly one of two workers; a plain subscriber gets all', { skip }, async () => {
  const broker = await startMosquitto(binary!, ws.dir, 'shared');
  const workers = await Promise.all([0, 1].map(() => Recorder.connect(broker.url, '$share/sorters/edgeloom/+/+/label', { protocolVersion: 5 })));
  const all = await Recorder.connect(broker.url, 'edgeloom/+/+/label');
  try {
    const agents = await runAgents(broker.url, ['line1', 'line2'], 30);
    await Promise.all(agents.map((a) => a.finished()));
    await Promise.all(agents.map((a) => a.stop({ drainTimeoutMs: 2000 })));
    await all.waitFor('60 labels', () => all.messages.length >= 60);
    await Promise.all(workers.map((w) => w.client.endAsync()));
    const key = (text: string) => {
      const l = JSON.parse(text) as LabelPayload;
      return `${l.device}/${l.camera}/${l.frame}`;
    };
    const shares = workers.map((w) => w.messages.map((m) => key(m.text)));
    const union = [...shares[0], ...shares[1]];
    assert.equal(new Set(union).size, 60, 'every label reached a worker');
    assert.equal(union.length, 60, 'no label reached both workers');
    assert.deepEqual(new Set(union), new Set(all.messages.map((m) => key(m.text))));
    for (const s of shares) assert.ok(s.length >= 10, `both workers get a share (${shares.map((x) => x.length).join(' / ')})`);
    // The topic of a shared delivery is the real one: consumers read the device and camera as usual.
    assert.ok(workers.every((w) => w.messages.every((m) => /^edgeloom\/line[12]\/cam0\/label$/.test(m.topic))));
  } finally {
    await all.close();
    await broker.stop();
  }
});

test('site broker bridged to a central one with the docs/fleet.md topic rules: labels reach the centre, a pause from the centre reaches the agent', { skip }, async () => {
  const doc = await readFile(join(ROOT, 'docs/fleet.md'), 'utf8');
  const block = /```conf\n([\s\S]*?)```/.exec(doc)![1];
  const rules = block.split('\n').filter((l) => l.startsWith('topic '));
  assert.deepEqual(rules, ['topic edgeloom/# out 1', 'topic edgeloom/+/cmd/+ in 1']);
  const central = await startMosquitto(binary!, ws.dir, 'central');
  const site = await startMosquitto(binary!, ws.dir, 'site', [
    'connection central', `address 127.0.0.1:${central.port}`, 'bridge_protocol_version mqttv50', 'remote_clientid site-test', 'cleansession false',
    'restart_timeout 1', ...rules, '',
  ].join('\n'));
  const id = 'hall2-pi1';
  const topics = deviceTopics(id);
  const centre = await Recorder.connect(central.url, `edgeloom/${id}/#`);
  let agent: Agent | null = null;
  try {
    const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 20, loop: true, mqttUrl: site.url });
    agent = await startAgent(cfg, quiet);
    await centre.waitFor('labels and the retained status at the centre', () => centre.on(topics.label('cam0')).length >= 3 && centre.on(topics.status).some((m) => m.text === 'online'));
    const client = await mqtt.connectAsync(central.url, { protocolVersion: 5 });
    // The bridge subscribes to the centre's commands a moment after it connects: retry until answered.
    for (let i = 0; i < 50 && centre.on(topics.commandResult('pause')).length === 0; i++) {
      await client.publishAsync(topics.command('pause'), JSON.stringify({ requestId: 'from-centre' }), { qos: 1 });
      await centre.waitFor('pause result', () => centre.on(topics.commandResult('pause')).length > 0, 200).catch(() => undefined);
    }
    const result = JSON.parse(centre.on(topics.commandResult('pause'))[0].text) as CommandResult;
    assert.deepEqual([result.ok, result.requestId], [true, 'from-centre']);
    assert.equal(agent.ctx.cameras.get('cam0')!.paused, true);
    await client.endAsync();
  } finally {
    await agent?.stop({ drainTimeoutMs: 500 });
    await centre.close();
    await site.stop();
    await central.stop();
  }
});
