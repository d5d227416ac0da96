import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { decodeModel, encodeModel, floatValueInfo } from '../../src/onnx/proto.ts';
import { readContract } from '../../device/model.ts';
import { adoptModel, modelForTools } from '../../training/onnx/adopt.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';
import { SHIPPED_FP32, foreignFromShipped, tinyTorchCnn } from './foreign.ts';
import { runOnce as run } from '../helpers/onnx-run.ts';

const images = (n: number) => Float32Array.from({ length: n * 784 }, (_, i) => ((i * 7919) % 256) / 255);


test('adopt: PyTorch-style (NCHW, softmax, batch 1) and Keras-style (NHWC, logits) exports compute the shipped model\'s logits and embedding', async () => {
  const shipped = await readFile(SHIPPED_FP32);
  const x = images(4);
  const ref = await run(shipped, x, 4);
  for (const style of [{ softmax: true, fixedBatch: true }, { nhwc: true }]) {
    const foreign = await foreignFromShipped(style);
    assert.throws(() => validateModelContract(foreign, 'torch.onnx'), /missing input `input` .*edgeloom adopt/, 'the raw export breaks the contract');
    const a = adoptModel(foreign, 'torch.onnx');
    assert.equal(a.info.inputLayout, style.nhwc ? 'NHWC' : 'NCHW');
    assert.equal(a.info.outputKind, style.softmax ? 'probabilities' : 'logits');
    assert.equal(a.info.embedding, 'onnx::Gemm_190', 'the final Gemm\'s input is the embedding');
    const info = validateModelContract(a.bytes, 'adopted.onnx');
    assert.deepEqual(info.metadata.classes, [...FASHION_MNIST_CLASSES]);
    assert.equal(info.embeddingSize, 128);
    const out = await run(a.bytes, x, 4);
    for (let i = 0; i < ref.logits.length; i++) assert.ok(Math.abs(out.logits[i] - ref.logits[i]) < 1e-4, `logit ${i}: ${out.logits[i]} vs ${ref.logits[i]}`);
    for (let i = 0; i < ref.embedding!.length; i++) assert.ok(Math.abs(out.embedding![i] - ref.embedding![i]) < 1e-4, `embedding ${i}`);
    // The agent accepts it: full contract, metadata, embedding.
    assert.deepEqual(readContract(a.bytes, 'adopted.onnx').classes, [...FASHION_MNIST_CLASSES]);
  }
});

test('adopt: a 5-class PyTorch CNN needs --classes; probabilities without a Softmax become log p; no-embedding and hostile shapes', async () => {
  const tiny = tinyTorchCnn(5);
  assert.throws(() => adoptModel(tiny, 'bins.onnx'), (e: Error) => e instanceof UserError && /^bins\.onnx: the model has 5 outputs; name its classes with --classes/.test(e.message));
  assert.throws(() => adoptModel(tiny, 'bins.onnx', { classes: ['a', 'b'] }), /--classes lists 2 classes \(a, b\) but the model has 5 outputs/);
  const classes = ['shirt', 'trousers', 'shoe', 'bag', 'dress'];
  const a = adoptModel(tiny, 'bins.onnx', { classes });
  assert.deepEqual(parseModelMetadata(a.bytes)?.classes, classes);
  assert.equal(a.info.embedding, '/Flatten_output_0');
  assert.equal(validateModelContract(a.bytes, 'x.onnx').embeddingSize, 676);
  const logits = (await run(a.bytes, images(2), 2)).logits;
  // Declared probabilities (no Softmax in the graph): logits = log(max(p, 1e-30)).
  const p = adoptModel(tiny, 'bins.onnx', { classes, outputKind: 'probabilities', embedding: 'none' });
  assert.equal(p.info.embedding, null);
  assert.throws(() => validateModelContract(p.bytes, 'p.onnx'), /missing output `embedding`/, 'the agent still wants an embedding');
  const logp = (await run(p.bytes, images(2), 2)).logits;
  for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logp[i] - Math.log(Math.max(logits[i], 1e-30))) < 1e-4);
  assert.throws(() => adoptModel(tiny, 'bins.onnx', { classes, embedding: 'nope' }), /--embedding nope: no node produces that tensor/);
  assert.throws(() => adoptModel(new Uint8Array([1, 2, 3, 4, 5]), 'junk.onnx'), /junk\.onnx: not an ONNX model/);
  const edit = (change: (m: ReturnType<typeof decodeModel>) => void) => {
    const m = decodeModel(tiny);
    change(m);
    return encodeModel(m);
  };
  const rgb = edit((m) => { m.graph!.input = [floatValueInfo('input.1', ['batch_size', 3, 28, 28])]; });
  assert.throws(() => adoptModel(rgb, 'rgb.onnx', { classes }), /rgb\.onnx: input `input\.1` has shape \[batch_size,3,28,28\], expected \[N,1,28,28\] or \[N,28,28,1\]/);
  const twoHeads = edit((m) => { m.graph!.output = [...m.graph!.output!, floatValueInfo('/Relu_output_0', ['batch_size', 4, 26, 26])]; });
  assert.throws(() => adoptModel(twoHeads, 'heads.onnx', { classes }), /heads\.onnx: expected one class-score output \[N,C\], found 2/);
  const image = edit((m) => { m.graph!.output = [floatValueInfo('/Relu_output_0', ['batch_size', 4, 26, 26])]; });
  assert.throws(() => adoptModel(image, 'seg.onnx', { classes }), /seg\.onnx: output `\/Relu_output_0` has shape \[batch_size,4,26,26\], expected \[N,C\]/);
});

