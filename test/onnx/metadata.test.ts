import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { METADATA_KEYS, readMetadataProps, readModelMetadata, writeModelMetadata, type EdgeloomModelMetadata } from '../../src/onnx/metadata.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { decodeModel, encodeModel, type ModelProto } from '../../src/onnx/proto.ts';
import { UserError } from '../../src/errors.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { useCpuBackend } from './helpers.ts';

let valid: Uint8Array;
before(async () => {
  await useCpuBackend();
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 8, activation: 'relu', name: 'embedding' }),
    tf.layers.dense({ units: 10, name: 'logits' })] });
  valid = (await exportToOnnx(model, { metadata: { arch: 'mlp-test' } })).bytes;
});

function edit(f: (m: ModelProto) => void): Uint8Array {
  const m = decodeModel(valid);
  f(m);
  return encodeModel(m);
}

test('metadata round-trips through metadata_props as JSON values under edgeloom.* keys', async () => {
  const meta: Partial<EdgeloomModelMetadata> = {
    arch: 'cnn',
    classes: ['a', 'b'],
    recipe: { epochs: 3, optimizer: 'adam' },
    metrics: { accuracy: 0.91 },
    driftReference: { mean: [0.1, 0.2] },
  };
  const bytes = writeModelMetadata(valid, meta);
  const back = await readModelMetadata(bytes);
  assert.equal(back?.arch, 'cnn');
  assert.deepEqual(back?.classes, ['a', 'b']);
  assert.deepEqual(back?.recipe, meta.recipe);
  assert.deepEqual(back?.driftReference, meta.driftReference);
  assert.equal(back?.version, undefined, 'edgeloom fields not given are removed');
  const props = readMetadataProps(bytes);
  assert.equal(props.get(METADATA_KEYS.classes), '["a","b"]');
  // Other producers' keys survive a rewrite.
  const foreign = edit((m) => m.metadataProps!.push({ key: 'author', value: 'someone' } as never));
  assert.equal(readMetadataProps(writeModelMetadata(foreign, { arch: 'x' })).get('author'), 'someone');
});

test('an exported model carries version, arch, class names and preprocessing, readable from a path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-meta-'));
  try {
    const path = join(dir, 'm.onnx');
    await writeFile(path, valid);
    const meta = await readModelMetadata(path);
    assert.equal(meta?.arch, 'mlp-test');
    assert.deepEqual(meta?.classes, [...FASHION_MNIST_CLASSES]);
    assert.equal(meta?.preprocessing?.layout, 'NCHW');
    assert.equal(typeof meta?.version, 'string');
    await assert.rejects(readModelMetadata(join(dir, 'missing.onnx')), /missing\.onnx: cannot read the model file \(ENOENT\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the contract accepts an exported model', () => {
  const info = validateModelContract(valid, '/models/good.onnx');
  assert.equal(info.numClasses, 10);
  assert.equal(info.embeddingSize, 8);
});

const violations: [string, () => Uint8Array, RegExp][] = [
  ['not ONNX', () => new TextEncoder().encode('hello, not a protobuf at all \u0000\u0001'), /^bad\.onnx: not an ONNX model/],
  ['missing input', () => edit((m) => { m.graph!.input![0].name = 'images'; m.graph!.node![0].input![0] = 'images'; }),
    /^bad\.onnx: missing input `input` \(found `images`\); bring an exported PyTorch\/Keras classifier to the edgeloom contract with `edgeloom adopt --model IN\.onnx --out OUT\.onnx`$/],
  ['wrong shape', () => edit((m) => { m.graph!.input![0].type!.tensorType!.shape!.dim![1].dimValue = 3; }), /^bad\.onnx: input `input` has shape \[N,3,28,28\], expected \[N,1,28,28\] \(NCHW\)$/],
  ['missing embedding', () => edit((m) => { m.graph!.output = m.graph!.output!.filter((o) => o.name !== 'embedding'); }),
    /^bad\.onnx: missing output `embedding` \(found `logits`\); bring .* with `edgeloom adopt .*--embedding TENSOR names the penultimate layer\)$/],
  ['no metadata', () => edit((m) => { m.metadataProps = []; }), /^bad\.onnx: no edgeloom metadata/],
  ['classes not JSON', () => edit((m) => { m.metadataProps!.find((p) => p.key === METADATA_KEYS.classes)!.value = '[oops'; }), /^bad\.onnx: metadata edgeloom\.classes is not valid JSON$/],
  ['classes wrong count', () => writeModelMetadata(valid, { ...({} as object), classes: ['a', 'b', 'c'] }), /^bad\.onnx: metadata edgeloom\.classes lists 3 classes but output `logits` has 10$/],
  ['classes not strings', () => writeModelMetadata(valid, { classes: [1, 2] as unknown as string[] }), /^bad\.onnx: metadata edgeloom\.classes must be a JSON array of non-empty class names$/],
];

for (const [name, make, expected] of violations) {
  test(`contract violation gives one line naming the file: ${name}`, () => {
    const bytes = make();
    assert.throws(() => validateModelContract(bytes, '/somewhere/bad.onnx'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.ok(!err.message.includes('\n'), 'one line');
      assert.match(err.message, expected);
      return true;
    });
  });
}
