import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindingFiles, createGraphSession, createOnnxSession, providerInstalled, providerReport, shortReason } from '../../src/onnx/session.ts';
import { encodeModel, floatValueInfo, makeNode } from '../../src/onnx/proto.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { buildModel, forward, INPUT, near } from './session-model.ts';

/**
 * Edges of src/onnx/session.ts that session-units.test.ts and session-wasm.test.ts leave open (the
 * mutation run's survivors, docs/testing.md): the provider report of an `auto` run where installed
 * providers fail (needs a GPU build to happen for real), the binding's file list, the reason cut,
 * closed sessions, profiling flushed by endProfiling, and the wasm thread count.
 */

test('provider report: auto names what it chose and which providers failed; an explicit choice warns only on fallback', () => {
  assert.deepEqual(providerReport('auto', 'cpu', []), { level: 'info', text: 'execution provider: cpu (auto)' });
  assert.deepEqual(providerReport('auto', 'cuda', []), { level: 'info', text: 'execution provider: cuda (auto)' });
  // A failure is `<provider>: <reason>`, and reasons hold colons of their own: only the provider is named.
  assert.deepEqual(providerReport('auto', 'cpu', ['tensorrt: libnvinfer.so.10: cannot open shared object file', 'cuda: libcudart.so.12: missing']),
    { level: 'info', text: 'execution provider: cpu (auto; unusable here: tensorrt, cuda, falling back to cpu)' });
  assert.deepEqual(providerReport('cuda', 'cpu', ['cuda: libcudart.so.12: missing']),
    { level: 'warn', text: 'execution provider cuda unavailable (cuda: libcudart.so.12: missing); falling back to cpu' });
  assert.deepEqual(providerReport('dml', 'cpu', ['a: x', 'b: y'])?.text, 'execution provider dml unavailable (a: x; b: y); falling back to cpu');
  assert.equal(providerReport('cuda', 'cuda', []), null);
  assert.equal(providerReport('cpu', 'cpu', []), null);
});

test('the binding directory: its files for this platform, none for a platform it has no binary for; cuda found by its Linux library', () => {
  const files = bindingFiles();
  assert.ok(files.includes('onnxruntime_binding.node'), files.join(','));
  assert.deepEqual(bindingFiles('plan9', 'mips'), []);
  assert.equal(providerInstalled('cuda', ['onnxruntime_binding.node', 'libonnxruntime_providers_cuda.so']), true);
  assert.equal(providerInstalled('cuda', files), files.includes('libonnxruntime_providers_cuda.so') || files.includes('onnxruntime_providers_cuda.dll'));
});

test('a reason is its first line, cut to 200 characters', () => {
  assert.equal(shortReason(new Error(`${'a'.repeat(150)}${'b'.repeat(150)}\nsecond line`)), `${'a'.repeat(150)}${'b'.repeat(50)}`);
  assert.equal(shortReason('short\nmore'), 'short');
});

test('a closed model session runs no more', async () => {
  const s = await createOnnxSession(buildModel());
  near((await s.run(INPUT, 2)).logits, forward(INPUT, 2).logits, 'logits');
  await s.close();
  await assert.rejects(s.run(INPUT, 2));
});

test('graph session: endProfiling writes the profile before close; a closed session runs no more', async () => {
  const graph = {
    name: 'neg',
    node: [makeNode('Neg', ['a'], ['b'], 'neg')],
    input: [floatValueInfo('a', [2])],
    output: [floatValueInfo('b', [2])],
  };
  const bytes = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph });
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-graph-edges-'));
  try {
    const g = await createGraphSession(bytes, { profileFilePrefix: join(dir, 'prof') });
    const feeds = { a: { data: Float32Array.of(1, -2), dims: [2] } };
    assert.deepEqual(Array.from((await g.run(feeds)).b.data), [-1, 2]);
    g.endProfiling();
    const files = await readdir(dir);
    assert.ok(files.length === 1 && /^prof_.*\.json$/.test(files[0]), files.join(','));
    // Complete (onnxruntime writes the closing bracket at the end), with the run of the Neg node in it.
    const events = JSON.parse(await readFile(join(dir, files[0]), 'utf8')) as { name: string }[];
    assert.ok(events.some((e) => e.name.startsWith('neg')), JSON.stringify(events.map((e) => e.name)));
    await g.close();
    await assert.rejects(g.run(feeds));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--ep wasm with a thread count: onnxruntime-web is started with it; a later count is ignored with a debug line', async () => {
  const s = await createOnnxSession(buildModel(), { ep: 'wasm', intraOpThreads: 2 });
  // The same module instance session.ts configured: onnxruntime-web's own default would be min(4, cores / 2).
  const ort = await import('onnxruntime-web');
  assert.equal(ort.env.wasm.numThreads, 2);
  near((await s.run(INPUT, 2)).logits, forward(INPUT, 2).logits, 'logits');
  await s.close();
  const again = await captureLog(async () => (await createOnnxSession(buildModel(), { ep: 'wasm', intraOpThreads: 3 })).close());
  assert.deepEqual(again.lines.map((l) => l.replace(/^\S+ /, '')), ['debug [onnx] wasm runtime already started with 2 threads; ignoring 3\n']);
  assert.equal(ort.env.wasm.numThreads, 2);
});
