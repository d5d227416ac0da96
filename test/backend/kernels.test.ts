import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tf } from '../../training/backend/index.ts';
import { WASM_TRAINING_KERNELS, registerWasmTrainingKernels } from '../../training/backend/wasm-kernels/index.ts';
import { maxRelativeError, onCpuAndWasm, randomValues } from './helpers.ts';

const TOLERANCE = 1e-4;

function assertClose(cpu: Float32Array[], wasm: Float32Array[], label: string): void {
  assert.equal(wasm.length, cpu.length, label);
  cpu.forEach((expected, i) => {
    const err = maxRelativeError(expected, wasm[i]);
    assert.ok(err < TOLERANCE, `${label} output ${i}: relative error ${err.toExponential(2)}`);
  });
}

type Pad = 'same' | 'valid';
const convCases: Array<{ x: [number, number, number, number]; k: [number, number]; outC: number; stride: number | [number, number]; pad: Pad }> = [
  { x: [2, 8, 8, 3], k: [3, 3], outC: 4, stride: 1, pad: 'same' },
  { x: [2, 9, 9, 3], k: [3, 3], outC: 5, stride: 2, pad: 'same' },
  { x: [2, 9, 7, 3], k: [3, 3], outC: 5, stride: 1, pad: 'valid' },
  { x: [3, 10, 10, 4], k: [3, 3], outC: 6, stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 2], k: [2, 2], outC: 3, stride: 1, pad: 'same' },
  { x: [1, 7, 9, 2], k: [5, 3], outC: 3, stride: [2, 1], pad: 'same' },
  { x: [4, 14, 14, 1], k: [3, 3], outC: 8, stride: 1, pad: 'same' },
  // A first layer with many filters: the filter gradient takes the patches path (prefersPatches).
  { x: [3, 12, 12, 1], k: [3, 3], outC: 16, stride: 1, pad: 'same' },
  { x: [2, 10, 10, 3], k: [3, 3], outC: 20, stride: 2, pad: 'same' },
];

test('the training kernels are registered once, however often registration runs', () => {
  registerWasmTrainingKernels();
  assert.deepEqual(registerWasmTrainingKernels(), []);
  for (const config of WASM_TRAINING_KERNELS) assert.ok(tf.getKernel(config.kernelName, 'wasm'), config.kernelName);
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'the kernel tfjs-backend-wasm lacks');
});

for (const [i, c] of convCases.entries()) {
  const label = `conv ${c.x.join('x')} k${c.k.join('x')} out${c.outC} stride ${c.stride} ${c.pad}`;
  test(`Conv2DBackpropFilter and Conv2DBackpropInput match cpu: ${label}`, async () => {
    const filterShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.outC];
    const xValues = randomValues(c.x.reduce((a, b) => a * b), 10 + i);
    const wValues = randomValues(filterShape.reduce((a, b) => a * b), 100 + i);
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const x = tf.tensor4d(xValues, c.x);
      const w = tf.tensor4d(wValues, filterShape);
      const y = tf.conv2d(x, w, c.stride, c.pad);
      const dy = tf.tensor4d(randomValues(y.size, 1000 + i), y.shape as [number, number, number, number]);
      return [
        tf.conv2dTranspose(dy, w, c.x, c.stride, c.pad), // Conv2DBackpropInput
        tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, c.stride, c.pad).mul(dy).sum())(w), // Conv2DBackpropFilter
      ];
    });
    assertClose(cpu, wasm, label);
  });
}

const poolCases: Array<{ x: [number, number, number, number]; size: number; stride: number; pad: Pad; ties?: boolean }> = [
  { x: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
  { x: [2, 7, 7, 4], size: 3, stride: 2, pad: 'same' },
  { x: [1, 9, 6, 5], size: 3, stride: 1, pad: 'same' },
  { x: [2, 7, 7, 2], size: 2, stride: 2, pad: 'same' },
  // Few distinct values (as after ReLU): the gradient must go to the first maximum, as on cpu.
  { x: [2, 6, 6, 3], size: 2, stride: 2, pad: 'valid', ties: true },
  { x: [1, 7, 7, 2], size: 3, stride: 2, pad: 'same', ties: true },
];

for (const [i, c] of poolCases.entries()) {
  const label = `pool ${c.x.join('x')} size ${c.size} stride ${c.stride} ${c.pad}${c.ties ? ' with ties' : ''}`;
  test(`MaxPoolGrad and AvgPoolGrad match cpu: ${label}`, async () => {
    const xValues = randomValues(c.x.reduce((a, b) => a * b), 200 + i).map((v) => (c.ties ? Math.round(v * 1.5) : v));
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const x = tf.tensor4d(xValues, c.x);
      const y = tf.maxPool(x, c.size, c.stride, c.pad);
      const dy = tf.tensor4d(randomValues(y.size, 300 + i), y.shape as [number, number, number, number]);
      return [
        tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, c.size, c.stride, c.pad).mul(dy).sum())(x),
        tf.grad((v: tf.Tensor) => tf.avgPool(v as tf.Tensor4D, c.size, c.stride, c.pad).mul(dy).sum())(x),
      ];
    });
    assertClose(cpu, wasm, label);
  });
}

