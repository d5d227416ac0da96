import { test } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import {
  attr, decodeModel, encodeModel, floatAttr, floatTensor, floatValueInfo, getAttr, getIntAttr, int32Tensor, int64Tensor, int8Tensor, makeNode, tensorDims, tensorFloats, toNumber,
  uint8Tensor, valueInfoDims, type TensorProto,
} from '../../src/onnx/proto.ts';

/**
 * The ONNX building blocks without a runtime: numbers as onnx.proto defines them (TensorProto
 * DataType FLOAT 1, UINT8 2, INT8 3, INT32 6, INT64 7; AttributeType FLOAT 1, INT 2, STRING 3,
 * TENSOR 4, FLOATS 6, INTS 7), little-endian raw_data, and what survives an encode/decode.
 * test/onnx/session-units.test.ts runs the same blocks in onnxruntime.
 */
const bytes = (t: TensorProto) => Array.from(t.rawData as Uint8Array);

/** Through a whole ModelProto encode/decode, as a file would be read back. */
function roundTrip(t: TensorProto): TensorProto {
  return decodeModel(encodeModel({ graph: { name: 'g', initializer: [t] } })).graph!.initializer![0];
}

test('toNumber: numbers, Long int64 values (as decoded), and anything else through Number()', () => {
  assert.equal(toNumber(5), 5);
  assert.equal(toNumber(Long.fromNumber(2 ** 40)), 2 ** 40);
  assert.equal(toNumber(Long.fromNumber(-3)), -3);
  assert.equal(toNumber('12'), 12);
  assert.equal(toNumber(null), 0);
  assert.ok(Number.isNaN(toNumber({ toNumber: 5 })), 'an object whose toNumber is not a function');
  assert.ok(Number.isNaN(toNumber({})));
});

test('typed tensors: data type, dims and little-endian raw_data, copied from the caller\'s buffer', () => {
  const f = Float32Array.of(1, -2, 0.5);
  const ft = floatTensor('w', [3], f);
  assert.deepEqual([ft.name, ft.dims, ft.dataType], ['w', [3], 1]);
  assert.deepEqual(bytes(ft), [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f]);
  f[0] = 99;
  assert.deepEqual(Array.from(tensorFloats(ft)), [1, -2, 0.5], 'raw_data does not alias the source');
  // A view into a larger buffer: only its own bytes.
  const big = Float32Array.of(7, 1, -2, 8);
  assert.deepEqual(Array.from(tensorFloats(floatTensor('v', [2], big.subarray(1, 3)))), [1, -2]);
  const i8 = int8Tensor('q', [2], Int8Array.of(-1, 2));
  assert.deepEqual([i8.dataType, bytes(i8)], [3, [0xff, 2]]);
  assert.deepEqual(bytes(int8Tensor('q', [1], Int8Array.of(5, -7, 9).subarray(1, 2))), [0xf9]);
  const u8src = Uint8Array.of(0, 255);
  const u8 = uint8Tensor('u', [2], u8src);
  u8src[0] = 9;
  assert.deepEqual([u8.dataType, bytes(u8)], [2, [0, 255]]);
  const i32 = int32Tensor('i', [2], Int32Array.of(-1, 258));
  assert.deepEqual([i32.dataType, bytes(i32)], [6, [0xff, 0xff, 0xff, 0xff, 2, 1, 0, 0]]);
  assert.deepEqual(bytes(int32Tensor('i', [1], Int32Array.of(1, 3).subarray(1))), [3, 0, 0, 0]);
  const i64 = int64Tensor('s', [2], [-1, 784]);
  assert.deepEqual([i64.dataType, i64.dims], [7, [2]]);
  assert.deepEqual(bytes(i64), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10, 3, 0, 0, 0, 0, 0, 0]);
  const dims = [2, 2];
  const t = floatTensor('m', dims, new Float32Array(4));
  dims[0] = 5;
  assert.deepEqual(t.dims, [2, 2], 'dims copied too');
});

