import { readFile } from 'node:fs/promises';
import { attr, decodeModel, encodeModel, floatTensor, floatValueInfo, makeNode, type ModelProto } from '../../src/onnx/proto.ts';
import { createRng } from '../../src/random.ts';

/**
 * Test models "exported by PyTorch or Keras": built here with onnx-proto, with those tools' naming
 * and layout, and no edgeloom metadata.
 */
export const SHIPPED_FP32 = new URL('../../models/edgenet.onnx', import.meta.url).pathname;

export interface ForeignStyle {
  /** NHWC input (Keras) instead of NCHW (PyTorch). */
  nhwc?: boolean;
  /** A final Softmax: the output holds probabilities. */
  softmax?: boolean;
  /** PyTorch's default export: batch fixed to 1. */
  fixedBatch?: boolean;
}

/**
 * The shipped fp32 edgenet re-dressed as a foreign export: input `input.1` (or `input_1` NHWC with a
 * Transpose, as tf2onnx writes), no `embedding` output, the class scores under a numeric name, no
 * metadata. It computes exactly what edgenet computes, so results can be compared.
 */
export async function foreignFromShipped(style: ForeignStyle = {}): Promise<Uint8Array> {
  const model: ModelProto = decodeModel(await readFile(SHIPPED_FP32));
  const g = model.graph!;
  model.metadataProps = [];
  const batch = style.fixedBatch ? 1 : 'batch_size';
  const inputName = style.nhwc ? 'input_1' : 'input.1';
  const rename = (from: string, to: string) => {
    for (const n of g.node ?? []) {
      n.input = (n.input ?? []).map((x) => (x === from ? to : x));
      n.output = (n.output ?? []).map((x) => (x === from ? to : x));
    }
  };
  if (style.nhwc) {
    g.node = [makeNode('Transpose', [inputName], ['input'], 'model/transpose', [attr('perm', [0, 3, 1, 2])]), ...(g.node ?? [])];
    g.input = [floatValueInfo(inputName, [batch, 28, 28, 1])];
  } else {
    rename('input', inputName);
    g.input = [floatValueInfo(inputName, [batch, 1, 28, 28])];
  }
  rename('logits', '191');
  rename('embedding', 'onnx::Gemm_190');
  if (style.softmax) {
    g.node = [...(g.node ?? []), makeNode('Softmax', ['191'], ['output'], '/Softmax', [attr('axis', 1)])];
    g.output = [floatValueInfo('output', [batch, 10])];
  } else {
    g.output = [floatValueInfo('191', [batch, 10])];
  }
  return encodeModel(model);
}

/** A small PyTorch-style CNN with random weights: conv1 -> relu -> maxpool -> flatten -> fc (classes outputs). */
export function tinyTorchCnn(classes: number, seed = 1): Uint8Array {
  const rng = createRng(seed);
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
  const model: Parameters<typeof encodeModel>[0] = {
    irVersion: 8,
    producerName: 'pytorch',
    producerVersion: '2.1.0',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'main_graph',
      input: [floatValueInfo('input.1', ['batch_size', 1, 28, 28])],
      output: [floatValueInfo('13', ['batch_size', classes])],
      initializer: [
        floatTensor('conv1.weight', [4, 1, 3, 3], rand(36, 0.5)),
        floatTensor('conv1.bias', [4], rand(4, 0.1)),
        floatTensor('fc.weight', [classes, 4 * 13 * 13], rand(classes * 676, 0.05)),
        floatTensor('fc.bias', [classes], rand(classes, 0.1)),
      ],
      node: [
        makeNode('Conv', ['input.1', 'conv1.weight', 'conv1.bias'], ['/conv1/Conv_output_0'], '/conv1/Conv', [attr('kernel_shape', [3, 3])]),
        makeNode('Relu', ['/conv1/Conv_output_0'], ['/Relu_output_0'], '/Relu'),
        makeNode('MaxPool', ['/Relu_output_0'], ['/pool/MaxPool_output_0'], '/pool/MaxPool', [attr('kernel_shape', [2, 2]), attr('strides', [2, 2])]),
        makeNode('Flatten', ['/pool/MaxPool_output_0'], ['/Flatten_output_0'], '/Flatten', [attr('axis', 1)]),
        makeNode('Gemm', ['/Flatten_output_0', 'fc.weight', 'fc.bias'], ['13'], '/fc/Gemm', [attr('transB', 1)]),
      ],
    },
  };
  return encodeModel(model);
}
