import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { parseModelMetadata, writeModelMetadata } from '../../src/onnx/metadata.ts';
import { attr, decodeModel, encodeModel, floatTensor, floatValueInfo, makeNode, valueInfoDims, type NodeProto } from '../../src/onnx/proto.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { adoptModel, describeAdoption, modelForTools } from '../../training/onnx/adopt.ts';
import { runAdopt } from '../../training/onnx/adopt-command.ts';
import { captureLog } from '../helpers/capture-log.ts';

/**
 * Edge cases of adopting a foreign classifier (written for the survivors of the first mutation run
 * of adopt.ts and adopt-command.ts): shapes just outside the contract, inputs and outputs without a
 * tensor type, names in the way that are not the scores, old exporters' graph inputs, metadata kept,
 * and what `edgeloom adopt` logs. In process, on a Flatten -> Gemm model written here.
 */
type Spec = Parameters<typeof encodeModel>[0];

/** `x` [N,1,28,28] -> Flatten `flat` -> Gemm(w, b) `out` [N,C], w[k][c] = (k % 7 - 3 + c) / 100, b[c] = c / 10. */
function gemmModel(classes = 3, names: { flat?: string } = {}): Spec {
  const flat = names.flat ?? 'flat';
  const w = Float32Array.from({ length: 784 * classes }, (_, i) => ((Math.floor(i / classes) % 7) - 3 + (i % classes)) / 100);
  const b = Float32Array.from({ length: classes }, (_, c) => c / 10);
  const nodes: NodeProto[] = [makeNode('Flatten', ['x'], [flat], 'flatten', [attr('axis', 1)]), makeNode('Gemm', [flat, 'w', 'b'], ['out'], 'gemm')];
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', node: nodes, initializer: [floatTensor('w', [784, classes], w), floatTensor('b', [classes], b)], input: [floatValueInfo('x', ['N', 1, 28, 28])],
      output: [floatValueInfo('out', ['N', classes])] },
  };
}

/** Image r of a batch: pixel k = ((k + r) % 5) / 4. */
const image = (r: number) => Float32Array.from({ length: 784 }, (_, k) => ((k + r) % 5) / 4);

/** The Gemm's logits worked out here in float64 from the formulas of `gemmModel`. */
function expected(classes: number, r: number): number[] {
  const x = image(r);
  return Array.from({ length: classes }, (_, c) => {
    let s = c / 10;
    for (let k = 0; k < 784; k++) s += x[k] * (((k % 7) - 3 + c) / 100);
    return s;
  });
}

async function logitsOf(bytes: Uint8Array, classes: number): Promise<{ logits: number[][]; embedding: number[][] | null }> {
  const s = await createOnnxSession(bytes);
  try {
    const batch = new Float32Array(2 * 784);
    batch.set(image(0), 0);
    batch.set(image(1), 784);
    const out = await s.run(batch, 2);
    const rows = (a: ArrayLike<number>, w: number) => [0, 1].map((r) => Array.from(a).slice(r * w, (r + 1) * w));
    return { logits: rows(out.logits, classes), embedding: out.embedding ? rows(out.embedding, out.embedding.length / 2) : null };
  } finally {
    await s.close();
  }
}

function assertClose(a: number[], b: number[], what: string) {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-4, `${what}[${i}]: ${v} vs ${b[i]}`));
}

async function assertComputes(bytes: Uint8Array, classes: number, what: string) {
  const out = await logitsOf(bytes, classes);
  for (const r of [0, 1]) assertClose(out.logits[r], expected(classes, r), `${what} row ${r}`);
  return out;
}

const refuses = (spec: Spec, message: RegExp) =>
  assert.throws(() => adoptModel(encodeModel(spec), 'm/f.onnx', { classes: ['a', 'b', 'c'] }), (e: Error) => e instanceof UserError && message.test(e.message), String(message));

