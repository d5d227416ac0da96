import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { parseModelMetadata, writeModelMetadata, type AdoptionInfo } from '../../src/onnx/metadata.ts';
import { attr, DataType, decodeModel, encodeModel, floatTensor, floatValueInfo, makeNode, valueInfoDims, type NodeProto } from '../../src/onnx/proto.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { ADOPT_DEFAULTS, adoptModel, describeAdoption, modelForTools } from '../../training/onnx/adopt.ts';
import { runAdopt } from '../../training/onnx/adopt-command.ts';
import { tinyTorchCnn } from './foreign.ts';

/**
 * adoptModel on small foreign graphs written here, in process: every refusal, every rewiring case
 * (names in the way, NHWC, softmax variants, embedding detection), and `edgeloom adopt` without
 * the CLI. Outputs are checked in onnxruntime against the original graph's own outputs.
 */
type Spec = Parameters<typeof encodeModel>[0];
const CLASSES5 = ['a', 'b', 'c', 'd', 'e'];

/** A foreign 5-class model: `x` [N,1,28,28] -> Flatten -> MatMul(+Add) or Gemm -> (Softmax) -> `out`. */
function foreign(opts: { head?: 'gemm' | 'gemmT' | 'matmul-add' | 'matmul'; softmax?: 'Softmax' | 'LogSoftmax'; axis?: number; opset?: number; input?: string; nhwc?: boolean;
  names?: Record<string, string> } = {}): Spec {
  const input = opts.input ?? 'x';
  const n = (t: string) => opts.names?.[t] ?? t;
  const w = Float32Array.from({ length: 784 * 5 }, (_, i) => Math.sin(i) * 0.05);
  const head = opts.head ?? 'gemm';
  const scores = opts.softmax ? n('scores') : 'out';
  const nodes: NodeProto[] = [makeNode('Flatten', [input], [n('flat')], 'flatten', [attr('axis', 1)])];
  const inits = [floatTensor('b', [5], new Float32Array([0.1, -0.1, 0.2, 0, 0.3]))];
  if (head === 'gemm') {
    inits.push(floatTensor('w', [784, 5], w));
    nodes.push(makeNode('Gemm', [n('flat'), 'w', 'b'], [scores], 'gemm'));
  } else if (head === 'gemmT') {
    const wt = new Float32Array(784 * 5);
    for (let k = 0; k < 784; k++) for (let c = 0; c < 5; c++) wt[c * 784 + k] = w[k * 5 + c];
    inits.push(floatTensor('w', [5, 784], wt));
    nodes.push(makeNode('Gemm', [n('flat'), 'w', 'b'], [scores], 'gemm', [attr('transB', 1)]));
  } else {
    inits.push(floatTensor('w', [784, 5], w));
    if (head === 'matmul-add') {
      nodes.push(makeNode('MatMul', [n('flat'), 'w'], ['mm'], 'mm'), makeNode('Add', ['b', 'mm'], [scores], 'add'));
    } else {
      nodes.push(makeNode('MatMul', [n('flat'), 'w'], [scores], 'mm'));
    }
  }
  if (opts.softmax) nodes.push(makeNode(opts.softmax, [scores], ['out'], 'sm', opts.axis === undefined ? [] : [attr('axis', opts.axis)]));
  const dims = opts.nhwc ? ['batch', 28, 28, 1] : ['batch', 1, 28, 28];
  if (opts.nhwc) nodes.unshift(makeNode('Transpose', [input], [`${input}/nchw`], 'tr', [attr('perm', [0, 3, 1, 2])]));
  if (opts.nhwc) nodes[1].input = [`${input}/nchw`];
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opts.opset ?? 17 }],
    graph: { name: 'f', node: nodes, initializer: inits, input: [floatValueInfo(input, dims)], output: [floatValueInfo('out', ['batch', 5])] },
  };
}

const bytesOf = (spec: Spec) => encodeModel(spec);
const images = (n: number) => Float32Array.from({ length: n * 784 }, (_, i) => ((i * 7919) % 256) / 255);

