import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableProviders, createGraphSession, createOnnxSession, providerCandidates, providerInstalled } from '../../src/onnx/session.ts';
import { encodeModel, floatValueInfo, makeNode } from '../../src/onnx/proto.ts';
import { UserError } from '../../src/errors.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { buildModel, forward, INPUT, near } from './session-model.ts';

/** Sessions on onnxruntime-node (cpu) against the model and maths of test/onnx/session-model.ts. */

test('cpu session: logits and embedding of a batch, names of inputs and outputs', async () => {
  const s = await createOnnxSession(buildModel());
  try {
    assert.equal(s.provider, 'cpu');
    assert.deepEqual(s.inputNames, ['input']);
    assert.deepEqual(s.outputNames, ['logits', 'embedding', 'dq8', 'dqu8', 'dq32', 'ct', 'inShape']);
    const out = await s.run(INPUT, 2);
    const expected = forward(INPUT, 2);
    assert.ok(expected.embedding.some((v) => v === 0) && expected.embedding.some((v) => v > 0), 'the Relu clips some units and not others');
    near(out.logits, expected.logits, 'logits');
    near(out.embedding!, expected.embedding, 'embedding');
    assert.equal(out.embeddingSize, 3);
    near((await s.run(INPUT.subarray(784), 1)).logits, expected.logits.slice(2), 'batch of one');
  } finally {
    await s.close();
  }
});

test('encoded initializers and attributes decode in onnxruntime to the values written', async () => {
  const s = await createOnnxSession(buildModel(), { ep: 'cpu', intraOpThreads: 1 });
  try {
    const out = await s.runOutputs(INPUT.subarray(0, 784), 1, ['dq8', 'dqu8', 'dq32', 'ct', 'logits']);
    assert.deepEqual(Object.keys(out), ['dq8', 'dqu8', 'dq32', 'ct', 'logits']);
    assert.deepEqual(Array.from(out.dq8.data), [-1, 0.5, 63], 'int8: (q - 1) * 0.5');
    assert.deepEqual(Array.from(out.dqu8.data), [-2, 508], 'uint8: (q - 1) * 2');
    assert.deepEqual(Array.from(out.dq32.data), [-0.75, 17500], 'int32: q * 0.25');
    assert.deepEqual(out.ct, { data: Float32Array.of(1.5, -2), dims: [2, 1] });
    assert.deepEqual(out.logits.dims, [1, 2]);
    near(out.logits.data, forward(INPUT, 1).logits, 'logits');
    await assert.rejects(s.runOutputs(INPUT.subarray(0, 784), 1, ['inShape']), (e: Error) => e.message === 'onnxruntime: output inShape is not a float tensor');
  } finally {
    await s.close();
  }
});

test('a model file by path, a model without `embedding`, the optimized graph written on request', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-session-'));
  try {
    const path = join(dir, 'm.onnx');
    await writeFile(path, buildModel({ embedding: false }));
    const optimized = join(dir, 'opt.onnx');
    const s = await createOnnxSession(path, { optimizedModelFilePath: optimized });
    const out = await s.run(INPUT, 2);
    await s.close();
    near(out.logits, forward(INPUT, 2).logits, 'logits');
    assert.equal(out.embedding, null);
    assert.equal(out.embeddingSize, 0);
    assert.ok((await readdir(dir)).includes('opt.onnx'), 'optimized model written');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--ep: an unknown provider is a UserError listing the choices', async () => {
  await assert.rejects(createOnnxSession(buildModel(), { ep: 'gpu' as never }),
    (e: Error) => e instanceof UserError && e.message === '--ep: expected one of auto|tensorrt|cuda|coreml|dml|webgpu|qnn|cpu|wasm, got "gpu"');
});

test('--ep coreml where it is not built: falls back to cpu with one warning naming it; auto logs what it chose', async () => {
  const { value: s, lines } = await captureLog(() => createOnnxSession(buildModel(), { ep: 'coreml' }));
  assert.equal(s.provider, 'cpu');
  near((await s.run(INPUT, 2)).logits, forward(INPUT, 2).logits, 'logits');
  await s.close();
  const warn = lines.filter((l) => / warn +\[onnx\] /.test(l));
  assert.equal(warn.length, 1, lines.join(''));
  assert.match(warn[0], /\[onnx\] execution provider coreml unavailable \(coreml: [^\n]+\); falling back to cpu\n$/);
  const auto = await captureLog(() => createOnnxSession(buildModel(), { ep: 'auto' }));
  assert.equal(auto.value.provider, 'cpu');
  await auto.value.close();
  // This CPU-only install has no GPU add-on library: auto tries cpu alone, so nothing failed.
  assert.deepEqual(auto.lines.map((l) => l.replace(/^\S+ /, '')), ['info  [onnx] execution provider: cpu (auto)\n']);
  const quiet = await captureLog(async () => (await createOnnxSession(buildModel(), { ep: 'cpu' })).close());
  assert.deepEqual(quiet.lines, [], 'an explicit cpu logs nothing');
  // A model cpu cannot load is the model's fault: onnxruntime's own error, not a provider message.
  await assert.rejects(createOnnxSession(new Uint8Array([1, 2, 3]), { ep: 'coreml' }), (e: Error) => !(e instanceof UserError) && !/no execution provider/.test(e.message));
});

