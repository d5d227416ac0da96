import { test } from 'node:test';
import assert from 'node:assert/strict';
// Before anything loads onnxruntime-node: make it unresolvable, as on a board it has no binary for.
import '../board/hide-onnxruntime-node.mjs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableProviders, createGraphSession, createOnnxSession } from '../../src/onnx/session.ts';
import { UserError } from '../../src/errors.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { buildModel, forward, INPUT, near } from './session-model.ts';

/**
 * Sessions on onnxruntime-web (WebAssembly) in a process where onnxruntime-node cannot load, as
 * on 32-bit ARM: `--ep wasm`, `--ep auto` falling back to it, an explicit native provider refused.
 * (test/board/wasm.test.ts runs the agent so, on the shipped model.)
 */
test('without onnxruntime-node: auto falls back to wasm and says why; a native provider is a UserError', async () => {
  const auto = await captureLog(() => createOnnxSession(buildModel(), { ep: 'auto', intraOpThreads: 1 }));
  assert.equal(auto.value.provider, 'wasm');
  near((await auto.value.run(INPUT, 2)).logits, forward(INPUT, 2).logits, 'logits');
  await auto.value.close();
  assert.equal(auto.lines.length, 1, auto.lines.join(''));
  const where = `${process.platform}/${process.arch}`;
  const line = auto.lines[0].replace(/^\S+ /, '');
  assert.ok(line.startsWith(`info  [onnx] execution provider: wasm (auto; onnxruntime-node cannot load on ${where} (Cannot find package 'onnxruntime-node' `), line);
  assert.ok(line.endsWith('))\n') && line.split('\n').length === 2, line);
  for (const ep of ['cpu', 'cuda'] as const) {
    await assert.rejects(createOnnxSession(buildModel(), { ep }), (e: Error) => e instanceof UserError
      && e.message.startsWith(`--ep ${ep}: onnxruntime-node cannot load on ${process.platform}/${process.arch} (Cannot find package 'onnxruntime-node'`)
      && e.message.endsWith('); use --ep wasm (or auto)') && !e.message.includes('\n'));
  }
  assert.deepEqual(await availableProviders(), []);
  await assert.rejects(createGraphSession(buildModel()), /Cannot find package 'onnxruntime-node'/);
});

test('--ep wasm: onnxruntime-web gives the same outputs, from bytes or a path; its thread count is fixed by the first session', async () => {
  const { value: s, lines } = await captureLog(() => createOnnxSession(buildModel(), { ep: 'wasm', intraOpThreads: 1 }));
  assert.deepEqual(lines, []);
  assert.equal(s.provider, 'wasm');
  const out = await s.run(INPUT, 2);
  const expected = forward(INPUT, 2);
  near(out.logits, expected.logits, 'logits');
  near(out.embedding!, expected.embedding, 'embedding');
  assert.equal(out.embeddingSize, 3);
  assert.deepEqual((await s.runOutputs(INPUT.subarray(0, 784), 1, ['ct'])).ct, { data: Float32Array.of(1.5, -2), dims: [2, 1] });
  await s.close();
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-session-'));
  try {
    await writeFile(join(dir, 'm.onnx'), buildModel());
    const again = await captureLog(() => createOnnxSession(join(dir, 'm.onnx'), { ep: 'wasm', intraOpThreads: 2 }));
    assert.deepEqual(again.lines.map((l) => l.replace(/^\S+ /, '')), ['debug [onnx] wasm runtime already started with 1 threads; ignoring 2\n']);
    near((await again.value.run(INPUT, 2)).logits, expected.logits, 'logits by path');
    await again.value.close();
    const same = await captureLog(async () => (await createOnnxSession(buildModel(), { ep: 'wasm', intraOpThreads: 1 })).close());
    const unset = await captureLog(async () => (await createOnnxSession(buildModel(), { ep: 'wasm' })).close());
    assert.deepEqual([...same.lines, ...unset.lines], [], 'the same count, or none, is not worth a line');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