test('modelForTools: edgeloom models pass as they are; foreign ones are adopted with one warning that names `edgeloom adopt`', async () => {
  const warnings: string[] = [];
  const shipped = await readFile(SHIPPED_FP32);
  assert.equal(modelForTools(shipped, 'edgenet.onnx', {}, (l) => warnings.push(l)).adopted, null);
  assert.equal(warnings.length, 0);
  const r = modelForTools(await foreignFromShipped({ softmax: true }), 'torch.onnx', {}, (l) => warnings.push(l));
  assert.equal(r.adopted?.outputKind, 'probabilities');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /torch\.onnx: not an edgeloom model, adopted in memory: .*edgeloom adopt --model torch\.onnx --out OUT\.onnx/);
});

test('evaluate, compare, quantize, robustness and adopt accept a foreign export (CLI)', { timeout: 240_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'el-foreign-'));
  try {
    const torch = join(dir, 'torch.onnx');
    await writeFile(torch, await foreignFromShipped({ softmax: true, fixedBatch: true }));
    const ours = await edgeloom(['evaluate', '--model', SHIPPED_FP32, '--limit', '300', '--json']);
    const theirs = await edgeloom(['evaluate', '--model', torch, '--limit', '300', '--json']);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.match(theirs.stderr, /adopted in memory/);
    assert.equal(JSON.parse(theirs.stdout).metrics.accuracy, JSON.parse(ours.stdout).metrics.accuracy, 'same model, same accuracy');

    const cmp = await edgeloom(['compare', SHIPPED_FP32, torch, '--limit', '200', '--runs', '5', '--json']);
    assert.equal(cmp.code, 0, cmp.stderr);
    assert.equal(JSON.parse(cmp.stdout).agreement, 1);

    const q = join(dir, 'torch.int8.onnx');
    const quant = await edgeloom(['quantize', '--model', torch, '--out', q, '--check-size', '200', '--json']);
    assert.equal(quant.code, 0, quant.stderr);
    const check = JSON.parse(quant.stdout).check;
    assert.ok(Math.abs(check.fp32Accuracy - check.int8Accuracy) < 0.03, JSON.stringify(check));
    const qmeta = parseModelMetadata(await readFile(q));
    assert.equal(qmeta?.quantization?.format, 'QDQ');
    assert.ok(qmeta?.driftReference, 'an adopted model with an embedding gets a drift profile');

    const rob = await edgeloom(['robustness', '--model', torch, '--filters', 'blur', '--severities', '3', '--limit', '100', '--json']);
    assert.equal(rob.code, 0, rob.stderr);
    assert.equal(JSON.parse(rob.stdout).results.length, 1);

    const bins = join(dir, 'bins.onnx');
    await writeFile(bins, tinyTorchCnn(5));
    const refused = await edgeloom(['evaluate', '--model', bins, '--limit', '50']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr.trim().split('\n').at(-1)!, /bins\.onnx: the model has 5 outputs; name its classes with --classes/);

    const adopted = join(dir, 'adopted.onnx');
    const ad = await edgeloom(['adopt', '--model', torch, '--out', adopted, '--json']);
    assert.equal(ad.code, 0, ad.stderr);
    assert.equal(JSON.parse(ad.stdout).driftProfile, true);
    const info = validateModelContract(await readFile(adopted), adopted);
    assert.equal(info.embeddingSize, 128);
    assert.deepEqual(parseModelMetadata(await readFile(adopted))?.adopted?.inputName, 'input.1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
