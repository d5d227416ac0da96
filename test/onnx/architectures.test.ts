import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { randomImages, randomizeStats, useCpuBackend } from './helpers.ts';

before(useCpuBackend);

// Every registered architecture exports with tfjs/onnxruntime parity (untrained weights, random BN
// statistics so that folding is exercised).
for (const [name, arch] of Object.entries(ARCHITECTURES)) {
  test(`architecture ${name} exports with parity`, async () => {
    const model = arch.build({ seed: 1 });
    try {
      randomizeStats(model, 5);
      const { bytes, parity, numClasses } = await exportToOnnx(model, { metadata: { arch: name }, parityInput: randomImages(4, 9) });
      assert.equal(numClasses, 10);
      assert.ok(parity && parity.relativeError <= 1e-4, `${name}: ${JSON.stringify(parity)}`);
      assert.equal(validateModelContract(bytes, `${name}.onnx`).metadata.arch, name);
    } finally {
      model.dispose();
    }
  });
}