/** What the original graph computes, through onnxruntime (its input renamed to `input`, output to `logits`). */
async function run(bytes: Uint8Array) {
  const s = await createOnnxSession(bytes);
  try {
    return await s.run(images(2), 2);
  } finally {
    await s.close();
  }
}

/** x . w + b per row, computed here: the logits every variant of `foreign` must produce. */
function expectedLogits(): Float32Array {
  const x = images(2);
  const w = Float32Array.from({ length: 784 * 5 }, (_, i) => Math.sin(i) * 0.05);
  const b = [0.1, -0.1, 0.2, 0, 0.3];
  const out = new Float32Array(10);
  for (let r = 0; r < 2; r++) for (let c = 0; c < 5; c++) {
    let s = Math.fround(b[c]);
    for (let k = 0; k < 784; k++) s += x[r * 784 + k] * w[k * 5 + c];
    out[r * 5 + c] = s;
  }
  return out;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-4) {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

const refuses = (bytes: Uint8Array, message: RegExp, opts = {}) =>
  assert.throws(() => adoptModel(bytes, '/some/dir/f.onnx', { classes: CLASSES5, ...opts }), (e: Error) => e instanceof UserError && message.test(e.message), String(message));

test('adoptModel: logits-only heads (Gemm, Gemm transB, MatMul + Add, bare MatMul) compute x.w + b, with the Gemm/MatMul input as embedding', async () => {
  const logits = expectedLogits();
  for (const head of ['gemm', 'gemmT', 'matmul-add', 'matmul'] as const) {
    const a = adoptModel(bytesOf(foreign({ head })), '/models/f.onnx', { classes: CLASSES5 });
    assert.deepEqual(a.info, { source: 'f.onnx', inputName: 'x', inputLayout: 'NCHW', outputName: 'out', outputKind: 'logits', embedding: 'flat' } satisfies AdoptionInfo);
    assert.equal(a.numClasses, 5);
    const g = decodeModel(a.bytes).graph!;
    assert.deepEqual(g.output!.map((o) => [o.name, valueInfoDims(o)]), [['logits', ['N', 5]], ['embedding', ['N', 784]]], head);
    assert.deepEqual(g.input!.map((i) => [i.name, valueInfoDims(i)]), [['input', ['N', 1, 28, 28]]]);
    assert.deepEqual(g.valueInfo ?? [], []);
    const out = await run(a.bytes);
    const bias = head === 'matmul' ? [0.1, -0.1, 0.2, 0, 0.3] : [0, 0, 0, 0, 0];
    assertClose(out.logits, Array.from(logits, (v, i) => v - Math.fround(bias[i % 5])), head);
    assertClose(out.embedding!, images(2), `${head} embedding`, 0);
    const meta = parseModelMetadata(a.bytes)!;
    assert.deepEqual([meta.arch, meta.classes, meta.adopted], ['foreign', CLASSES5, a.info]);
    assert.deepEqual(meta.preprocessing?.layout, 'NCHW');
  }
});

test('adoptModel: softmax endings give the logits in front of them; declared probabilities without a Softmax become log p', async () => {
  const logits = expectedLogits();
  for (const [softmax, axis, opset] of [['Softmax', undefined, 17], ['Softmax', 1, 17], ['Softmax', -1, 17], ['LogSoftmax', undefined, 17], ['Softmax', undefined, 11]] as const) {
    const a = adoptModel(bytesOf(foreign({ softmax, axis, opset })), 'f.onnx', { classes: CLASSES5 });
    assert.equal(a.info.outputKind, 'probabilities');
    assert.ok(!decodeModel(a.bytes).graph!.node!.some((n) => n.opType === softmax), 'the final softmax is gone');
    assertClose((await run(a.bytes)).logits, logits, `${softmax} axis ${axis} opset ${opset}`);
  }
  // Over the batch axis: not per-class scores.
  refuses(bytesOf(foreign({ softmax: 'Softmax', axis: 0 })), /^f\.onnx: final Softmax runs over axis 0, expected the class axis \(1\)$/);
  // Opset 11 defaults to axis 1 (class axis); opset 13+ to -1 (the last: also the class axis of [N,C]).
  refuses(bytesOf(foreign({ softmax: 'LogSoftmax', axis: 2 })), /final LogSoftmax runs over axis 2/);
  // --output-kind logits keeps the softmax as the output (the user says it is logits).
  const kept = adoptModel(bytesOf(foreign({ softmax: 'Softmax' })), 'f.onnx', { classes: CLASSES5, outputKind: 'logits' });
  assert.equal(kept.info.outputKind, 'logits');
  assert.ok(decodeModel(kept.bytes).graph!.node!.some((n) => n.opType === 'Softmax'));
  assert.equal(kept.info.embedding, null, 'the output is not made by a Gemm/MatMul: no embedding found');
  // Declared probabilities with no Softmax in sight (an Identity after it): log(max(p, 1e-30)).
  const hidden = foreign({ softmax: 'Softmax' });
  hidden.graph!.node!.find((n) => n.opType === 'Softmax')!.output = ['p'];
  hidden.graph!.node!.push(makeNode('Identity', ['p'], ['out'], 'id'));
  assert.equal(adoptModel(bytesOf(hidden), 'h.onnx', { classes: CLASSES5 }).info.outputKind, 'logits', 'auto: no final Softmax, so logits');
  const declared = adoptModel(bytesOf(hidden), 'h.onnx', { classes: CLASSES5, outputKind: 'probabilities' });
  assert.equal(declared.info.outputKind, 'probabilities');
  const logp = (await run(declared.bytes)).logits;
  const softmax = (r: number) => {
    const row = Array.from(logits.subarray(r * 5, (r + 1) * 5));
    const sum = row.reduce((s, v) => s + Math.exp(v), 0);
    return row.map((v) => Math.exp(v) / sum);
  };
  assertClose(logp, [...softmax(0), ...softmax(1)].map((v) => Math.log(Math.max(v, 1e-30))), 'log p');
  const zero = decodeModel(declared.bytes).graph!.initializer!.find((t) => t.name === 'adopt/probability_floor')!;
  assert.equal(new Float32Array(new Uint8Array(zero.rawData!).slice().buffer)[0], Math.fround(1e-30));
  // A softmax whose output is also read inside the graph is not a final one.
  const spec = foreign({ softmax: 'Softmax' });
  spec.graph!.node!.push(makeNode('Identity', ['out'], ['copy'], 'copy'));
  assert.equal(adoptModel(bytesOf(spec), 'f.onnx', { classes: CLASSES5 }).info.outputKind, 'logits');
  assert.equal(ADOPT_DEFAULTS.outputKind, 'auto');
});

test('adoptModel: NHWC inputs get a Transpose; tensors already named input/logits/embedding are moved out of the way', async () => {
  const logits = expectedLogits();
  const nhwc = adoptModel(bytesOf(foreign({ nhwc: true, input: 'input_1' })), 'k.onnx', { classes: CLASSES5 });
  assert.equal(nhwc.info.inputLayout, 'NHWC');
  assert.equal(nhwc.info.inputName, 'input_1');
  const first = decodeModel(nhwc.bytes).graph!.node![0];
  assert.deepEqual([first.opType, first.input, first.output], ['Transpose', ['input'], ['input_1']]);
  // The model's own Transpose undoes ours: 28x28x1 in NHWC is the same bytes as 1x28x28, so logits match.
  assertClose((await run(nhwc.bytes)).logits, logits, 'nhwc');
  const named = adoptModel(bytesOf(foreign({ nhwc: true, input: 'input' })), 'k.onnx', { classes: CLASSES5 });
  assert.equal(decodeModel(named.bytes).graph!.node![0].output![0], 'input/nhwc');
  assertClose((await run(named.bytes)).logits, logits, 'nhwc named input');

  // Inner tensors called `logits` and `embedding` (and an input already called `input`).
  const clash = adoptModel(bytesOf(foreign({ input: 'input', names: { flat: 'embedding', scores: 'logits' }, softmax: 'Softmax' })), 'c.onnx', { classes: CLASSES5 });
  assert.equal(clash.info.embedding, 'embedding/original');
  const names = decodeModel(clash.bytes).graph!.node!.flatMap((n) => n.output ?? []);
  assert.ok(names.includes('embedding/original'));
  const out = await run(clash.bytes);
  assertClose(out.logits, logits, 'clash');
  assertClose(out.embedding!, images(2), 'clash embedding', 0);
  // The class scores are already called `logits`: kept as they are.
  const same = adoptModel(bytesOf(foreign({ names: { scores: 'logits' }, softmax: 'Softmax' })), 'c.onnx', { classes: CLASSES5 });
  assertClose((await run(same.bytes)).logits, logits, 'logits named logits');
  // An initializer called `embedding` is renamed too.
  const spec = foreign();
  spec.graph!.initializer!.find((t) => t.name === 'b')!.name = 'embedding';
  spec.graph!.node!.find((n) => n.opType === 'Gemm')!.input![2] = 'embedding';
  const init = adoptModel(bytesOf(spec), 'i.onnx', { classes: CLASSES5 });
  assertClose((await run(init.bytes)).logits, logits, 'initializer named embedding');
});

test('adoptModel: --embedding names a tensor (or none); the logits themselves can be the embedding', async () => {
  const chosen = adoptModel(bytesOf(foreign()), 'f.onnx', { classes: CLASSES5, embedding: 'flat' });
  assert.equal(chosen.info.embedding, 'flat');
  assert.deepEqual(valueInfoDims(decodeModel(chosen.bytes).graph!.output![1]), ['N', 'D'], 'width unknown');
  refuses(bytesOf(foreign()), /^f\.onnx: --embedding x: no node produces that tensor$/, { embedding: 'x' });
  const self = adoptModel(bytesOf(foreign()), 'f.onnx', { classes: CLASSES5, embedding: 'out' });
  const out = await run(self.bytes);
  assertClose(out.embedding!, out.logits, 'embedding = logits', 0);
  const none = adoptModel(bytesOf(foreign()), 'f.onnx', { classes: CLASSES5, embedding: 'none' });
  assert.equal(none.info.embedding, null);
  assert.deepEqual(decodeModel(none.bytes).graph!.output!.map((o) => o.name), ['logits']);
});

test('adoptModel refuses what it cannot adopt, naming the file and the fix', () => {
  const edit = (change: (s: Spec) => void, base = foreign()) => {
    change(base);
    return bytesOf(base);
  };
  refuses(new Uint8Array([8, 8, 18, 0]), /^f\.onnx: not an ONNX model/);
  refuses(bytesOf({ irVersion: 8 }), /^f\.onnx: not an ONNX model \(no graph\)$/);
  refuses(edit((s) => { s.graph!.input = []; }), /^f\.onnx: expected one image input, found 0 \(none\)$/);
  refuses(edit((s) => { s.graph!.input!.push(floatValueInfo('y', ['batch', 1, 28, 28])); }), /^f\.onnx: expected one image input, found 2 \(x, y\)$/);
  // An initializer listed among the inputs (old exporters do that) is not an input.
  const listed = edit((s) => { s.graph!.input!.push(floatValueInfo('w', [784, 5])); });
  assert.equal(adoptModel(listed, 'f.onnx', { classes: CLASSES5 }).info.inputName, 'x');
  refuses(edit((s) => { s.graph!.input![0].type!.tensorType!.elemType = DataType.UINT8; }), /^f\.onnx: input `x` must be float32$/);
  for (const dims of [['batch', 3, 28, 28], ['batch', 28, 28, 3], ['batch', 1, 28, 27], ['batch', 28, 27, 1], ['batch', 784], ['batch', 1, 27, 28], ['batch', 27, 28, 1]]) {
    refuses(edit((s) => { s.graph!.input = [floatValueInfo('x', dims)]; }), new RegExp(`^f\\.onnx: input \`x\` has shape \\[${dims.join(',')}\\], expected \\[N,1,28,28\\] or \\[N,28,28,1\\]$`));
  }
  refuses(edit((s) => { s.graph!.output!.push(floatValueInfo('aux', ['batch', 3])); }), /^f\.onnx: expected one class-score output \[N,C\], found 2 \(out, aux\)$/);
  refuses(edit((s) => { s.graph!.output = []; }), /^f\.onnx: expected one class-score output \[N,C\], found 0 \(\)$/);
  // A second output called `embedding` is fine: it is not a class-score candidate.
  const withEmb = edit((s) => { s.graph!.output!.push(floatValueInfo('embedding', ['batch', 784])); s.graph!.node![0].output = ['embedding']; s.graph!.node![1].input![0] = 'embedding'; });
  assert.equal(adoptModel(withEmb, 'f.onnx', { classes: CLASSES5 }).info.outputName, 'out');
  refuses(edit((s) => { s.graph!.output![0].type!.tensorType!.elemType = DataType.INT64; }), /^f\.onnx: output `out` must be float32$/);
  for (const dims of [['batch'], ['batch', 5, 1], ['batch', 'C'], ['batch', 1]]) {
    refuses(edit((s) => { s.graph!.output = [floatValueInfo('out', dims)]; }), new RegExp(`^f\\.onnx: output \`out\` has shape \\[${dims.join(',')}\\], expected \\[N,C\\] with a fixed C >= 2$`));
  }
  refuses(bytesOf(foreign()), /^f\.onnx: --output-kind: expected auto, logits or probabilities, got "softmax"$/, { outputKind: 'softmax' });
  const quantized = writeModelMetadata(bytesOf(foreign()), { classes: CLASSES5, quantization: {
    format: 'QDQ', target: 'cpu', method: 'minmax', calibrationSize: 1, calibrationSeed: 1, perChannel: true,
    reduceRange: false, activationType: 'uint8', weightType: 'int8' } });
  refuses(quantized, /^f\.onnx: already quantized; adopt the float model$/);
});

test('adoptModel: class names from --classes, the model\'s metadata, or Fashion-MNIST for 10 outputs; refused when unusable', () => {
  assert.throws(() => adoptModel(bytesOf(foreign()), 'f.onnx'), /^UserError: f\.onnx: the model has 5 outputs; name its classes with --classes a,b,c \(in output order\)$/);
  refuses(bytesOf(foreign()), /^f\.onnx: --classes lists 2 classes \(a, b\) but the model has 5 outputs$/, { classes: ['a', 'b'] });
  refuses(bytesOf(foreign()), /^f\.onnx: --classes: expected distinct, non-empty class names$/, { classes: ['a', 'b', 'c', 'd', 'a'] });
  refuses(bytesOf(foreign()), /^f\.onnx: --classes: expected distinct, non-empty class names$/, { classes: ['a', 'b', 'c', 'd', ''] });
  const own = writeModelMetadata(bytesOf(foreign()), { arch: 'mine', classes: ['v', 'w', 'x', 'y', 'z'] });
  const a = adoptModel(own, 'f.onnx');
  assert.deepEqual(parseModelMetadata(a.bytes)?.classes, ['v', 'w', 'x', 'y', 'z']);
  assert.equal(parseModelMetadata(a.bytes)?.arch, 'mine', 'the model\'s own arch is kept');
  assert.deepEqual(parseModelMetadata(adoptModel(own, 'f.onnx', { classes: CLASSES5 }).bytes)?.classes, CLASSES5, '--classes wins');
  assert.deepEqual(parseModelMetadata(adoptModel(tinyTorchCnn(10), 't.onnx').bytes)?.classes, [...FASHION_MNIST_CLASSES]);
});

test('describeAdoption: one line saying what was done', () => {
  const base: AdoptionInfo = { source: 'f.onnx', inputName: 'x', inputLayout: 'NCHW', outputName: 'out', outputKind: 'logits', embedding: 'flat' };
  assert.equal(describeAdoption(base), 'input `x` NCHW; output `out` as logits; embedding from `flat`');
  assert.equal(describeAdoption({ ...base, inputLayout: 'NHWC', outputKind: 'probabilities', embedding: null }),
    'input `x` NHWC (transposed); output `out` as probabilities (logits taken in front of the softmax, or log p); no embedding (no drift OOD score)');
});

test('modelForTools: an edgeloom model ignores the adoption flags with a warning; a foreign one is adopted', () => {
  const adopted = adoptModel(bytesOf(foreign()), 'f.onnx', { classes: CLASSES5 });
  for (const opts of [{ classes: CLASSES5 }, { outputKind: 'logits' as const }, { embedding: 'flat' }]) {
    const warnings: string[] = [];
    const r = modelForTools(adopted.bytes, '/m/ours.onnx', opts, (l) => warnings.push(l));
    assert.equal(r.adopted, null);
    assert.equal(r.bytes, adopted.bytes);
    assert.deepEqual(warnings, ['ours.onnx: an edgeloom model; --classes, --output-kind and --embedding apply to foreign models only and are ignored']);
  }
  const quiet: string[] = [];
  modelForTools(adopted.bytes, 'ours.onnx', {}, (l) => quiet.push(l));
  assert.deepEqual(quiet, []);
  // No embedding output: fine for the tools.
  const none = adoptModel(bytesOf(foreign()), 'f.onnx', { classes: CLASSES5, embedding: 'none' });
  assert.equal(modelForTools(none.bytes, 'n.onnx').info.embeddingSize, null);
  const warnings: string[] = [];
  const r = modelForTools(bytesOf(foreign()), '/m/f.onnx', { classes: CLASSES5 }, (l) => warnings.push(l));
  assert.deepEqual(r.adopted, { ...adopted.info, source: 'f.onnx' });
  assert.equal(r.info.numClasses, 5);
  assert.deepEqual(warnings, ['f.onnx: not an edgeloom model, adopted in memory: input `x` NCHW; output `out` as logits; embedding from `flat`. `edgeloom adopt --model /m/f.onnx --out OUT.onnx` ' +
    'does this once (the agent needs it)']);
});

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'el-adopt-')); });
after(() => rm(dir, { recursive: true, force: true }));

