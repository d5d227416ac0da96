import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ARCHITECTURES, getArchitecture } from '../../training/arch/index.ts';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { randomImages, useCpuBackend } from '../onnx/helpers.ts';

await useCpuBackend();

function activations(model: tf.LayersModel): string[] {
  return model.layers.map((l) => (l.getConfig() as { activation?: string }).activation).filter((a): a is string => Boolean(a));
}

test('architectures declare their settings; mlp and cnn build with them (width, activation, dropout) and export to ONNX with parity', async () => {
  assert.deepEqual(Object.values(ARCHITECTURES).filter((a) => a.settings).map((a) => [a.name, a.settings]), [['mlp', ['activation', 'width']], ['cnn', ['activation', 'width', 'dropout']]]);
  const mlp = getArchitecture('mlp').build({ seed: 2, width: 50, activation: 'tanh' });
  // 784*50+50 + 50*50+50 + 50*10+10
  assert.equal(mlp.countParams(), 42_310);
  assert.deepEqual(activations(mlp), ['tanh', 'tanh', 'linear']);
  const cnn = getArchitecture('cnn').build({ seed: 2, dropout: 0.5, width: 20 });
  assert.equal((cnn.layers.find((l) => l.getClassName() === 'Dropout')!.getConfig() as { rate: number }).rate, 0.5);
  assert.equal(cnn.countParams(), 320 + 6272 * 20 + 20 + 210);
  // The defaults are the source's network, unchanged.
  assert.equal(getArchitecture('cnn').build({ seed: 2 }).countParams(), getArchitecture('cnn').expectedParams);
  const { parity } = await exportToOnnx(mlp, { metadata: { arch: 'mlp' }, parityInput: randomImages(4, 5) });
  assert.ok(parity && parity.maxAbsDiffLogits < 1e-4, JSON.stringify(parity));
});

test('settings reach the trainer\'s config, checked against the architecture', () => {
  assert.deepEqual(resolveConfig({ arch: 'mlp', settings: { activation: 'tanh' } }).settings, { activation: 'tanh' });
  assert.equal(resolveConfig({ arch: 'mlp' }).settings, undefined);
  assert.throws(() => resolveConfig({ arch: 'lenet5', settings: { width: 10 } }), /--recipe settings: lenet5 does not accept the setting "width"/);
});
