import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import sharp from 'sharp';
import { buildTinyModel } from './tiny-model.ts';
import { resolveAgentConfig, type AgentConfig, type AgentFlags } from '../../device/config.ts';

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
}

/** A test-side MQTT subscriber that records everything and lets tests wait for conditions. */
export class Recorder {
  readonly messages: Received[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, text: payload.toString(), retain: packet.retain });
      for (const w of this.waiters) w();
    });
  }

  static async connect(url: string, filter: string, opts: IClientOptions = {}): Promise<Recorder> {
    const client = mqtt.connect(url, { reconnectPeriod: 100, connectTimeout: 2000, ...opts });
    const rec = new Recorder(client);
    // Subscribed again on every reconnect; the first SUBACK (not a pause) says the recorder now sees
    // everything published after this returns.
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`recorder: cannot connect to ${url} and subscribe to ${filter}`)), 5000);
      client.on('connect', () => {
        client.subscribe(filter, { qos: 1 }, (err) => {
          clearTimeout(t);
          if (err) reject(err);
          else resolve();
        });
      });
    });
    return rec;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve();
        }
      };
      this.waiters.push(check);
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Workspace {
  dir: string;
  model: string;
  model2: string;
  brokenModel: string;
  framesDir: string;
  /** Good frames in framesDir (PNG/JPEG). */
  goodFrames: number;
}

/** Tiny models (two valid, one broken) and a frame directory with one undecodable and one empty file. */
export async function makeWorkspace(): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-agent-'));
  const model = join(dir, 'tiny.onnx');
  const model2 = join(dir, 'tiny2.onnx');
  const brokenModel = join(dir, 'broken.onnx');
  await writeFile(model, buildTinyModel({ seed: 1 }));
  await writeFile(model2, buildTinyModel({ seed: 2 }));
  await writeFile(brokenModel, Buffer.from('this is not an onnx model'));
  const framesDir = join(dir, 'frames');
  await mkdir(framesDir);
  for (let i = 0; i < 4; i++) {
    const img = sharp({ create: { width: 40 + i * 10, height: 30, channels: 3, background: { r: 40 * i, g: 200 - 30 * i, b: 90 } } });
    await writeFile(join(framesDir, `f${i}.${i % 2 ? 'png' : 'jpg'}`), await (i % 2 ? img.png() : img.jpeg()).toBuffer());
  }
  await writeFile(join(framesDir, 'f1b-garbage.jpg'), Buffer.from('definitely not a jpeg'));
  await writeFile(join(framesDir, 'f2b-empty.png'), Buffer.alloc(0));
  return { dir, model, model2, brokenModel, framesDir, goodFrames: 4 };
}

export async function agentConfig(ws: Workspace, flags: AgentFlags): Promise<AgentConfig> {
  const cfg = await resolveAgentConfig({ model: ws.model, statsInterval: 1, queueDir: join(ws.dir, `queue-${flags.deviceId}`), ...flags }, {});
  cfg.mqtt.reconnectMinMs = 200;
  cfg.mqtt.reconnectMaxMs = 1000;
  return cfg;
}

export const LABEL_KEYS = ['camera', 'classId', 'confidence', 'device', 'frame', 'label', 'latencyMs', 'model', 'top', 'ts'];

export function checkLabelSchema(text: string): Record<string, unknown> {
  const p = JSON.parse(text) as Record<string, any>;
  // Optional keys: `file` for file sources (dir:, file:); `quality` only when preprocessing found the frame doubtful (a plain-colour test frame: no-garment).
  assert.deepEqual(Object.keys(p).filter((k) => k !== 'file' && k !== 'quality').sort(), LABEL_KEYS);
  if ('file' in p) assert.ok(typeof p.file === 'string' && !p.file.startsWith('/'), 'file is a relative name');
  if ('quality' in p) {
    assert.deepEqual(Object.keys(p.quality).sort(), ['blobs', 'fill', 'issues']);
    assert.ok(p.quality.issues.length > 0 && p.quality.issues.every((i: string) => ['no-garment', 'small-garment', 'several-blobs'].includes(i)));
  }
  assert.ok(!Number.isNaN(Date.parse(p.ts)) && p.ts === new Date(p.ts).toISOString(), 'ts is ISO');
  assert.ok(Number.isInteger(p.frame) && p.frame >= 1);
  assert.equal(typeof p.label, 'string');
  assert.ok(Number.isInteger(p.classId) && p.classId >= 0 && p.classId < 10);
  assert.ok(p.confidence > 0 && p.confidence <= 1);
  assert.equal(p.top.length, 3);
  assert.deepEqual(Object.keys(p.top[0]).sort(), ['classId', 'confidence', 'label']);
  assert.equal(p.top[0].classId, p.classId);
  assert.ok(p.top[0].confidence >= p.top[1].confidence && p.top[1].confidence >= p.top[2].confidence);
  assert.deepEqual(Object.keys(p.latencyMs).sort(), ['decode', 'inference', 'preprocess', 'total']);
  assert.deepEqual(Object.keys(p.model).sort(), ['id', 'sha256']);
  assert.match(p.model.sha256, /^[0-9a-f]{64}$/);
  return p;
}

/** Frame numbers of the labels, first delivery of each (QoS 1 may deliver a message twice). */
export function firstDeliveries(messages: Received[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const m of messages) {
    const f = (JSON.parse(m.text) as { frame: number }).frame;
    if (!seen.has(f)) {
      seen.add(f);
      out.push(f);
    }
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LiveProcess {
  pid: number;
  /** The executable's name as /proc/PID/stat gives it (without the parentheses). */
  comm: string;
  ppid: number;
  pgrp: number;
}

/**
 * Every live process (zombies excluded), from /proc/PID/stat. The name may hold spaces and
 * parentheses, so the fields are read after its last ')': "pid (comm) state ppid pgrp ...".
 */
export function liveProcesses(): LiveProcess[] {
  const out: LiveProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const [state, ppid, pgrp] = stat.slice(close + 2).split(' ');
      if (state !== 'Z') out.push({ pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Live members of a process group. */
export function groupMembers(pgid: number): number[] {
  return liveProcesses().filter((p) => p.pgrp === pgid).map((p) => p.pid);
}
