import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExport } from '../../training/onnx/export.ts';
import { saveTfjsModel } from '../../training/model/io.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { useCpuBackend } from './helpers.ts';
import { selector } from './selector-model.ts';

// In-process runExport (Fashion-MNIST parity images + drift profile): ~4 s, so apart from export-edges.
before(useCpuBackend);

test('runExport: a model directory without edgeloom metadata is named after the model, its report recipe kept; 64 parity images by default', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-export-edges-'));
  try {
    const modelDir = join(dir, 'run');
    await saveTfjsModel(selector(false, 10, 'sel10'), modelDir);
    await writeFile(join(modelDir, 'report.json'), JSON.stringify({ config: { epochs: 1 } }));
    const out = join(dir, 'm.onnx');
    const r = await runExport({ model: modelDir, out });
    assert.equal(r.out, out);
    assert.equal(r.arch, 'sel10');
    assert.equal(r.numClasses, 10);
    assert.equal(r.embeddingSize, 3);
    assert.equal(r.parity?.images, 64);
    assert.equal(r.bytes, (await readFile(out)).length);
    const meta = await readModelMetadata(out);
    assert.equal(meta?.arch, 'sel10');
    assert.deepEqual(meta?.recipe, { epochs: 1 });
    assert.equal((await runExport({ model: modelDir, out: join(dir, 'n.onnx'), parityImages: 0 })).parity, null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
