import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent } from '../../device/agent.ts';
import { resolveAgentConfig } from '../../device/config.ts';
import { FEATURES } from '../../device/features/index.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';
import { agentConfig, makeWorkspace, Recorder, type Workspace } from '../device/helpers.ts';
import { DEFAULT_MODEL, makeFrames, photosIn, readJson } from './fixture.ts';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
let ws: Workspace;
let frames: Awaited<ReturnType<typeof makeFrames>>;
let broker: EmbeddedBroker;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  frames = await makeFrames(6);
  broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' });
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
  await rm(frames.root, { recursive: true, force: true });
});

test('collect: is off by default and its keys are checked', async () => {
  const cfg = await resolveAgentConfig({ deviceId: 'd', mqttUrl: 'mqtt://x', source: 'fashion-mnist:test' }, {});
  assert.equal(cfg.collect.enabled, false);
  assert.equal(FEATURES.find((f) => f.name === 'collect')!.enabled(cfg), false);
  assert.equal(FEATURES.find((f) => f.name === 'collect')!.enabled({ ...cfg, collect: { ...cfg.collect, enabled: true } }), true);
  assert.match(cfg.collect.dir!, /^\/.*\/edgeloom\/collect\/d$/, 'next to the queue, in the state directory');
  assert.equal(cfg.collect.when, 'all');
  const bad = join(ws.dir, 'bad.yaml');
  await writeFile(bad, 'deviceId: d\nmqtt: { url: mqtt://x }\ncameras: [{ id: c, source: file:x }]\ncollect: { enabled: true, when: sometimes }\n');
  await assert.rejects(resolveAgentConfig({ config: bad }, {}), /bad\.yaml: collect\.when: /);
});

test('the agent saves every 2nd frame as received until maxFiles, then counts the rest as full (stats on MQTT)', async () => {
  const id = 'collector';
  const dir = join(ws.dir, 'collected');
  const rec = await Recorder.connect(broker.url, deviceTopics(id).stats);
  const cfg = await agentConfig(ws, { deviceId: id, source: 'file:/unused', fps: 50, mqttUrl: broker.url, model: DEFAULT_MODEL, statsInterval: 0.2 });
  cfg.collect = { enabled: true, dir, when: 'all', every: 2, threshold: 0.6, maxFiles: 2, maxBytes: 10 * 1024 * 1024 };
  const bytes = await Promise.all(frames.files.map((f) => readFile(f)));
  // Twice over: frames 1, 3 are saved, 5, 7, 9, 11 find the folder full.
  const agent = await startAgent(cfg, quiet, { sources: new Map([['cam0', new MemorySource([...bytes, ...bytes])]]) });
  await agent.finished();
  const stats = agent.ctx.stats.collect!;
  await rec.waitFor('stats with collect', () => rec.messages.some((m) => JSON.parse(m.text).collect?.skipped?.['full-files'] === 4));
  await agent.stop();
  assert.equal(stats.saved, 2);
  assert.deepEqual(stats.skipped, { 'full-files': 4 });
  assert.equal(stats.full, true);
  const photos = await photosIn(join(dir, 'unlabelled'));
  assert.equal(photos.length, 2);
  assert.match(photos[0], /^\d{8}T\d{9}Z-cam0-000001\.jpg$/);
  const sides = await Promise.all(photos.map((p) => readJson(join(dir, 'unlabelled', `${p}.json`))));
  assert.deepEqual(sides.map((s) => s.frame), [1, 3]);
  assert.ok((await readFile(join(dir, 'unlabelled', photos[1]))).equals(bytes[2]), 'frame 3 as the source delivered it');
  assert.equal(sides[0].camera, 'cam0');
  assert.equal(sides[0].top.length, 3);
  assert.ok(sides[0].calibratedConfidence > 0);
  assert.equal(typeof sides[0].ood.score, 'number');
  assert.equal(stats.files, 2);
  let total = 0;
  for (const n of await readdir(join(dir, 'unlabelled'))) total += (await stat(join(dir, 'unlabelled', n))).size;
  assert.equal(stats.bytes, total);
  await rec.close();
});

test('the agent\'s low-confidence policy saves only frames under the threshold; a restart counts what is already there against maxBytes', async () => {
  const id = 'lowconf';
  const dir = join(ws.dir, 'lowconf');
  const bytes = await Promise.all(frames.files.map((f) => readFile(f)));
  const base = await agentConfig(ws, { deviceId: id, source: 'file:/unused', fps: 50, mqttUrl: broker.url, model: DEFAULT_MODEL });
  const run = async (collect: typeof base.collect) => {
    const agent = await startAgent({ ...base, collect }, quiet, { sources: new Map([['cam0', new MemorySource([...bytes])]]) });
    await agent.finished();
    await agent.stop();
    return agent.ctx.stats.collect!;
  };
  const all = await run({ enabled: true, dir: join(dir, 'all'), when: 'all', every: 1, threshold: 0.6, maxFiles: 100, maxBytes: 1e8 });
  assert.equal(all.saved, 6);
  const conf = (await Promise.all((await photosIn(join(dir, 'all', 'unlabelled'))).map((p) => readJson(join(dir, 'all', 'unlabelled', `${p}.json`)))))
    .map((s) => s.calibratedConfidence as number);
  const sorted = [...conf].sort((a, b) => a - b);
  const threshold = (sorted[2] + sorted[3]) / 2;
  const low = await run({ enabled: true, dir: join(dir, 'low'), when: 'low-confidence', every: 1, threshold, maxFiles: 100, maxBytes: 1e8 });
  const expected = conf.filter((c) => c < threshold).length;
  assert.equal(low.saved, expected);
  assert.equal(low.skipped['not-low-confidence'], 6 - expected);
  // Restart on the folder `all` filled: its bytes already exceed the bound, nothing more is written.
  const again = await run({ enabled: true, dir: join(dir, 'all'), when: 'all', every: 1, threshold: 0.6, maxFiles: 100, maxBytes: all.bytes });
  assert.equal(again.saved, 0);
  assert.equal(again.skipped['full-bytes'], 6);
  assert.equal((await photosIn(join(dir, 'all', 'unlabelled'))).length, 6);
});
