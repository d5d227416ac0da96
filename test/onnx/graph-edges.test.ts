import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { convKernelFromOnnx, convKernelToOnnx, flattenPerm } from '../../training/onnx/graph.ts';

/** tfjs index of every element of a labelled NHWC tensor, in ONNX's NCHW flatten order. */
function nchwOrderOfNhwc(c: number, h: number, w: number): number[] {
  const labels = tf.tensor(Array.from({ length: c * h * w }, (_, i) => i), [1, h, w, c], 'int32');
  return Array.from(tf.transpose(labels, [0, 3, 1, 2]).dataSync());
}

test('flattenPerm matches a transpose of labelled NHWC data, square maps included', () => {
  // Square maps (h === w) and h*w > 1 need a permutation as much as any other shape.
  for (const [c, h, w] of [[2, 2, 2], [3, 3, 3], [2, 1, 3], [4, 3, 2]] as const) {
    const perm = flattenPerm(c, h, w);
    assert.ok(perm, `${c}x${h}x${w} needs a permutation`);
    assert.deepEqual(Array.from(perm), nchwOrderOfNhwc(c, h, w), `${c}x${h}x${w}`);
  }
  assert.equal(flattenPerm(3, 1, 1), null, 'a 1x1 map flattens the same in both layouts');
  assert.equal(flattenPerm(1, 3, 3), null, 'one channel flattens the same in both layouts');
});

test('conv kernels: HWIO -> OIHW is transpose [3,2,0,1], and back', () => {
  const [kh, kw, ci, co] = [3, 2, 2, 4];
  const hwio = Float32Array.from({ length: kh * kw * ci * co }, (_, i) => i);
  const oihw = convKernelToOnnx(hwio, kh, kw, ci, co);
  assert.deepEqual(Array.from(oihw), Array.from(tf.transpose(tf.tensor(hwio, [kh, kw, ci, co]), [3, 2, 0, 1]).dataSync()));
  assert.deepEqual(Array.from(convKernelFromOnnx(oihw, co, ci, kh, kw)), Array.from(hwio));
});