test('adoptModel: 5-D inputs are refused however their first four dimensions look; a 2-class model is adopted', async () => {
  for (const dims of [['N', 1, 28, 28, 1], ['N', 28, 28, 1, 1]]) {
    const spec = gemmModel();
    spec.graph!.input = [floatValueInfo('x', dims)];
    refuses(spec, new RegExp(`^f\\.onnx: input \`x\` has shape \\[${dims.join(',')}\\], expected \\[N,1,28,28\\] or \\[N,28,28,1\\]$`));
  }
  // C = 2 is the smallest classifier (the contract asks for C >= 2).
  const two = adoptModel(encodeModel(gemmModel(2)), 'two.onnx', { classes: ['no', 'yes'] });
  assert.equal(two.numClasses, 2);
  assert.deepEqual(parseModelMetadata(two.bytes)?.classes, ['no', 'yes']);
  await assertComputes(two.bytes, 2, 'two classes');
});

test('adoptModel: an input or output without a tensor type is refused as not float32 (not a crash)', () => {
  for (const type of [undefined, {}]) {
    const noInputType = gemmModel();
    noInputType.graph!.input = [{ name: 'x', type }];
    refuses(noInputType, /^f\.onnx: input `x` must be float32$/);
    const noOutputType = gemmModel();
    noOutputType.graph!.output = [{ name: 'out', type }];
    refuses(noOutputType, /^f\.onnx: output `out` must be float32$/);
  }
});

test('adoptModel: inner tensors named `input` or `logits` that are not the image or the scores are moved out of the way', async () => {
  for (const flat of ['input', 'logits']) {
    const a = adoptModel(encodeModel(gemmModel(3, { flat })), 'f.onnx', { classes: ['a', 'b', 'c'] });
    const g = decodeModel(a.bytes).graph!;
    // Each contract name is produced (or fed) exactly once, so the graph is well formed.
    assert.equal(g.node!.filter((n) => n.output!.includes(flat)).length, flat === 'input' ? 0 : 1, flat);
    assert.equal(a.info.embedding, `${flat}/original`);
    const out = await assertComputes(a.bytes, 3, `inner tensor ${flat}`);
    // The embedding is the flattened image itself.
    for (const r of [0, 1]) assertClose(out.embedding![r], Array.from(image(r)), `${flat} embedding row ${r}`);
  }
});

test('adoptModel: a class-score output called `input` does not clash with the renamed image input', async () => {
  const spec = gemmModel();
  spec.graph!.node![1].output = ['input'];
  spec.graph!.output = [floatValueInfo('input', ['N', 3])];
  const a = adoptModel(encodeModel(spec), 'f.onnx', { classes: ['a', 'b', 'c'] });
  assert.equal(a.info.outputName, 'input');
  const g = decodeModel(a.bytes).graph!;
  assert.deepEqual(g.node!.find((n) => n.opType === 'Flatten' && n.name === 'flatten')?.input, ['input']);
  await assertComputes(a.bytes, 3, 'output named input');
});

test('adoptModel: an `embedding` output already in the graph and unused initializers called logits/embedding do not clash', async () => {
  // The model already outputs its flattened input as `embedding` (an Identity nobody reads).
  const withOutput = gemmModel();
  withOutput.graph!.node!.push(makeNode('Identity', ['flat'], ['embedding'], 'id'));
  withOutput.graph!.output!.push(floatValueInfo('embedding', ['N', 784]));
  const a = adoptModel(encodeModel(withOutput), 'f.onnx', { classes: ['a', 'b', 'c'] });
  assert.equal(decodeModel(a.bytes).graph!.node!.filter((n) => n.output!.includes('embedding')).length, 1);
  const out = await assertComputes(a.bytes, 3, 'embedding output');
  assertClose(out.embedding![1], Array.from(image(1)), 'embedding row 1');

  for (const name of ['logits', 'embedding']) {
    const unused = gemmModel();
    unused.graph!.initializer!.push(floatTensor(name, [1], new Float32Array([7])));
    const u = adoptModel(encodeModel(unused), 'f.onnx', { classes: ['a', 'b', 'c'] });
    const g = decodeModel(u.bytes).graph!;
    assert.deepEqual(g.initializer!.map((t) => t.name).filter((n) => n!.startsWith(name)), [`${name}/original`], name);
    await assertComputes(u.bytes, 3, `unused initializer ${name}`);
  }
});

