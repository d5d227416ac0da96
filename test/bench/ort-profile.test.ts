import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarizeProfile } from '../../scripts/bench/ort-profile.ts';

test('the profile summary sums kernel times per node and per operator, per step, ignoring other events', () => {
  const events = [
    { cat: 'Session', name: 'model_run', dur: 99_000 },
    { cat: 'Node', name: 'conv2/conv_kernel_time', dur: 3000, args: { op_name: 'MatMul' } },
    { cat: 'Node', name: 'conv2/conv_fence_before', dur: 7, args: { op_name: 'MatMul' } },
    { cat: 'Node', name: 'conv3/conv_kernel_time', dur: 1000, args: { op_name: 'MatMul' } },
    { cat: 'Node', name: 'bn1/y_kernel_time', dur: 1000, args: { op_name: 'Add' } },
    { cat: 'Node', name: 'conv2/conv_kernel_time', dur: 3000, args: { op_name: 'MatMul' } },
    { cat: 'Node', name: 'conv3/conv_kernel_time', dur: 1000, args: { op_name: 'MatMul' } },
    { cat: 'Node', name: 'bn1/y_kernel_time', dur: 1000, args: { op_name: 'Add' } },
  ];
  const s = summarizeProfile(events, 2);
  assert.equal(s.stepMs, 5);
  assert.deepEqual(s.byOp.map((o) => [o.op, o.ms, o.nodes]), [['MatMul', 4, 2], ['Add', 1, 1]]);
  assert.deepEqual(s.byNode.map((n) => [n.node, n.ms]), [['conv2/conv', 3], ['conv3/conv', 1], ['bn1/y', 1]]);
  assert.equal(s.byOp[0].share, 0.8);
});
