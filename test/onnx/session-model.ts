import assert from 'node:assert/strict';
import { attr, encodeModel, floatAttr, floatTensor, floatValueInfo, int32Tensor, int64Tensor, int8Tensor, makeNode, uint8Tensor } from '../../src/onnx/proto.ts';
import { createRng } from '../../src/random.ts';

/**
 * A model for the session tests (test/onnx/session-*.test.ts), built with src/onnx/proto.ts's
 * building blocks, and the same maths in JavaScript: running it checks the session wiring and the
 * tensor encodings in one go. Input [N,1,28,28] -> Flatten -> Reshape
 * (int64 shape) -> Gemm(784x3) -> Relu = `embedding` -> Gemm(3x2, beta 0.5) = `logits`, plus
 * probe outputs that decode int8/uint8/int32 initializers and transpose a constant.
 */
const rng = createRng(4);
const W1 = Float32Array.from({ length: 784 * 3 }, () => (rng() - 0.5) * 0.2);
const B1 = Float32Array.from([0.1, -0.2, 0.05]);
const W2 = Float32Array.from([1, -1, 0.5, 2, -0.25, 0.75]);
const B2 = Float32Array.from([0.3, -0.6]);

export function buildModel(opts: { embedding?: boolean } = {}): Uint8Array {
  const scalar = (name: string, v: number) => floatTensor(name, [], Float32Array.of(v));
  const graph = {
    name: 'session-units',
    node: [
      makeNode('Flatten', ['input'], ['flat'], 'flatten', [attr('axis', 1)]),
      makeNode('Reshape', ['flat', 'shape'], ['flat2'], 'reshape'),
      makeNode('Gemm', ['flat2', 'w1', 'b1'], ['h'], 'gemm1'),
      makeNode('Relu', ['h'], ['embedding'], 'relu'),
      makeNode('Gemm', ['embedding', 'w2', 'b2'], ['logits'], 'gemm2', [floatAttr('alpha', 1), attr('beta', 0.5)]),
      makeNode('DequantizeLinear', ['q8', 's8', 'z8'], ['dq8'], 'dq8'),
      makeNode('DequantizeLinear', ['qu8', 'su8', 'zu8'], ['dqu8'], 'dqu8'),
      makeNode('DequantizeLinear', ['q32', 's32'], ['dq32'], 'dq32'),
      makeNode('Constant', [], ['c'], 'const', [attr('value', floatTensor('cv', [1, 2], Float32Array.of(1.5, -2)))]),
      makeNode('Transpose', ['c'], ['ct'], 'transpose', [attr('perm', [1, 0])]),
      makeNode('Shape', ['input'], ['inShape'], 'shape-of'),
    ],
    initializer: [
      int64Tensor('shape', [2], [-1, 784]),
      floatTensor('w1', [784, 3], W1), floatTensor('b1', [3], B1), floatTensor('w2', [3, 2], W2), floatTensor('b2', [2], B2),
      int8Tensor('q8', [3], Int8Array.of(-1, 2, 127)), scalar('s8', 0.5), int8Tensor('z8', [], Int8Array.of(1)),
      uint8Tensor('qu8', [2], Uint8Array.of(0, 255)), scalar('su8', 2), uint8Tensor('zu8', [], Uint8Array.of(1)),
      int32Tensor('q32', [2], Int32Array.of(-3, 70000)), scalar('s32', 0.25),
    ],
    input: [floatValueInfo('input', ['N', 1, 28, 28])],
    output: [
      floatValueInfo('logits', ['N', 2]),
      ...(opts.embedding === false ? [] : [floatValueInfo('embedding', ['N', 3])]),
      floatValueInfo('dq8', [3]), floatValueInfo('dqu8', [2]), floatValueInfo('dq32', [2]), floatValueInfo('ct', [2, 1]),
      { name: 'inShape', type: { tensorType: { elemType: 7, shape: { dim: [{ dimValue: 4 }] } } } },
    ],
  };
  return encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'edgeloom-test', graph });
}

/** The model's maths in float64. */
export function forward(input: Float32Array, batch: number): { logits: number[]; embedding: number[] } {
  const logits: number[] = [];
  const embedding: number[] = [];
  for (let b = 0; b < batch; b++) {
    const e = [0, 1, 2].map((j) => {
      let s = B1[j];
      for (let i = 0; i < 784; i++) s += input[b * 784 + i] * W1[i * 3 + j];
      return Math.max(0, s);
    });
    embedding.push(...e);
    for (let k = 0; k < 2; k++) logits.push(e[0] * W2[k] + e[1] * W2[2 + k] + e[2] * W2[4 + k] + 0.5 * B2[k]);
  }
  return { logits, embedding };
}

export const INPUT = Float32Array.from({ length: 2 * 784 }, (_, i) => ((i * 37) % 256) / 255);
export const near = (actual: ArrayLike<number>, expected: number[], what: string) => {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) < 1e-4, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
};

