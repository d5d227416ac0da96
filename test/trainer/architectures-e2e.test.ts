import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { parseDriftReference } from '../../src/drift/profile.ts';
import { MAX_OOD_DIMENSIONS } from '../../src/drift/projection.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';

// Every architecture, one small epoch, all the way to model.int8.onnx with its drift profile. The
// timeout is a hang detector, not a speed target: before the profile projected wide embeddings,
// customnet spent 13+ minutes and 1.2 GB in "exporting ONNX" (its embedding is 6,272 wide).
for (const name of Object.keys(ARCHITECTURES)) {
  test(`train --arch ${name}: one small epoch ends with model.onnx and model.int8.onnx, both profiled`, { timeout: 600_000 }, async () => {
    const out = await mkdtemp(join(tmpdir(), `el-arch-${name}-`));
    try {
      const r = await edgeloom(['train', '--arch', name, '--epochs', '1', '--limit', '100', '--batch-size', '50', '--test-limit', '100', '--reference-size', '200', '--no-progress', '--json',
        '--out', out]);
      assert.equal(r.code, 0, r.stderr.split('\n').slice(-5).join('\n'));
      const summary = JSON.parse(r.stdout);
      assert.ok(summary.onnx?.int8, 'int8 model written');
      assert.equal(summary.onnx.int8.test.count, 100, '--test-limit evaluates 100 images');
      for (const file of ['model.onnx', 'model.int8.onnx']) {
        const path = join(out, file);
        const meta = await readModelMetadata(path);
        const profile = parseDriftReference(meta?.driftReference, path);
        assert.equal(profile.source.count, 200, `${file}: --reference-size`);
        const session = await createOnnxSession(path);
        const width = (await session.run(new Float32Array(784).fill(0.3), 1)).embeddingSize;
        await session.close();
        assert.ok(profile.ood, `${file}: OOD reference present`);
        assert.ok(profile.ood.embeddingSize <= MAX_OOD_DIMENSIONS, `${file}: statistics in at most ${MAX_OOD_DIMENSIONS} dimensions`);
        if (width > MAX_OOD_DIMENSIONS) assert.equal(profile.ood.projection?.inputSize, width, `${file}: the ${width}-wide embedding is projected`);
        else assert.equal(profile.ood.projection, undefined, `${file}: a ${width}-wide embedding is used as it is`);
        // The sidecar is the profile: its size is bounded by the projected width, not the model's.
        assert.ok((await stat(`${path}.drift.json`)).size < 400_000, `${file}: profile size`);
      }
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      assert.equal(report.data.test, 100);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
}