test('adoptModel: an old exporter\'s graph inputs for its weights stay inputs; a constant output has no embedding', async () => {
  const old = gemmModel();
  old.graph!.input!.push(floatValueInfo('w', [784, 3]), floatValueInfo('b', [3]));
  const a = adoptModel(encodeModel(old), 'f.onnx', { classes: ['a', 'b', 'c'] });
  assert.deepEqual(decodeModel(a.bytes).graph!.input!.map((i) => [i.name, valueInfoDims(i)]), [['input', ['N', 1, 28, 28]], ['w', [784, 3]], ['b', [3]]]);
  await assertComputes(a.bytes, 3, 'weights listed as inputs');

  // An output no node produces (a constant): nothing to take an embedding from, and no crash.
  const constant = gemmModel();
  constant.graph!.initializer!.push(floatTensor('out', [1, 3], new Float32Array([1, 2, 3])));
  constant.graph!.node = [];
  assert.equal(adoptModel(encodeModel(constant), 'f.onnx', { classes: ['a', 'b', 'c'] }).info.embedding, null);
});

test('adoptModel keeps the edgeloom metadata a foreign model already has (recipe, metrics)', () => {
  const recipe = { epochs: 3, data: 'somewhere' };
  const metrics = { accuracy: 0.5 };
  const bytes = writeModelMetadata(encodeModel(gemmModel()), { classes: ['a', 'b', 'c'], recipe, metrics });
  const meta = parseModelMetadata(adoptModel(bytes, 'f.onnx').bytes);
  assert.deepEqual(meta?.recipe, recipe);
  assert.deepEqual(meta?.metrics, metrics);
  assert.equal(meta?.arch, 'foreign');
});

test('modelForTools adopts a foreign model without an embedding (the tools do not need one)', () => {
  const warnings: string[] = [];
  const r = modelForTools(encodeModel(gemmModel()), 'dir/f.onnx', { classes: ['a', 'b', 'c'], embedding: 'none' }, (l) => warnings.push(l));
  assert.equal(r.adopted?.embedding, null);
  assert.equal(r.info.numClasses, 3);
  assert.equal(warnings.length, 1);
});

const dir = await mkdtemp(join(tmpdir(), 'adopt-edges-'));
after(() => rm(dir, { recursive: true, force: true }));

test('edgeloom adopt logs what it did under [adopt], and warns that a model without an embedding gets no drift profile', async () => {
  const model = join(dir, 'f.onnx');
  await writeFile(model, encodeModel(gemmModel()));
  const out = join(dir, 'none.onnx');
  const none = (await captureLog(() => runAdopt({ model, out, classes: ['a', 'b', 'c'], embedding: 'none' }))).lines.join('');
  const info = { source: 'f.onnx', inputName: 'x', inputLayout: 'NCHW', outputName: 'out', outputKind: 'logits', embedding: null } as const;
  assert.ok(none.includes(`info  [adopt] ${model}: ${describeAdoption(info)}\n`), none);
  assert.ok(none.includes(`warn  [adopt] ${out}: no embedding, so no drift profile; the agent needs one: name the penultimate tensor with --embedding TENSOR\n`), none);
});

test('edgeloom adopt: a foreign model whose metadata names its data gets a drift profile, and no missing-embedding warning', async () => {
  // 60 training + 20 test images in edgeloom's CSV format (label, 784 pixels); a profile needs >= 50.
  const csv = async (path: string, count: number) => {
    const rows = Array.from({ length: count }, (_, i) => [i % 10, ...Array.from(image(i), (v) => Math.round(v * 255))].join(','));
    await writeFile(path, `${rows.join('\n')}\n`);
  };
  await csv(join(dir, 'train.csv'), 60);
  await csv(join(dir, 'test.csv'), 20);
  const model = join(dir, 'ten.onnx');
  await writeFile(model, writeModelMetadata(encodeModel(gemmModel(10)), { recipe: { data: `csv:${join(dir, 'train.csv')},${join(dir, 'test.csv')}` } }));
  const out = join(dir, 'ten-adopted.onnx');
  const { value: r, lines } = await captureLog(() => runAdopt({ model, out }));
  assert.equal(r.adopted.embedding, 'flat');
  assert.equal(r.driftProfile, true);
  assert.ok(lines.some((l) => l.includes(`[adopt] ${model}: `)), lines.join(''));
  assert.ok(!lines.some((l) => l.includes('no embedding, so no drift profile')), lines.join(''));
  assert.equal(r.numClasses, 10);
  assert.ok(parseModelMetadata(await readFile(out))?.driftReference !== undefined);
});
