import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { DEFAULT_PREPROCESSING, writeModelMetadata, type EdgeloomModelMetadata } from '../../src/onnx/metadata.ts';
import { attr, encodeModel, floatTensor, floatValueInfo, makeNode } from '../../src/onnx/proto.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng } from '../../src/random.ts';
import { loadCsvDataset } from '../../training/data/csv.ts';
import type { ImageSet } from '../../training/data/dataset.ts';

/**
 * A tiny float classifier under the edgeloom contract, written directly as ONNX (no training):
 * input [N,1,28,28] -> Conv 2x3x3 (+bias) -> Relu -> MaxPool 2 -> Flatten -> Gemm 338->8 (+bias,
 * transB) -> Relu = `embedding` -> Gemm 8->10 (+bias, transB) = `logits`. Quantizing and running
 * it takes milliseconds, so the quantizer's tests need no trained model.
 */
export interface TinyOptions {
  seed?: number;
  /** `relu6`: a Clip(0, 6) instead of the Relu after the Conv. */
  convActivation?: 'relu' | 'relu6';
  /** Extra metadata (e.g. a recipe naming the data). */
  metadata?: Partial<EdgeloomModelMetadata>;
  /** Leave out the `embedding` graph output. */
  noEmbedding?: boolean;
}

/** What encodeModel takes: a plain object in the ONNX proto's shape. */
export type ModelSpec = Parameters<typeof encodeModel>[0];

export const TINY_CONV_FILTERS = 2;
export const TINY_EMBEDDING = 8;

export function tinyModelProto(opts: TinyOptions = {}): ModelSpec {
  const rng = createRng(opts.seed ?? 1);
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
  const flat = TINY_CONV_FILTERS * 13 * 13;
  const act = opts.convActivation === 'relu6'
    ? makeNode('Clip', ['conv', 'clip/min', 'clip/max'], ['conv/act'], 'clip')
    : makeNode('Relu', ['conv'], ['conv/act'], 'relu');
  return {
    irVersion: 8,
    producerName: 'edgeloom-test',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny',
      input: [floatValueInfo('input', ['N', 1, 28, 28])],
      output: [floatValueInfo('logits', ['N', 10]), ...(opts.noEmbedding ? [] : [floatValueInfo('embedding', ['N', TINY_EMBEDDING])])],
      initializer: [
        floatTensor('conv/w', [TINY_CONV_FILTERS, 1, 3, 3], rand(TINY_CONV_FILTERS * 9, 0.6)),
        floatTensor('conv/b', [TINY_CONV_FILTERS], rand(TINY_CONV_FILTERS, 0.2)),
        ...(opts.convActivation === 'relu6' ? [floatTensor('clip/min', [], new Float32Array([0])), floatTensor('clip/max', [], new Float32Array([6]))] : []),
        floatTensor('fc/w', [TINY_EMBEDDING, flat], rand(TINY_EMBEDDING * flat, 0.1)),
        floatTensor('fc/b', [TINY_EMBEDDING], rand(TINY_EMBEDDING, 0.2).map((v) => v + 0.3)),
        floatTensor('head/w', [10, TINY_EMBEDDING], rand(10 * TINY_EMBEDDING, 1)),
        floatTensor('head/b', [10], rand(10, 0.5)),
      ],
      node: [
        makeNode('Conv', ['input', 'conv/w', 'conv/b'], ['conv'], 'conv', [attr('kernel_shape', [3, 3])]),
        act,
        makeNode('MaxPool', ['conv/act'], ['pool'], 'pool', [attr('kernel_shape', [2, 2]), attr('strides', [2, 2])]),
        makeNode('Flatten', ['pool'], ['flat'], 'flatten', [attr('axis', 1)]),
        makeNode('Gemm', ['flat', 'fc/w', 'fc/b'], ['fc'], 'fc', [attr('transB', 1)]),
        makeNode('Relu', ['fc'], ['embedding'], 'fc/relu'),
        makeNode('Gemm', ['embedding', 'head/w', 'head/b'], ['logits'], 'head', [attr('transB', 1)]),
      ],
    },
  };
}

/** The tiny model as bytes, with edgeloom metadata (10 Fashion-MNIST classes). */
export function tinyModel(opts: TinyOptions = {}): Uint8Array {
  return writeModelMetadata(encodeModel(tinyModelProto(opts)), { arch: 'tiny', classes: [...FASHION_MNIST_CLASSES], preprocessing: DEFAULT_PREPROCESSING, ...opts.metadata });
}

/** Deterministic images in 0..1 (count*784) with structure: a bright square on a dark, noisy ground. */
export function tinyImages(count: number, seed = 5): Float32Array {
  const rng = createRng(seed);
  const x = new Float32Array(count * 784);
  for (let n = 0; n < count; n++) {
    const x0 = 4 + Math.floor(rng() * 10);
    const y0 = 4 + Math.floor(rng() * 10);
    for (let i = 0; i < 784; i++) {
      const r = Math.floor(i / 28);
      const c = i % 28;
      const inside = r >= y0 && r < y0 + 10 && c >= x0 && c < x0 + 10;
      x[n * 784 + i] = inside ? 0.6 + 0.4 * rng() : 0.1 * rng();
    }
  }
  return x;
}

/** A Kaggle-layout CSV of `count` tinyImages (label i % 10, pixels 0-255), for the `csv:` data source. */
export async function writeTinyCsv(path: string, count: number, seed: number): Promise<void> {
  const x = tinyImages(count, seed);
  const lines = Array.from({ length: count }, (_, i) => [i % 10, ...Array.from(x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255))].join(','));
  await writeFile(path, `${lines.join('\n')}\n`);
}

/**
 * What `edgeloom quantize` reads, written into `dir`: the tiny model as `tiny.onnx` and a `csv:` data
 * set of `trainCount` training and 20 test tinyImages; returns the data spec and both splits as loaded.
 */
export async function writeTinyQuantizeInputs(dir: string, trainCount: number): Promise<{ data: string; train: ImageSet; test: ImageSet }> {
  const [trainCsv, testCsv] = [join(dir, 'train.csv'), join(dir, 'test.csv')];
  await writeTinyCsv(trainCsv, trainCount, 1);
  await writeTinyCsv(testCsv, 20, 2);
  await writeFile(join(dir, 'tiny.onnx'), tinyModel());
  return { data: `csv:${trainCsv},${testCsv}`, ...(await loadCsvDataset(trainCsv, testCsv)) };
}
