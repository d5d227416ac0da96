import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { startAgent, type Agent } from '../../device/agent.ts';
import { MemorySource } from '../../device/sources/memory.ts';
import { loadTestImages } from '../../device/sources/fashion-mnist.ts';
import type { HttpFeatureHandle } from '../../device/features/http.ts';
import { METRIC_NAMES, LATENCY_BUCKETS_S } from '../../device/features/metrics.ts';
import { agentConfig, freePort, makeWorkspace, type Workspace } from '../device/helpers.ts';
import { parseExposition, promtoolCheck, promtoolPath, sampleValue, seriesNames, type Family } from './exposition.ts';

/** The agent's /metrics against Prometheus' own rules (promtool) and the Grafana dashboard we ship. */
const ROOT = join(import.meta.dirname, '..', '..');
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const promtool = promtoolPath();
const noPromtool = promtool ? false : 'promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)';
let ws: Workspace;
let broker: EmbeddedBroker;
let metricsText = '';
let families: Map<string, Family>;
let offlineText = '';

async function scrape(agent: Agent): Promise<string> {
  const http = agent.features.find((f) => f.name === 'http') as unknown as HttpFeatureHandle;
  const res = await fetch(`http://127.0.0.1:${http.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

async function frames(count: number): Promise<Buffer[]> {
  const { images } = await loadTestImages();
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(await sharp(Buffer.from(images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
  return out;
}

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeWorkspace();
  broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
  // A real model with a drift profile, two cameras, good frames and two kinds of bad ones.
  const good = await frames(40);
  const bad = [Buffer.from('not an image'), Buffer.alloc(0)];
  const cfg = await agentConfig(ws, { deviceId: 'prom', source: 'file:/unused', fps: 120, mqttUrl: broker.url, httpPort: 0, model: join(ROOT, 'models/default.onnx') });
  cfg.cameras.push({ ...cfg.cameras[0], id: 'cam1' });
  cfg.drift.windowSize = 20;
  cfg.http!.host = '127.0.0.1';
  const agent = await startAgent(cfg, quiet, { sources: new Map([['cam0', new MemorySource([...good, ...bad])], ['cam1', new MemorySource([bad[0], ...good.slice(0, 25)])]]) });
  try {
    await agent.finished();
    metricsText = await scrape(agent);
  } finally {
    await agent.stop({ drainTimeoutMs: 1000 });
  }
  families = parseExposition(metricsText);

  // An agent whose broker is down, publishing labels at QoS 0: they are dropped, by reason.
  const dead = await agentConfig(ws, { deviceId: 'promoff', source: 'file:/unused', fps: 120, mqttUrl: `mqtt://127.0.0.1:${await freePort()}`, httpPort: 0 });
  dead.mqtt.qos.labels = 0;
  dead.http!.host = '127.0.0.1';
  const offline = await startAgent(dead, quiet, { sources: new Map([['cam0', new MemorySource(good.slice(0, 5))]]) });
  try {
    await offline.finished();
    offlineText = await scrape(offline);
  } finally {
    await offline.stop({ drainTimeoutMs: 100 });
  }
});
after(async () => {
  await broker.close();
  await rm(ws.dir, { recursive: true, force: true });
});

test('promtool check metrics passes on a busy agent and on one whose broker is down', { skip: noPromtool }, () => {
  for (const text of [metricsText, offlineText]) {
    const r = promtoolCheck(promtool!, text);
    assert.equal(r.output, '', 'promtool reports no problem');
    assert.equal(r.status, 0);
  }
});

test('names follow Prometheus conventions: one edgeloom_ prefix, _total only on counters, seconds not milliseconds', () => {
  for (const f of families.values()) {
    assert.ok(!/^edgeloom_process_|_process_process_/.test(f.name), `${f.name}: doubled prefix`);
    if (f.type !== 'counter') assert.ok(!f.name.endsWith('_total'), `${f.name} is a ${f.type} named _total`);
    else assert.ok(f.name.endsWith('_total'), `counter ${f.name} must end in _total`);
    assert.ok(!/_ms$|_milliseconds/.test(f.name), `${f.name}: base unit is seconds`);
    assert.ok(f.samples.every((s) => !('quantile' in s.labels) || f.type === 'summary'), `${f.name}: quantile labels only on summaries`);
    assert.ok(f.help.length > 0, `${f.name} has HELP`);
    assert.ok(f.samples.every((s) => s.labels.device === 'prom'), `${f.name}: every series carries device="prom"`);
  }
  assert.ok(families.has('process_cpu_seconds_total') && families.has('nodejs_heap_size_used_bytes'), 'standard process/Node.js metrics keep their usual names');
  for (const name of Object.values(METRIC_NAMES)) assert.ok(families.has(name), `${name} is exposed`);
});

