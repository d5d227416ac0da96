import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { createRng } from '../../src/random.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { DEFAULT_PREPROCESSING } from '../../src/onnx/metadata.ts';

const { onnx } = onnxProto;

/**
 * A tiny model that follows the edgeloom contract, built at test time (no trained model exists in
 * the repository): input [N,1,28,28] -> Flatten -> Gemm(784x16) -> Relu = `embedding`
 * -> Gemm(16x10) = `logits`, seeded random weights, class names in metadata_props.
 */
export interface TinyModelOptions {
  seed?: number;
  hidden?: number;
  metadata?: Record<string, string>;
}

function tensor(name: string, dims: number[], rng: () => number, scale: number): OnnxTypes.ITensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (rng() * 2 - 1) * scale;
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(values.buffer) };
}

function valueInfo(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export function buildTinyModel(opts: TinyModelOptions = {}): Uint8Array {
  const rng = createRng(opts.seed ?? 7);
  const hidden = opts.hidden ?? 16;
  const metadata: Record<string, string> = {
    'edgeloom.classes': JSON.stringify(FASHION_MNIST_CLASSES),
    'edgeloom.version': JSON.stringify('1'),
    'edgeloom.arch': JSON.stringify('tiny-test-mlp'),
    'edgeloom.preprocessing': JSON.stringify(DEFAULT_PREPROCESSING),
    'edgeloom.metrics': JSON.stringify({ accuracy: 0.1 }),
    ...opts.metadata,
  };
  const graph: OnnxTypes.IGraphProto = {
    name: 'tiny',
    node: [
      { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      { opType: 'Gemm', input: ['flat', 'w1', 'b1'], output: ['h1'] },
      { opType: 'Relu', input: ['h1'], output: ['embedding'] },
      { opType: 'Gemm', input: ['embedding', 'w2', 'b2'], output: ['logits'] },
    ],
    initializer: [
      tensor('w1', [784, hidden], rng, 0.1),
      tensor('b1', [hidden], rng, 0.1),
      tensor('w2', [hidden, 10], rng, 0.5),
      tensor('b2', [10], rng, 0.1),
    ],
    input: [valueInfo('input', ['N', 1, 28, 28])],
    output: [valueInfo('logits', ['N', 10]), valueInfo('embedding', ['N', hidden])],
  };
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'edgeloom-test',
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(model).finish();
}