test('Tile matches cpu for float32, int32 and bool, including the batch-norm pattern', async () => {
  const cases: Array<{ shape: number[]; reps: number[] }> = [
    { shape: [1, 1, 1, 5], reps: [3, 4, 2, 1] },
    { shape: [2, 3], reps: [2, 3] },
    { shape: [4], reps: [3] },
    { shape: [2, 1, 3], reps: [1, 4, 2] },
  ];
  const { cpu, wasm } = await onCpuAndWasm(() =>
    cases.flatMap(({ shape, reps }, i) => {
      const size = shape.reduce((a, b) => a * b);
      const values = randomValues(size, 400 + i);
      return [
        tf.tile(tf.tensor(values, shape), reps),
        tf.tile(tf.tensor(values, shape).mul(10).round().cast('int32'), reps).cast('float32'),
        tf.tile(tf.tensor(values, shape).greater(0), reps).cast('float32'),
      ];
    }),
  );
  cpu.forEach((expected, i) => assert.deepEqual(Array.from(wasm[i]), Array.from(expected), `case ${i}`));
});

test('Sum and Mean match cpu over leading, middle, trailing and all axes, with and without keepDims', async () => {
  const shape = [3, 5, 4, 6];
  const values = randomValues(shape.reduce((a, b) => a * b), 500);
  const axesList: Array<number | number[]> = [[0, 1, 2], [1, 2], 0, [0, 1], 3, [2, 3], [0, 1, 2, 3], [0, 2]];
  const { cpu, wasm } = await onCpuAndWasm(() =>
    axesList.flatMap((axis) => {
      const x = tf.tensor(values, shape);
      return [false, true].flatMap((keepDims) => [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims), tf.sum(x.mul(10).round().cast('int32'), axis, keepDims).cast('float32')]);
    }),
  );
  assertClose(cpu, wasm, 'reductions');
  const shapes = await onCpuAndWasm(() => [tf.sum(tf.ones([2, 3, 4]), [0, 1], true), tf.mean(tf.ones([2, 3, 4]), [1])]);
  assert.deepEqual(Array.from(shapes.wasm[0]), [6, 6, 6, 6]);
  assert.deepEqual(Array.from(shapes.wasm[1]), Array(8).fill(1));
});

test('the kernels release every intermediate they allocate in the wasm heap', async () => {
  await onCpuAndWasm(() => tf.scalar(0)); // prepares wasm
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const step = (): void =>
    tf.tidy(() => {
      const x = tf.tensor4d(randomValues(2 * 9 * 9 * 3, 600), [2, 9, 9, 3]);
      const w = tf.tensor4d(randomValues(3 * 3 * 3 * 4, 601), [3, 3, 3, 4]);
      for (const [stride, pad] of [[1, 'same'], [2, 'valid'], [2, 'same']] as const) {
        tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad).square().sum())([x, w]);
      }
      tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, 2, 2, 'same').sum())(x);
      tf.tile(x, [1, 2, 1, 1]);
      tf.sum(x, [0, 1, 2]);
      tf.mean(x, [1, 2], true);
    });
  step();
  const before = backend.numDataIds();
  for (let i = 0; i < 3; i++) step();
  assert.equal(backend.numDataIds(), before);
});

test('Identity shares the buffer with one more reference: the copy outlives its source, nothing leaks', async () => {
  await onCpuAndWasm(() => tf.scalar(0)); // prepares wasm
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number; refCount(dataId: object): number };
  const before = backend.numDataIds();
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.clone(a); // runs the Identity kernel
  assert.equal(b.dataId, a.dataId, 'no copy');
  assert.equal(backend.refCount(a.dataId), 2);
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
  b.dispose();
  assert.equal(backend.numDataIds(), before, 'the buffer is freed with its last reference');
  // Cast to the same dtype shares as well; a real conversion still converts.
  const f32 = tf.tensor1d([1.7, -2.2, 3]);
  const same = tf.cast(f32, 'float32');
  assert.equal(same.dataId, f32.dataId);
  const { cpu: castCpu, wasm: castWasm } = await onCpuAndWasm(() => [tf.cast(tf.tensor1d([1.7, -2.2, 3]), 'int32'), tf.cast(tf.tensor1d([0, 2, 0]), 'bool')]);
  assert.deepEqual(castWasm.map((a) => Array.from(a)), castCpu.map((a) => Array.from(a)));
  await tf.setBackend('wasm');
  tf.dispose([f32, same]);
  // A gradient through identity-heavy ops (batch norm via moments) still equals cpu's.
  const f = (x: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, mean, variance, tf.fill([4], 0.5), tf.fill([4], 2), 1e-3).square().mul(tf.range(1, 5)).sum();
  };
  const { cpu, wasm } = await onCpuAndWasm(() => tf.grad(f)(tf.tensor4d(randomValues(2 * 5 * 5 * 4, 700), [2, 5, 5, 4])));
  assertClose(cpu, wasm, 'batch-norm gradient');
});

test('the filter gradient picks patches + matmul for few input and many output channels, the convolution otherwise', async () => {
  const { prefersPatches } = await import('../../training/backend/wasm-kernels/conv-grad.ts');
  const info = (x: [number, number, number, number], f: [number, number, number, number]) => tf.backend_util.computeConv2DInfo(x, f, 1, 1, 'same');
  assert.equal(prefersPatches(info([64, 28, 28, 1], [3, 3, 1, 32])), true);
  assert.equal(prefersPatches(info([3, 12, 12, 1], [3, 3, 1, 16])), true, 'the parity case above covers this path');
  assert.equal(prefersPatches(info([64, 28, 28, 1], [5, 5, 1, 6])), false);
  assert.equal(prefersPatches(info([64, 14, 14, 32], [3, 3, 32, 64])), false);
});
