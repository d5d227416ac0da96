import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModelFile, validateModelContract } from '../../src/onnx/contract.ts';
import { DEFAULT_PREPROCESSING, METADATA_KEYS, parseModelMetadata, readMetadataProps, readModelMetadata, writeModelMetadata } from '../../src/onnx/metadata.ts';
import { decodeModel, encodeModel, type ModelProto } from '../../src/onnx/proto.ts';
import { UserError } from '../../src/errors.ts';
import { buildTinyModel } from '../device/tiny-model.ts';

/**
 * The model contract and the metadata format on a tiny hand-built model (test/device/tiny-model.ts:
 * no tfjs, no onnxruntime), each rule broken on its own. test/onnx/metadata.test.ts checks the
 * same on a model exported from tfjs.
 */
const TEN = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const valid = buildTinyModel();

function edit(f: (m: ModelProto) => void, bytes = valid): Uint8Array {
  const m = decodeModel(bytes);
  f(m);
  return encodeModel(m);
}

const metadataOf = (classes: unknown, extra: Record<string, string> = {}) => buildTinyModel({ metadata: { 'edgeloom.classes': JSON.stringify(classes), ...extra } });

function refuses(bytes: Uint8Array, message: string | RegExp, opts = {}): void {
  assert.throws(() => validateModelContract(bytes, '/models/dir/bad.onnx', opts), (e: Error) => {
    assert.ok(e instanceof UserError, String(e));
    assert.ok(!e.message.includes('\n'), 'one line');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

const HINT = 'bring an exported PyTorch/Keras classifier to the edgeloom contract with `edgeloom adopt --model IN.onnx --out OUT.onnx`';

test('a model that keeps the contract: class count, embedding width and its metadata', () => {
  const info = validateModelContract(valid, '/models/good.onnx');
  assert.equal(info.numClasses, 10);
  assert.equal(info.embeddingSize, 16);
  assert.deepEqual(info.metadata.classes, TEN);
  assert.equal(info.metadata.arch, 'tiny-test-mlp');
  assert.deepEqual(info.metadata.preprocessing, DEFAULT_PREPROCESSING);
  assert.equal(validateModelContract(buildTinyModel({ hidden: 5 }), 'x.onnx').embeddingSize, 5);
  // Initializers listed among the graph inputs (older exporters) are weights, not inputs.
  const listed = edit((m) => { m.graph!.input!.push({ name: 'w1', type: m.graph!.input![0].type } as never); });
  assert.equal(validateModelContract(listed, 'x.onnx').numClasses, 10);
  // A symbolic embedding width is allowed: the size is then unknown.
  const symbolic = edit((m) => { m.graph!.output![1].type!.tensorType!.shape!.dim![1] = { dimParam: 'D' } as never; });
  assert.equal(validateModelContract(symbolic, 'x.onnx').embeddingSize, null);
  // Without the preprocessing key the contract's default is assumed.
  const noPre = edit((m) => { m.metadataProps = m.metadataProps!.filter((p) => p.key !== 'edgeloom.preprocessing'); });
  assert.equal(validateModelContract(noPre, 'x.onnx').metadata.preprocessing, undefined);
});

test('the embedding output is required unless the caller says not', () => {
  const noEmbedding = edit((m) => { m.graph!.output = m.graph!.output!.filter((o) => o.name !== 'embedding'); });
  refuses(noEmbedding, `bad.onnx: missing output \`embedding\` (found \`logits\`); ${HINT} (--embedding TENSOR names the penultimate layer)`);
  const info = validateModelContract(noEmbedding, 'x.onnx', { requireEmbedding: false });
  assert.deepEqual([info.numClasses, info.embeddingSize], [10, null]);
  assert.equal(validateModelContract(valid, 'x.onnx', { requireEmbedding: false }).embeddingSize, 16);
  assert.equal(validateModelContract(valid, 'x.onnx', { requireEmbedding: true }).embeddingSize, 16);
});

test('graph violations: one line naming the file (not its folder) and what was expected', () => {
  refuses(new TextEncoder().encode('not a protobuf \u0000\u0001'), /^bad\.onnx: not an ONNX model \(.+\)$/);
  refuses(edit((m) => { m.graph = null; }), 'bad.onnx: not an ONNX model (no graph)');
  refuses(edit((m) => { m.graph!.input![0].name = 'images'; }), `bad.onnx: missing input \`input\` (found \`images\`); ${HINT}`);
  refuses(edit((m) => { m.graph!.input = []; }), `bad.onnx: missing input \`input\` (found none); ${HINT}`);
  refuses(edit((m) => { m.graph!.input!.push({ ...m.graph!.input![0], name: 'mask' } as never); }), 'bad.onnx: expected exactly one input `input`, found 2');
  refuses(edit((m) => { m.graph!.input![0].type!.tensorType!.elemType = 10; }), 'bad.onnx: input `input` must be float32 (found ONNX data type 10)');
  refuses(edit((m) => { m.graph!.input![0].type = null; }), 'bad.onnx: input `input` must be float32 (found ONNX data type none)');
  const dims = (d: (number | string)[]) => edit((m) => {
    m.graph!.input![0].type!.tensorType!.shape!.dim = d.map((v) => (typeof v === 'string' ? { dimParam: v } : { dimValue: v })) as never;
  });
  for (const d of [['N', 3, 28, 28], ['N', 1, 32, 28], ['N', 1, 28, 32], ['N', 1, 784], ['N', 28, 28, 1], ['N', 1, 28, 28, 1]]) {
    refuses(dims(d), `bad.onnx: input \`input\` has shape [${d.join(',')}], expected [N,1,28,28] (NCHW)`);
  }
  assert.equal(validateModelContract(dims([4, 1, 28, 28]), 'x.onnx').numClasses, 10, 'a fixed batch is fine');
  refuses(edit((m) => { m.graph!.output = m.graph!.output!.filter((o) => o.name !== 'logits'); }), `bad.onnx: missing output \`logits\` (found \`embedding\`); ${HINT}`);
  refuses(edit((m) => { m.graph!.output = []; }), `bad.onnx: missing output \`logits\` (found none); ${HINT}`);
  refuses(edit((m) => { m.graph!.output![0].type!.tensorType!.elemType = 11; }), 'bad.onnx: output `logits` must be float32 (found ONNX data type 11)');
  refuses(edit((m) => { m.graph!.output![1].type!.tensorType!.elemType = 7; }), 'bad.onnx: output `embedding` must be float32 (found ONNX data type 7)');
  const outDims = (i: number, d: (number | string)[]) => edit((m) => {
    m.graph!.output![i].type!.tensorType!.shape!.dim = d.map((v) => (typeof v === 'string' ? { dimParam: v } : { dimValue: v })) as never;
  });
  refuses(outDims(0, ['N', 'K']), 'bad.onnx: output `logits` has shape [N,K], expected [N,K] with a fixed K');
  refuses(outDims(0, ['N', 10, 1]), 'bad.onnx: output `logits` has shape [N,10,1], expected [N,K] with a fixed K');
  refuses(outDims(0, [10]), 'bad.onnx: output `logits` has shape [10], expected [N,K] with a fixed K');
  refuses(outDims(1, ['N', 16, 1]), 'bad.onnx: output `embedding` has shape [N,16,1], expected [N,D]');
  refuses(outDims(1, [16]), 'bad.onnx: output `embedding` has shape [16], expected [N,D]');
  assert.throws(() => decodeModelFile(new Uint8Array([0xff, 0xff, 0xff]), 'junk.onnx'), (e: Error) => e instanceof UserError && /^junk\.onnx: not an ONNX model \(.+\)$/.test(e.message));
});

test('metadata violations: class names, their count, the preprocessing they were trained with', () => {
  refuses(edit((m) => { m.metadataProps = []; }), `bad.onnx: no edgeloom metadata (export it with \`edgeloom export\`, or ${HINT})`);
  refuses(buildTinyModel({ metadata: { 'edgeloom.classes': '[oops' } }), 'bad.onnx: metadata edgeloom.classes is not valid JSON');
  const names = 'bad.onnx: metadata edgeloom.classes must be a JSON array of non-empty class names';
  for (const bad of [{ a: 1 }, 'abc', [...TEN.slice(0, 9), ''], [...TEN.slice(0, 9), 7], null]) refuses(metadataOf(bad), names);
  refuses(edit((m) => { m.metadataProps = m.metadataProps!.filter((p) => p.key !== 'edgeloom.classes'); }), names);
  refuses(metadataOf([...TEN.slice(0, 9), 'Bag']), 'bad.onnx: metadata edgeloom.classes has duplicate names');
  refuses(metadataOf(['a', 'b', 'c']), 'bad.onnx: metadata edgeloom.classes lists 3 classes but output `logits` has 10');
  refuses(metadataOf([...TEN, 'Hat']), /lists 11 classes but output `logits` has 10$/);
  const pre = (p: object) => metadataOf(TEN, { 'edgeloom.preprocessing': JSON.stringify({ ...DEFAULT_PREPROCESSING, ...p }) });
  refuses(pre({ layout: 'NHWC' }), 'bad.onnx: metadata edgeloom.preprocessing describes NHWC 1x28x28, expected NCHW 1x28x28');
  refuses(pre({ height: 32 }), 'bad.onnx: metadata edgeloom.preprocessing describes NCHW 1x32x28, expected NCHW 1x28x28');
  refuses(pre({ width: 32 }), 'bad.onnx: metadata edgeloom.preprocessing describes NCHW 1x28x32, expected NCHW 1x28x28');
  refuses(pre({ channels: 3 }), 'bad.onnx: metadata edgeloom.preprocessing describes NCHW 3x28x28, expected NCHW 1x28x28');
  assert.equal(validateModelContract(pre({ scale: 1 }), 'x.onnx').numClasses, 10, 'scale and offset are not part of the shape check');
});

test('metadata keys, their JSON values, other producers\' keys kept on a rewrite', () => {
  assert.deepEqual(METADATA_KEYS, {
    version: 'edgeloom.version', arch: 'edgeloom.arch', classes: 'edgeloom.classes', preprocessing: 'edgeloom.preprocessing', recipe: 'edgeloom.recipe',
    metrics: 'edgeloom.metrics', quantization: 'edgeloom.quantization', driftReference: 'edgeloom.drift_reference', exportedAt: 'edgeloom.exported_at',
    adopted: 'edgeloom.adopted',
  });
  assert.deepEqual(DEFAULT_PREPROCESSING, { layout: 'NCHW', height: 28, width: 28, channels: 1, scale: 1 / 255, offset: 0, polarity: 'bright-on-dark' });
  const foreign = edit((m) => {
    m.metadataProps!.push({ key: 'author', value: 'someone' } as never, { key: 'empty', value: '' } as never, { key: '', value: 'no key' } as never);
  });
  const props = readMetadataProps(foreign);
  assert.equal(props.get('author'), 'someone');
  assert.equal(props.get('empty'), '');
  assert.equal(props.has(''), false, 'a prop without a key is skipped');
  assert.equal(props.get('edgeloom.arch'), '"tiny-test-mlp"');
  const rewritten = writeModelMetadata(foreign, { arch: 'cnn', classes: ['a', 'b'], driftReference: { v: 1 }, exportedAt: undefined });
  const back = decodeModel(rewritten).metadataProps!.map((p) => [p.key, p.value]);
  // Other producers' keys first, as they were; then edgeloom's in METADATA_KEYS order; undefined fields gone.
  assert.deepEqual(back, [['author', 'someone'], ['empty', ''], ['', 'no key'], ['edgeloom.arch', '"cnn"'], ['edgeloom.classes', '["a","b"]'], ['edgeloom.drift_reference', '{"v":1}']]);
  assert.deepEqual(parseModelMetadata(rewritten), { arch: 'cnn', classes: ['a', 'b'], driftReference: { v: 1 } });
  assert.deepEqual(decodeModel(rewritten).graph, decodeModel(foreign).graph, 'the graph is untouched');
});

test('parseModelMetadata: null without edgeloom keys, a UserError naming the origin and key for bad JSON or bytes', () => {
  assert.equal(parseModelMetadata(edit((m) => { m.metadataProps = [{ key: 'author', value: 'x' }] as never; })), null);
  assert.deepEqual(parseModelMetadata(edit((m) => { m.metadataProps = [{ key: 'edgeloom.version', value: '"1"' }] as never; })), { version: '1' });
  const bad = buildTinyModel({ metadata: { 'edgeloom.metrics': '{accuracy: 1}' } });
  assert.throws(() => parseModelMetadata(bad, 'm.onnx'), (e: Error) => e instanceof UserError && e.message === 'm.onnx: metadata edgeloom.metrics is not valid JSON');
  assert.throws(() => parseModelMetadata(bad), (e: Error) => e instanceof UserError && e.message === 'model: metadata edgeloom.metrics is not valid JSON');
  assert.throws(() => parseModelMetadata(new Uint8Array([0xff, 0xff, 0xff]), 'j.onnx'), (e: Error) => e instanceof UserError && /^j\.onnx: not an ONNX model \(.+\)$/.test(e.message));
});

test('readModelMetadata: from bytes or a path; an unreadable path names the file and the reason', async () => {
  assert.equal((await readModelMetadata(valid))?.arch, 'tiny-test-mlp');
  await assert.rejects(readModelMetadata(new Uint8Array([0xff, 0xff, 0xff])), (e: Error) => e instanceof UserError && /^model: not an ONNX model/.test(e.message));
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-contract-'));
  try {
    const path = join(dir, 'm.onnx');
    await writeFile(path, valid);
    assert.deepEqual((await readModelMetadata(path))?.classes, TEN);
    await assert.rejects(readModelMetadata(join(dir, 'missing.onnx')), (e: Error) => e instanceof UserError && e.message === `${join(dir, 'missing.onnx')}: cannot read the model file (ENOENT)`);
    await assert.rejects(readModelMetadata(dir), (e: Error) => e instanceof UserError && e.message === `${dir}: cannot read the model file (EISDIR)`);
    await writeFile(join(dir, 'junk.onnx'), 'junk \u0000\u0001');
    await assert.rejects(readModelMetadata(join(dir, 'junk.onnx')), (e: Error) => e instanceof UserError && e.message.startsWith(`${join(dir, 'junk.onnx')}: not an ONNX model`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