test('latency histograms in seconds per camera; errors per camera and reason; info and drift status', () => {
  const inf = families.get(METRIC_NAMES.inference)!;
  assert.equal(inf.type, 'histogram');
  for (const [camera, labelled] of [['cam0', 40], ['cam1', 25]] as const) {
    assert.equal(sampleValue(families, `${METRIC_NAMES.labels}`, { camera }), labelled);
    assert.equal(sampleValue(families, `${METRIC_NAMES.inference}_count`, { camera }), labelled);
    assert.equal(sampleValue(families, `${METRIC_NAMES.frameLatency}_count`, { camera }), labelled);
    assert.equal(sampleValue(families, `${METRIC_NAMES.inference}_bucket`, { camera, le: '+Inf' }), labelled);
    const sum = sampleValue(families, `${METRIC_NAMES.inference}_sum`, { camera })!;
    // A 28x28 int8 CNN takes well under a second per frame: a sum in milliseconds would be ~1000x larger.
    assert.ok(sum > 0 && sum / labelled < 0.5, `mean inference ${sum / labelled} s`);
  }
  const les = inf.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.camera === 'cam0').map((s) => s.labels.le);
  assert.deepEqual(les, [...LATENCY_BUCKETS_S.map(String), '+Inf']);
  assert.equal(sampleValue(families, METRIC_NAMES.errors, { camera: 'cam0', reason: 'undecodable' }), 1);
  assert.equal(sampleValue(families, METRIC_NAMES.errors, { camera: 'cam0', reason: 'empty-frame' }), 1);
  assert.equal(sampleValue(families, METRIC_NAMES.errors, { camera: 'cam1', reason: 'undecodable' }), 1);
  assert.equal(sampleValue(families, METRIC_NAMES.errors, { camera: 'cam1', reason: 'empty-frame' }), undefined);
  const info = families.get(METRIC_NAMES.info)!.samples[0];
  assert.equal(info.value, 1);
  assert.match(info.labels.model, /^default-[0-9a-f]{12}$/);
  assert.equal(info.labels.provider, 'cpu');
  assert.match(info.labels.version, /^\d+\.\d+\.\d+/);
  // 40 clean test images = 2 drift windows of 20: status ok, one series per status.
  assert.equal(sampleValue(families, METRIC_NAMES.drift, { camera: 'cam0', status: 'ok' }), 1);
  assert.equal(sampleValue(families, METRIC_NAMES.drift, { camera: 'cam0', status: 'alert' }), 0);
  assert.equal(sampleValue(families, METRIC_NAMES.fpsTarget, { camera: 'cam1' }), 120);
  assert.equal(sampleValue(families, METRIC_NAMES.paused, { camera: 'cam1' }), 0);
});

test('dropped messages per reason and the broker connection while the broker is down', () => {
  const off = parseExposition(offlineText);
  assert.equal(sampleValue(off, METRIC_NAMES.dropped, { reason: 'offline-qos0' }), 5);
  assert.equal(sampleValue(off, METRIC_NAMES.mqttConnected), 0);
});

interface GrafanaPanel {
  title: string;
  type: string;
  targets?: { expr: string }[];
  panels?: GrafanaPanel[];
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or variables. */
export function metricsInQuery(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\$\w+/g, '');
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
  return [...stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].filter((m) => !m[2] && !keywords.has(m[1])).map((m) => m[1]);
}

test('every query of the shipped Grafana dashboard names metrics the agent exposes', async () => {
  const dash = JSON.parse(await readFile(join(ROOT, 'examples/grafana-dashboard.json'), 'utf8')) as { panels: GrafanaPanel[]; templating: { list: { query: { query: string } }[] } };
  const exposed = new Set([...seriesNames(families), ...seriesNames(parseExposition(offlineText))]);
  const queries: { where: string; expr: string }[] = [];
  const walk = (panels: GrafanaPanel[]) => {
    for (const p of panels) {
      if (p.type !== 'row') assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has queries`);
      for (const t of p.targets ?? []) queries.push({ where: `panel "${p.title}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating.list) queries.push({ where: 'variable', expr: v.query.query.replace(/^label_values\((.*),\s*\w+\)$/, '$1') });
  assert.ok(queries.length >= 15);
  const used = new Set<string>();
  for (const q of queries) {
    const names = metricsInQuery(q.expr);
    assert.ok(names.length > 0, `${q.where}: no metric in ${q.expr}`);
    for (const n of names) {
      assert.ok(exposed.has(n), `${q.where}: ${n} is not exposed by the agent (${q.expr})`);
      used.add(n);
    }
  }
  // The dashboard shows every edgeloom metric (a new metric needs a panel).
  for (const name of Object.values(METRIC_NAMES)) assert.ok([...used].some((u) => u === name || u.startsWith(`${name}_`)), `${name} has a panel`);
  assert.deepEqual(metricsInQuery('histogram_quantile(0.95, sum by (le, camera) ' +
    '(rate(edgeloom_inference_seconds_bucket{camera=~"$camera"}[$__rate_interval])))'), ['edgeloom_inference_seconds_bucket']);
});
