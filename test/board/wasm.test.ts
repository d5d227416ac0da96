import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { createOnnxSession, type OnnxModelSession } from '../../src/onnx/session.ts';
import { loadTestImages } from '../../device/sources/fashion-mnist.ts';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { Recorder } from '../device/helpers.ts';
import { HIDE_ORT_NODE, makeFrames, runNode } from './helpers.ts';

/**
 * `--ep wasm` (onnxruntime-web's WebAssembly build inside the agent) for boards onnxruntime-node has
 * no binary for, and `--ep auto` falling back to it. The fallback is exercised by hiding
 * onnxruntime-node from module resolution (hide-onnxruntime-node.mjs), as a 32-bit ARM install lacks it.
 */
const MODEL = 'models/default.onnx';
const IMAGES = 3000; // class-interleaved: 300 per class
const BATCH = 250;

async function labelsOf(session: OnnxModelSession, images: Uint8Array, count: number): Promise<Uint8Array> {
  const out = new Uint8Array(count);
  for (let start = 0; start < count; start += BATCH) {
    const n = Math.min(BATCH, count - start);
    const input = new Float32Array(n * IMAGE_PIXELS);
    for (let i = 0; i < input.length; i++) input[i] = images[start * IMAGE_PIXELS + i] / 255;
    const { logits } = await session.run(input, n);
    const classes = logits.length / n;
    for (let b = 0; b < n; b++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[b * classes + c] > logits[b * classes + best]) best = c;
      out[start + b] = best;
    }
  }
  return out;
}

describe('--ep wasm: onnxruntime-web inside the agent', () => {
  test(`labels match --ep cpu on ${IMAGES} test images (>= 99.5%)`, async () => {
    const data = await loadTestImages();
    const cpu = await createOnnxSession(MODEL, { ep: 'cpu', intraOpThreads: 1 });
    const wasm = await createOnnxSession(MODEL, { ep: 'wasm' });
    try {
      assert.equal(cpu.provider, 'cpu');
      assert.equal(wasm.provider, 'wasm');
      assert.deepEqual(wasm.outputNames, cpu.outputNames);
      const a = await labelsOf(cpu, data.images, IMAGES);
      const b = await labelsOf(wasm, data.images, IMAGES);
      let same = 0;
      let rightCpu = 0;
      let rightWasm = 0;
      for (let i = 0; i < IMAGES; i++) {
        if (a[i] === b[i]) same++;
        if (a[i] === data.labels[i]) rightCpu++;
        if (b[i] === data.labels[i]) rightWasm++;
      }
      assert.ok(same / IMAGES >= 0.995, `wasm and cpu agree on ${same}/${IMAGES}`);
      // The model is the shipped one (93-94% on the test set): a runtime returning garbage would not pass.
      assert.ok(rightWasm / IMAGES > 0.9, `wasm accuracy ${rightWasm}/${IMAGES}`);
      assert.ok(Math.abs(rightWasm - rightCpu) <= IMAGES * 0.005);
    } finally {
      await cpu.close();
      await wasm.close();
    }
  });
});

describe('--ep auto where onnxruntime-node cannot load', () => {
  const FRAMES = 4;
  let broker: EmbeddedBroker;
  let work: { dir: string; frames: string };

  before(async () => {
    broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
    work = await makeFrames(FRAMES);
  });

  after(async () => {
    await broker.close();
    await rm(work.dir, { recursive: true, force: true });
  });

  const agentArgs = (deviceId: string, ep: string) => [
    '--import', HIDE_ORT_NODE, '--import', 'tsx', 'cli/index.ts', 'agent',
    '--source', `dir:${work.frames}`, '--max-frames', String(FRAMES), '--fps', '50', '--model', MODEL,
    '--mqtt-url', broker.url, '--device-id', deviceId, '--queue-dir', join(work.dir, `queue-${deviceId}`), '--ep', ep,
  ];

  test('falls back to wasm with one log line, publishes provider wasm in info, and labels every frame', async () => {
    const rec = await Recorder.connect(broker.url, 'edgeloom/wasm-auto/#');
    try {
      const exit = await runNode(agentArgs('wasm-auto', 'auto'));
      assert.equal(exit.code, 0, exit.stderr);
      const fallback = exit.stderr.split('\n').filter((l) => /execution provider/.test(l));
      assert.equal(fallback.length, 1, exit.stderr);
      assert.match(fallback[0], /execution provider: wasm \(auto; onnxruntime-node cannot load on [a-z0-9]+\/[a-z0-9]+ \(Cannot find package 'onnxruntime-node'/);
      await rec.waitFor('labels', () => rec.messages.filter((m) => m.topic.endsWith('/label')).length >= FRAMES);
      const info = rec.on('edgeloom/wasm-auto/info');
      assert.ok(info.length >= 1);
      assert.equal((JSON.parse(info[0].text) as { provider: string }).provider, 'wasm');
    } finally {
      await rec.close();
    }
  });

  test('an explicit native provider says onnxruntime-node cannot load and names --ep wasm', async () => {
    const exit = await runNode(agentArgs('wasm-cpu', 'cpu'));
    assert.equal(exit.code, 1);
    const lines = exit.stderr.trim().split('\n');
    assert.match(lines[lines.length - 1], /^edgeloom: .*--ep cpu: onnxruntime-node cannot load on .*; use --ep wasm \(or auto\)$/);
  });
});
