import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { labelExpireAfterS } from '../../device/features/home-assistant.ts';
import { deviceTopics, homeAssistantConfigTopic } from '../../src/mqtt/topics.ts';
import type { CommandResult } from '../../src/mqtt/payloads.ts';
import { agentConfig, makeWorkspace, Recorder, type Workspace } from '../device/helpers.ts';

/**
 * Home Assistant discovery against a real agent and broker: what Home Assistant would subscribe to
 * carries the fields the templates read, and what its buttons, number and select publish are
 * commands the agent accepts.
 */
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let broker: EmbeddedBroker;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

type Component = Record<string, any>;

/** `value_json.a.b['c'].d` paths in a template, resolved against a payload (undefined when missing). */
function templatePaths(template: string): string[] {
  return [...template.matchAll(/value_json((?:\.\w+|\['[^']+'\])+)/g)].map((m) => m[1]);
}
function resolvePath(payload: unknown, path: string): unknown {
  let v: any = payload;
  for (const m of path.matchAll(/\.(\w+)|\['([^']+)'\]/g)) v = v?.[m[1] ?? m[2]];
  return v;
}
/** Home Assistant renders `{{ value }}` into command templates; these templates use nothing else. */
const render = (template: string, value: string | number) => template.replace(/\{\{ value \}\}/g, String(value));

test('discovery under a configured prefix: entities, units and classes; their templates read fields the agent publishes; the commands they send work', async () => {
  const id = 'ha1';
  const topics = deviceTopics(id);
  const prefix = 'ha-test';
  const configTopic = homeAssistantConfigTopic(id, prefix);
  await copyFile(ws.model2, join(ws.dir, 'other.onnx'));
  const rec = await Recorder.connect(broker.url, `${prefix}/#`);
  const traffic = await Recorder.connect(broker.url, `${topics.status.replace(/\/status$/, '')}/#`);
  const cfg = await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 20, loop: true, mqttUrl: broker.url, homeAssistant: true });
  cfg.homeAssistant.discoveryPrefix = prefix;
  cfg.drift.enabled = false;
  const agent = await startAgent(cfg, quiet);
  try {
    await rec.waitFor('discovery', () => rec.on(configTopic).length > 0);
    const disc = JSON.parse(rec.on(configTopic)[0].text) as { availability_topic: string; device: Component; components: Record<string, Component> };
    assert.equal(disc.availability_topic, topics.status);
    assert.deepEqual(disc.device.identifiers, [`edgeloom_${id}`]);
    const c = disc.components;
    assert.deepEqual(Object.keys(c).sort(),
      ['cam0_confidence', 'cam0_drift', 'cam0_fps', 'cam0_fps_target', 'cam0_label', 'cam0_latency', 'cam0_pause', 'cam0_paused', 'cam0_resume', 'inference_p95', 'model', 'reload_model']);
    assert.equal(c.cam0_label.expire_after, 60);
    assert.equal(c.cam0_confidence.expire_after, 60);
    assert.equal(c.cam0_confidence.unit_of_measurement, '%');
    for (const k of ['cam0_latency', 'inference_p95']) {
      assert.deepEqual([c[k].device_class, c[k].state_class, c[k].entity_category, c[k].unit_of_measurement], ['duration', 'measurement', 'diagnostic', 'ms']);
    }
    assert.deepEqual([c.cam0_fps.state_class, c.cam0_fps.entity_category], ['measurement', 'diagnostic']);
    assert.deepEqual(c.cam0_drift.options, ['ok', 'warn', 'alert']);
    assert.deepEqual(c.model.options, ['broken.onnx', 'other.onnx', 'tiny.onnx', 'tiny2.onnx']);
    for (const [key, comp] of Object.entries(c)) {
      assert.ok(['sensor', 'binary_sensor', 'button', 'number', 'select'].includes(comp.platform), `${key}: platform`);
      assert.equal(comp.unique_id.startsWith(`edgeloom_${id}_`), true, `${key}: unique_id`);
    }

    // Every template path exists in a real message on the entity's state topic.
    await traffic.waitFor('stats, label and info', () => [topics.stats, topics.label('cam0'), topics.info].every((t) => traffic.on(t).length > 0));
    for (const [key, comp] of Object.entries(c)) {
      for (const [topicKey, templateKey] of [['state_topic', 'value_template'], ['json_attributes_topic', 'json_attributes_template']]) {
        if (!comp[templateKey] || comp[topicKey] === topics.drift('cam0')) continue;
        const payload = JSON.parse(traffic.on(comp[topicKey]).at(-1)!.text);
        for (const path of templatePaths(comp[templateKey])) assert.notEqual(resolvePath(payload, path), undefined, `${key}.${templateKey}: value_json${path} missing on ${comp[topicKey]}`);
      }
    }
    for (const path of templatePaths(c.cam0_drift.value_template + c.cam0_drift.json_attributes_template)) assert.ok(['.status', '.reasons', '.window', '.estimatedAccuracy'].includes(path));

    // Pressing the buttons, setting the number and choosing a model: what Home Assistant would publish.
    const client = await mqtt.connectAsync(broker.url);
    const results = await Recorder.connect(broker.url, `${topics.command('pause').replace(/pause$/, '')}+/result`);
    const send = async (topic: string, payload: string, name: string) => {
      const before = results.on(`${topic}/result`).length;
      await client.publishAsync(topic, payload, { qos: 1 });
      await results.waitFor(`${name} result`, () => results.on(`${topic}/result`).length > before);
      return JSON.parse(results.on(`${topic}/result`).at(-1)!.text) as CommandResult;
    };
    assert.equal((await send(c.cam0_pause.command_topic, c.cam0_pause.payload_press, 'pause')).ok, true);
    assert.equal(agent.ctx.cameras.get('cam0')!.paused, true);
    assert.equal((await send(c.cam0_resume.command_topic, c.cam0_resume.payload_press, 'resume')).ok, true);
    assert.equal(agent.ctx.cameras.get('cam0')!.paused, false);
    const fps = await send(c.cam0_fps_target.command_topic, render(c.cam0_fps_target.command_template, 7.5), 'set-fps');
    assert.deepEqual(fps.data, { cameras: ['cam0'], fps: 7.5 });
    const switched = await send(c.model.command_topic, render(c.model.command_template, 'other.onnx'), 'switch-model');
    assert.equal(switched.ok, true, switched.error);
    assert.equal(agent.ctx.model.current.path, join(ws.dir, 'other.onnx'));
    const broken = await send(c.model.command_topic, render(c.model.command_template, 'broken.onnx'), 'switch-model');
    assert.equal(broken.ok, false);
    assert.equal((await send(c.reload_model.command_topic, c.reload_model.payload_press, 'reload-model')).ok, true);
    await client.endAsync();
    await results.close();
  } finally {
    await agent.stop({ drainTimeoutMs: 500 });
    await rec.close();
    await traffic.close();
  }
});

test('discovery turned off clears a retained config left by an earlier run', async () => {
  const id = 'ha2';
  const configTopic = homeAssistantConfigTopic(id);
  const client = await mqtt.connectAsync(broker.url);
  await client.publishAsync(configTopic, JSON.stringify({ components: {} }), { qos: 1, retain: true });
  const rec = await Recorder.connect(broker.url, configTopic);
  await rec.waitFor('the old retained config', () => rec.messages.length > 0);
  const agent = await startAgent(await agentConfig(ws, { deviceId: id, source: 'fashion-mnist:test', fps: 5, mqttUrl: broker.url }), quiet);
  try {
    await rec.waitFor('the empty config', () => rec.messages.some((m) => m.text === ''));
    // A subscriber arriving now gets no retained config: the probe published after subscribing comes first.
    const late = await Recorder.connect(broker.url, `homeassistant/device/${id}/#`);
    await client.publishAsync(`homeassistant/device/${id}/probe`, 'probe', { qos: 1 });
    await late.waitFor('probe', () => late.messages.length > 0);
    assert.deepEqual(late.messages.map((m) => m.topic), [`homeassistant/device/${id}/probe`]);
    await late.close();
  } finally {
    await agent.stop({ drainTimeoutMs: 500 });
    await rec.close();
    await client.endAsync();
  }
});

test('label expiry: the configured seconds, longer for slow cameras', () => {
  assert.equal(labelExpireAfterS(60, 2), 60);
  assert.equal(labelExpireAfterS(60, 0.1), 100);
  assert.equal(labelExpireAfterS(30, 1 / 7), 70);
});

test('a discovery prefix with wildcards or slashes at the ends is refused by name', async () => {
  const { resolveAgentConfig } = await import('../../device/config.ts');
  const { writeFile } = await import('node:fs/promises');
  for (const bad of ['home/#', '/homeassistant', 'ha/']) {
    const file = join(ws.dir, 'ha.json');
    await writeFile(file, JSON.stringify({ deviceId: 'x', mqtt: { url: 'mqtt://h' }, homeAssistant: { discoveryPrefix: bad }, cameras: [{ id: 'c', source: 'dir:/x' }] }));
    await assert.rejects(resolveAgentConfig({ config: file }, {}), /homeAssistant\.discoveryPrefix: a topic prefix without MQTT wildcards/);
  }
});

test('camera ids that are levels of the device own topics (cmd, status, info, stats) are refused by name', async () => {
  const { resolveAgentConfig } = await import('../../device/config.ts');
  const { writeFile } = await import('node:fs/promises');
  const file = join(ws.dir, 'cams.json');
  for (const id of ['cmd', 'status', 'info', 'stats']) {
    await writeFile(file, JSON.stringify({ deviceId: 'x', mqtt: { url: 'mqtt://h' }, cameras: [{ id, source: 'dir:/x' }] }));
    await assert.rejects(resolveAgentConfig({ config: file }, {}), /cameras\.0\.id: reserved for the device's own topics \(cmd, status, info, stats\)/);
  }
  await assert.rejects(resolveAgentConfig({ source: 'dir:/x', cameraId: 'cmd', mqttUrl: 'mqtt://h', deviceId: 'x' }, {}), /reserved for the device's own topics/);
  await writeFile(file, JSON.stringify({ deviceId: 'x', mqtt: { url: 'mqtt://h' }, cameras: [{ id: 'cmd2', source: 'dir:/x' }, { id: 'Status', source: 'dir:/y' }] }));
  assert.deepEqual((await resolveAgentConfig({ config: file }, {})).cameras.map((c) => c.id), ['cmd2', 'Status']);
});