test('tensorFloats: raw_data (at any byte offset after decoding) or float_data; other types refused', () => {
  const back = roundTrip(floatTensor('w', [2, 2], Float32Array.of(1, 2, 3, 4.5)));
  assert.deepEqual(Array.from(tensorFloats(back)), [1, 2, 3, 4.5]);
  assert.deepEqual(tensorDims(back), [2, 2], 'int64 dims come back as numbers');
  const unaligned = new Uint8Array(9);
  unaligned.set(new Uint8Array(Float32Array.of(2.5, -1).buffer), 1);
  assert.deepEqual(Array.from(tensorFloats({ name: 'u', dataType: 1, rawData: unaligned.subarray(1) })), [2.5, -1]);
  assert.deepEqual(Array.from(tensorFloats({ name: 'f', dataType: 1, floatData: [0.25, 8] })), [0.25, 8]);
  assert.deepEqual(Array.from(tensorFloats({ name: 'f', dataType: 1, rawData: new Uint8Array(0), floatData: [3] })), [3], 'empty raw_data: float_data');
  assert.deepEqual(Array.from(tensorFloats({ name: 'e', dataType: 1 })), []);
  assert.deepEqual(Array.from(tensorFloats(roundTrip({ name: 'fd', dims: [2], dataType: 1, floatData: [1.5, -4] }))), [1.5, -4]);
  assert.throws(() => tensorFloats(int8Tensor('q', [1], Int8Array.of(1))), (e: Error) => e.message === 'tensor q: expected float32, found data type 3');
  assert.deepEqual(tensorDims({ name: 'scalar' }), []);
});

test('attributes: integers as INT, other numbers as FLOAT, strings, int lists, float lists, tensors', () => {
  assert.deepEqual(attr('axis', 1), { name: 'axis', type: 2, i: 1 });
  assert.deepEqual(attr('axis', -1), { name: 'axis', type: 2, i: -1 });
  assert.deepEqual(attr('beta', 0.5), { name: 'beta', type: 1, f: 0.5 });
  assert.deepEqual(attr('mode', 'constant'), { name: 'mode', type: 3, s: new TextEncoder().encode('constant') });
  assert.deepEqual(attr('perm', [1, 0]), { name: 'perm', type: 7, ints: [1, 0] });
  assert.deepEqual(attr('scales', { floats: [1, 2.5] }), { name: 'scales', type: 6, floats: [1, 2.5] });
  const t = floatTensor('v', [1], Float32Array.of(3));
  assert.deepEqual(attr('value', t), { name: 'value', type: 4, t });
  assert.deepEqual(floatAttr('alpha', 1), { name: 'alpha', type: 1, f: 1 }, 'an integral float stays FLOAT');
});

test('nodes and value infos: attributes looked up by name, int attributes with a fallback, symbolic dims', () => {
  const node = makeNode('Flatten', ['x'], ['y'], 'flat', [attr('axis', 2), floatAttr('alpha', 0.5)]);
  assert.deepEqual(node, { opType: 'Flatten', input: ['x'], output: ['y'], name: 'flat', domain: '', attribute: [attr('axis', 2), floatAttr('alpha', 0.5)] });
  assert.deepEqual(makeNode('Q', ['a'], ['b'], 'q', [], 'com.microsoft').domain, 'com.microsoft');
  assert.deepEqual(makeNode('Relu', ['a'], ['b'], 'r').attribute, []);
  assert.deepEqual(getAttr(node, 'alpha'), floatAttr('alpha', 0.5));
  assert.equal(getAttr(node, 'beta'), undefined);
  assert.equal(getAttr({ opType: 'Relu' }, 'axis'), undefined, 'a node without attributes');
  assert.equal(getIntAttr(node, 'axis', 1), 2);
  assert.equal(getIntAttr(node, 'keepdims', 7), 7);
  const decoded = decodeModel(encodeModel({ graph: { name: 'g', node: [node] } })).graph!.node![0];
  assert.equal(getIntAttr(decoded, 'axis', 1), 2, 'a decoded int64 attribute');
  const v = floatValueInfo('input', ['N', 1, 28, 28]);
  assert.deepEqual(v, { name: 'input', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }, { dimValue: 28 }, { dimValue: 28 }] } } } });
  assert.deepEqual(valueInfoDims(v), ['N', 1, 28, 28]);
  const back = decodeModel(encodeModel({ graph: { name: 'g', input: [v] } })).graph!.input![0];
  assert.deepEqual(valueInfoDims(back), ['N', 1, 28, 28], 'after decoding (Long dims)');
  assert.deepEqual(valueInfoDims({ name: 'x', type: { tensorType: { shape: { dim: [{}, { dimValue: 0 }, { dimParam: '' , dimValue: 3 }, { dimValue: null }] } } } }), ['?', 0, 3, '?']);
  assert.deepEqual(valueInfoDims({ name: 'x' }), []);
  assert.deepEqual(valueInfoDims({ name: 'x', type: { tensorType: {} } }), []);
});
