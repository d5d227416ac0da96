import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { decodeModel, encodeModel, valueInfoDims } from '../../src/onnx/proto.ts';
import { UserError } from '../../src/errors.ts';
import { buildTinyModel } from '../device/tiny-model.ts';

/** The onnx mutation run's real survivors: non-tensor value infos and lists of several names in a message. */
test('a graph input or output that is not a tensor is a contract error, not a crash', () => {
  const m = decodeModel(buildTinyModel());
  m.graph!.input![0].type = { sequenceType: {} } as never;
  assert.throws(() => validateModelContract(encodeModel(m), '/x/seq.onnx'),
    (e: Error) => e instanceof UserError && e.message === 'seq.onnx: input `input` must be float32 (found ONNX data type none)');
  assert.deepEqual(valueInfoDims({ name: 'x', type: {} }), []);
});

test('several names found instead of the expected one are listed comma-separated', () => {
  const m = decodeModel(buildTinyModel());
  m.graph!.input![0].name = 'images';
  m.graph!.input!.push({ ...m.graph!.input![0], name: 'mask' } as never);
  m.graph!.output![0].name = 'scores';
  assert.throws(() => validateModelContract(encodeModel(m), 'two.onnx'), (e: Error) => e.message.startsWith('two.onnx: missing input `input` (found `images`, `mask`); '));
  const out = decodeModel(buildTinyModel());
  out.graph!.output![0].name = 'scores';
  assert.throws(() => validateModelContract(encodeModel(out), 'two.onnx'), (e: Error) => e.message.startsWith('two.onnx: missing output `logits` (found `scores`, `embedding`); '));
});
