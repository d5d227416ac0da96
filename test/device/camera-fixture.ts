import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startAgent, type Agent } from '../../device/agent.ts';
import { resolveAgentConfig, type AgentConfig } from '../../device/config.ts';
import { FrameCounter, type Frame, type FrameSource } from '../../device/sources/types.ts';
import type { LabelPayload } from '../../src/mqtt/payloads.ts';
import { buildTinyModel } from './tiny-model.ts';

/**
 * An in-process agent for CameraRunner tests, without a broker: its MQTT client points at a closed
 * port, so every QoS 1 label waits in the (memory) store-and-forward queue, where the test reads it.
 */

// Class names of these tests' own model: nothing here compares against the product's class list.
export const CLASSES = ['c-zero', 'c-one', 'c-two', 'c-three', 'c-four', 'c-five', 'c-six', 'c-seven', 'c-eight', 'c-nine'];
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

export interface Fixture {
  dir: string;
  modelPath: string;
  /** Agent config for one camera on `source`, labels queued in memory. */
  config(deviceId: string, source?: string, fps?: number, model?: string): Promise<AgentConfig>;
  /** Starts the agent (its camera reads `source` when given); stopped by cleanup() if a test fails. */
  run(cfg: AgentConfig, source?: FrameSource): Promise<Run>;
  /** Registers a stop for cleanup(). */
  onCleanup(fn: () => Promise<unknown>): void;
  cleanup(): Promise<void>;
}

export interface Run {
  agent: Agent;
  /** The warn and error lines logged so far. */
  lines: string[];
  labels(): LabelPayload[];
}

export async function cameraFixture(): Promise<Fixture> {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-camera-'));
  const modelPath = join(dir, 'm.onnx');
  await writeFile(modelPath, buildTinyModel({ seed: 5, metadata: { 'edgeloom.classes': JSON.stringify(CLASSES) } }));
  const cleanups: (() => Promise<unknown>)[] = [];
  return {
    dir,
    modelPath,
    async config(deviceId, source = 'file:/unused', fps = 50, model = modelPath) {
      const cfg = await resolveAgentConfig({ model, source, fps, deviceId, mqttUrl: 'mqtt://127.0.0.1:1', statsInterval: 3600 }, {});
      cfg.queue.type = 'memory';
      return cfg;
    },
    async run(cfg, source) {
      const lines: string[] = [];
      const log = { ...quiet, warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
      const agent = await startAgent(cfg, log, source ? { sources: new Map([[cfg.cameras[0].id, source]]) } : {});
      cleanups.push(() => agent.stop({ drainTimeoutMs: 0 }));
      const topic = agent.ctx.topics.label(cfg.cameras[0].id);
      return { agent, lines, labels: () => agent.ctx.queue.peek(1000).filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as LabelPayload) };
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
    async cleanup() {
      // A failing test leaves its agent or camera running: stop them all, so the process ends.
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A light table with dark rectangles ([x0, y0, x1, y1)) on it; one garment-sized one by default. */
export function tableWith(rects: [number, number, number, number][] = [[18, 10, 42, 50]], w = 60, h = 60): Promise<Buffer> {
  const px = Buffer.alloc(w * h, 230);
  for (const [x0, y0, x1, y1] of rects) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) px[y * w + x] = 30;
  return sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
}

/** One step of a scripted source: a frame, an error to throw, the end (null), or a function run first. */
export type Step = Buffer | Error | null | (() => Promise<Buffer | Error | null> | Buffer | Error | null);

/** A source that plays a script, one step per read; it records when each read started (real clock). */
export class ScriptedSource implements FrameSource {
  readonly name = 'scripted';
  closed = 0;
  readonly readAt: number[] = [];
  private readonly counter = new FrameCounter('scripted');
  constructor(private readonly script: Step[], private readonly clock: () => number = () => performance.now()) {}
  async read(): Promise<Frame | null> {
    this.readAt.push(this.clock());
    const step = this.script.shift();
    const next = typeof step === 'function' ? await step() : step;
    if (next === undefined || next === null) return null;
    if (next instanceof Error) throw next;
    return this.counter.frame(next);
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

/**
 * performance.now() moved forward by `skew` ms: the camera's frame pacing and its warnings' rate
 * limit read that clock, so a test can let "10 s pass" without waiting for it. install() in
 * before(), restore() in after().
 */
export class ClockSkew {
  skew = 0;
  readonly real = performance.now.bind(performance);
  private readonly original = performance.now;
  install(): void {
    performance.now = () => this.real() + this.skew;
  }
  restore(): void {
    performance.now = this.original;
    this.skew = 0;
  }
}

export async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
