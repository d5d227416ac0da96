import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeModel } from '../../training/quantize/quantize.ts';
import { calibrate } from '../../training/quantize/calibrate.ts';
import { insertQdq, loadGraph, removeQuantizableActivations, tensorsToQuantize } from '../../training/quantize/qdq.ts';
import { encodeModel } from '../../src/onnx/proto.ts';
import { createRng } from '../../src/random.ts';
import { tinyModel, tinyModelProto } from './tiny.ts';

/**
 * quantizeModel calibrates with the caller's method and the target's levels: its ranges are
 * calibrate()'s for the same tensors (asymmetric, 256 levels, on the cpu target only).
 */
const rng = createRng(6);
// Long-tailed pixels (u^12): the entropy clip differs between 128 and 256 levels on them.
const images = Float32Array.from({ length: 6 * 784 }, () => rng() ** 12);

test('quantizeModel ranges are calibrate()\'s with the method asked for and the target\'s levels', async () => {
  const fp32 = tinyModel();
  for (const [target, method] of [['cpu', 'entropy'], ['tensorrt', 'entropy'], ['cpu', 'minmax']] as const) {
    const g = loadGraph(fp32);
    if (target === 'cpu') removeQuantizableActivations(g);
    const expected = await calibrate(fp32, tensorsToQuantize(g, target), images, { method, percentile: 99, asymmetric: target === 'cpu' });
    const q = await quantizeModel(fp32, images, { target, method, percentile: 99 });
    assert.deepEqual(q.ranges, expected, `${target} ${method}`);
    if (target === 'cpu' && method === 'entropy') {
      const symmetric = await calibrate(fp32, [...expected.keys()], images, { method, percentile: 99, asymmetric: false });
      assert.notDeepEqual(q.ranges, symmetric, 'the levels make a difference on these images');
    }
    // And the Q/DQ layout is insertQdq's for those ranges.
    assert.equal(q.quantizedTensors, insertQdq(g, expected, { target, perChannel: true, reduceRange: false }).activationParams.size);
  }
});

test('quantizeModel refuses a model without edgeloom metadata, naming the output', async () => {
  await assert.rejects(quantizeModel(encodeModel(tinyModelProto()), images), /^UserError: quantized\.onnx: /);
});
