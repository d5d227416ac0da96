import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { convertLayersModel } from '../../training/onnx/convert.ts';
import { quantizeModel } from '../../training/quantize/quantize.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { decodeModel } from '../../src/onnx/proto.ts';
import { writeModelMetadata, DEFAULT_PREPROCESSING } from '../../src/onnx/metadata.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { randomImages, randomizeStats, useCpuBackend } from '../onnx/helpers.ts';

before(useCpuBackend);

// Every registered architecture quantizes (cpu target), stays close to its float logits, shrinks to
// about a quarter, and every Conv runs as an integer kernel in onnxruntime.
for (const [name, arch] of Object.entries(ARCHITECTURES)) {
  test(`architecture ${name} quantizes into fused integer kernels`, async () => {
    const model = arch.build({ seed: 1 });
    randomizeStats(model, 5);
    const fp32 = writeModelMetadata(convertLayersModel(model).bytes, { arch: name, classes: [...FASHION_MNIST_CLASSES], preprocessing: DEFAULT_PREPROCESSING });
    model.dispose();
    const q = await quantizeModel(fp32, randomImages(16, 3), { target: 'cpu' });
    assert.ok(q.bytes.length < 0.35 * fp32.length, `${q.bytes.length} vs ${fp32.length}`);
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-qa-'));
    try {
      const optimized = join(dir, 'o.onnx');
      const s = await createOnnxSession(q.bytes, { optimizedModelFilePath: optimized });
      const f = await createOnnxSession(fp32);
      const x = randomImages(8, 8);
      const a = (await s.run(x, 8)).logits;
      const b = (await f.run(x, 8)).logits;
      await s.close();
      await f.close();
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
        scale = Math.max(scale, Math.abs(b[i]));
      }
      assert.ok(diff / scale < 0.15, `relative logit error ${diff / scale}`);
      const floatConvs = decodeModel(fp32).graph!.node!.filter((n) => n.opType === 'Conv').length;
      const ops = decodeModel(await readFile(optimized)).graph!.node!.map((n) => n.opType);
      assert.equal(ops.filter((o) => o === 'QLinearConv').length, floatConvs, `every Conv fused: ${ops.join(' ')}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