test('provider candidates: explicit then cpu, auto in the preferred order filtered by the build and its libraries', async () => {
  assert.deepEqual(providerCandidates('cpu', ['cpu', 'cuda']), ['cpu']);
  assert.deepEqual(providerCandidates('wasm', ['cpu']), ['wasm']);
  assert.deepEqual(providerCandidates('webgpu', ['cpu', 'webgpu']), ['webgpu', 'cpu']);
  assert.deepEqual(providerCandidates('auto', ['qnn', 'dml', 'cpu', 'coreml', 'webgpu', 'cuda', 'tensorrt']), ['tensorrt', 'cuda', 'coreml', 'dml', 'qnn', 'cpu']);
  assert.deepEqual(providerCandidates('auto', []), ['cpu'], 'cpu is always there');
  assert.deepEqual(providerCandidates('auto', ['cpu', 'coreml', 'cuda'], (p) => p !== 'coreml'), ['cuda', 'cpu']);
  assert.deepEqual(providerCandidates('auto', ['cpu', 'cuda'], () => false), ['cpu'], 'cpu needs no library');
  const cpuOnly = ['libonnxruntime.so.1', 'onnxruntime_binding.node'];
  assert.equal(providerInstalled('cuda', cpuOnly), false);
  assert.equal(providerInstalled('tensorrt', [...cpuOnly, 'libonnxruntime_providers_cuda.so']), false);
  assert.equal(providerInstalled('tensorrt', [...cpuOnly, 'libonnxruntime_providers_tensorrt.so']), true);
  assert.equal(providerInstalled('cuda', ['onnxruntime_providers_cuda.dll']), true, 'Windows');
  assert.equal(providerInstalled('tensorrt', ['onnxruntime_providers_tensorrt.dll']), true);
  assert.equal(providerInstalled('coreml', []), true, 'built into the binding');
  assert.ok((await availableProviders()).includes('cpu'));
});

test('graph sessions: named float feeds in, every output out with its dims; profile and optimized graph on request', async () => {
  const graph = {
    name: 'add-mul',
    node: [makeNode('Add', ['a', 'b'], ['sum'], 'add'), makeNode('Mul', ['a', 'b'], ['prod'], 'mul')],
    input: [floatValueInfo('a', [2, 2]), floatValueInfo('b', [2, 2])],
    output: [floatValueInfo('sum', [2, 2]), floatValueInfo('prod', [2, 2])],
  };
  const bytes = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph });
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-graph-'));
  try {
    const g = await createGraphSession(bytes, { profileFilePrefix: join(dir, 'prof'), optimizedModelFilePath: join(dir, 'opt.onnx'), intraOpThreads: 1 });
    assert.deepEqual([g.inputNames, g.outputNames], [['a', 'b'], ['sum', 'prod']]);
    const out = await g.run({ a: { data: Float32Array.of(1, 2, 3, 4), dims: [2, 2] }, b: { data: Float32Array.of(10, 20, 30, 40), dims: [2, 2] } });
    assert.deepEqual(Object.keys(out).sort(), ['prod', 'sum']);
    assert.deepEqual(Array.from(out.sum.data), [11, 22, 33, 44]);
    assert.deepEqual(Array.from(out.prod.data), [10, 40, 90, 160]);
    assert.deepEqual(Array.from(out.sum.dims), [2, 2]);
    g.endProfiling();
    await g.close();
    const files = await readdir(dir);
    assert.ok(files.includes('opt.onnx'), files.join(','));
    assert.ok(files.some((f) => /^prof_.*\.json$/.test(f)), files.join(','));
    const plain = await createGraphSession(bytes);
    assert.deepEqual(Array.from((await plain.run({ a: { data: Float32Array.of(1, 1, 1, 1), dims: [2, 2] }, b: { data: Float32Array.of(2, 2, 2, 2), dims: [2, 2] } })).prod.data), [2, 2, 2, 2]);
    await plain.close();
    assert.deepEqual((await readdir(dir)).sort(), files.sort(), 'no profile without a prefix');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
