import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { deviceTopics, DEFAULT_TOPIC_PREFIX } from '../../src/mqtt/topics.ts';
import { agentConfig, makeWorkspace, Recorder, type Workspace } from '../device/helpers.ts';

/** examples/node-red-flow.json: well-formed, subscribed to topics the topic module builds, reading fields real payloads carry. */
const ROOT = join(import.meta.dirname, '..', '..');
type Node = Record<string, any> & { id: string; type: string };
let flow: Node[];
let ws: Workspace;
let broker: EmbeddedBroker;

before(async () => {
  flow = JSON.parse(await readFile(join(ROOT, 'examples/node-red-flow.json'), 'utf8')) as Node[];
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

const byId = () => new Map(flow.map((n) => [n.id, n]));

test('the flow is well-formed: unique ids, wires to existing nodes, one output per switch rule, mqtt nodes on the broker node', () => {
  const nodes = byId();
  assert.equal(nodes.size, flow.length, 'ids are unique');
  const tab = flow.find((n) => n.type === 'tab')!;
  const broker = flow.find((n) => n.type === 'mqtt-broker')!;
  assert.equal(broker.protocolVersion, '5');
  for (const n of flow) {
    if (n.type === 'tab' || n.type === 'mqtt-broker') continue;
    assert.equal(n.z, tab.id, `${n.id} is on the tab`);
    for (const out of n.wires) for (const target of out) assert.ok(nodes.has(target), `${n.id} -> ${target} exists`);
    if (n.type === 'switch') {
      assert.equal(n.outputs, n.rules.length, `${n.id}: outputs`);
      assert.equal(n.wires.length, n.rules.length, `${n.id}: one wire list per rule`);
    }
    if (n.type === 'mqtt in') assert.equal(n.broker, broker.id);
  }
});

test('subscriptions are the topic module\'s label, drift and status topics for every device and camera', () => {
  const any = deviceTopics('+', DEFAULT_TOPIC_PREFIX);
  const subscribed = flow.filter((n) => n.type === 'mqtt in').map((n) => [n.topic, n.datatype]).sort();
  assert.deepEqual(subscribed, [[any.drift('+'), 'json'], [any.label('+'), 'json'], [any.status, 'utf8']].sort());
});

test('every class is routed to exactly one sorting bin, low confidence to manual checking', () => {
  const nodes = byId();
  const route = nodes.get('edgeloom.route')!;
  const routed = route.rules.filter((r: { t: string }) => r.t === 'eq').map((r: { v: string }) => r.v);
  assert.deepEqual([...routed].sort(), [...FASHION_MNIST_CLASSES].sort());
  assert.equal(route.property, 'payload.label');
  assert.equal(route.checkall, 'false');
  const confidence = nodes.get('edgeloom.confidence')!;
  assert.equal(confidence.property, 'payload.confidence');
  assert.deepEqual(confidence.wires, [['edgeloom.route'], ['edgeloom.bin.manual']]);
  const bins = new Set(route.wires.flat());
  assert.ok(bins.size >= 5 && [...bins].every((id) => nodes.get(id as string)!.type === 'debug'));
});

test('the fields the flow reads are in the payloads a real agent publishes', async () => {
  const id = 'nodered';
  const topics = deviceTopics(id);
  const rec = await Recorder.connect(broker.url, `edgeloom/${id}/#`);
  const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 120, maxFrames: 20, mqttUrl: broker.url, model: join(ROOT, 'models/default.onnx') });
  cfg.drift.windowSize = 20;
  const agent = await startAgent(cfg, { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} });
  await agent.finished();
  await rec.waitFor('a drift report and 20 labels', () => rec.on(topics.drift('cam0')).length > 0 && rec.on(topics.label('cam0')).length >= 20);
  await agent.stop({ drainTimeoutMs: 500 });
  await rec.close();
  const label = JSON.parse(rec.on(topics.label('cam0'))[0].text);
  const drift = JSON.parse(rec.on(topics.drift('cam0'))[0].text);
  const at = (payload: unknown, path: string) => path.split('.').slice(1).reduce((v: any, k) => v?.[k], payload);
  const nodes = byId();
  for (const [nodeId, payload] of [['edgeloom.confidence', label], ['edgeloom.route', label], ['edgeloom.drift.notok', drift]] as const) {
    const path = nodes.get(nodeId)!.property as string;
    assert.notEqual(at(payload, path), undefined, `${nodeId}: ${path}`);
  }
  const alert = nodes.get('edgeloom.drift.text')!.rules[0].to as string;
  for (const m of alert.matchAll(/payload\.(\w+)/g)) assert.notEqual(drift[m[1]], undefined, `drift alert reads payload.${m[1]}`);
  assert.ok(FASHION_MNIST_CLASSES.includes(label.label));
});