test('runAdopt (edgeloom adopt) in process: writes the adopted model; refuses a missing model and --out = --model', async () => {
  const model = join(dir, 'f.onnx');
  await writeFile(model, bytesOf(foreign()));
  const out = join(dir, 'adopted.onnx');
  await writeFile(`${out}.drift.json`, '{"stale": true}\n');
  const r = await runAdopt({ model, out, classes: CLASSES5, embedding: 'none' });
  const written = new Uint8Array(await readFile(out));
  assert.deepEqual(written, new Uint8Array(adoptModel(bytesOf(foreign()), model, { classes: CLASSES5, embedding: 'none' }).bytes));
  assert.deepEqual(r, { out, adopted: { source: 'f.onnx', inputName: 'x', inputLayout: 'NCHW', outputName: 'out', outputKind: 'logits', embedding: null }, numClasses: 5, classes: CLASSES5,
    driftProfile: false, bytes: written.length });
  assert.ok(!existsSync(`${out}.drift.json`), 'no profile: a stale sidecar is removed');
  await assert.rejects(runAdopt({ model: join(dir, 'nope.onnx'), out }), (e: Error) => e instanceof UserError && /^--model .*nope\.onnx: not found$/.test(e.message));
  await assert.rejects(runAdopt({ model, out: model }), (e: Error) => e instanceof UserError && /^--out .*f\.onnx: must differ from --model \(the original stays as it is\)$/.test(e.message));
});
