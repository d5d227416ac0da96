import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkParity, exportToOnnx, metadataFromModelDir, metadataFromTrainReport, parityImagesFromTestSet, runExport } from '../../training/onnx/export.ts';
import { saveTfjsModel } from '../../training/model/io.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { useCpuBackend } from './helpers.ts';
import { images, selector } from './selector-model.ts';

before(useCpuBackend);

// Logits of the plain selector A = 2*(x0,x1,x2); of the swapped one B = 2*(x1,x0,x2). Top-1 (first
// maximum): row 0 ties at 0 in both (class 0, agree); row 1 A=0 B=1; row 2 A=1 B=0; rows 3, 4 both 2.
const ROWS: [number, number, number][] = [[0, 0, 0], [1, 0, 0], [0.25, 0.75, 0], [0, 0, 1], [0.125, 0, 0.5]];

test('checkParity: top-1 agreement, max difference and relative error of a deliberately different model', async () => {
  const { bytes } = await exportToOnnx(selector(false));
  const r = await checkParity(selector(true), bytes, images(ROWS), 'logits', 'embedding', 10);
  assert.equal(r.images, 5);
  assert.equal(r.top1Agreement, 3 / 5);
  // Largest |A - B|: row 1, (2,0,0) vs (0,2,0) -> 2; largest |B| is 2.
  assert.equal(r.maxAbsDiffLogits, 2);
  assert.equal(r.logitScale, 2);
  assert.equal(r.relativeError, 1);
  assert.equal(r.maxAbsDiffEmbedding, 0, 'both share the embedding layer');
  assert.equal(r.tolerance, 10);
  await assert.rejects(checkParity(selector(true), bytes, images(ROWS), 'logits', 'embedding', 0.5),
    (err: Error) => err.message === 'export parity check failed: max |logit difference| 2.000e+0 is 1.000e+0 of the logit scale 2.000 (tolerance 0.5)');
});

test('checkParity: an exact match passes a zero tolerance', async () => {
  const model = selector(false);
  const { bytes } = await exportToOnnx(model);
  // Row 1 (logits 0,2,1) after a row of zeros: its maximum is class 1, not a later class that is
  // only larger than the previous row's last logit.
  const r = await checkParity(model, bytes, images([[0, 0, 0], [0, 1, 0.5], ...ROWS.slice(1)]), 'logits', 'embedding', 0);
  assert.equal(r.relativeError, 0);
  assert.equal(r.top1Agreement, 1);
});

test('exportToOnnx: default class names, no parity without input, metadata overrides named in contract errors', async () => {
  const three = await exportToOnnx(selector(false));
  assert.equal(three.parity, null);
  assert.equal(three.numClasses, 3);
  assert.equal(three.embeddingSize, 3);
  assert.deepEqual(parseModelMetadata(three.bytes)?.classes, ['class 0', 'class 1', 'class 2']);
  assert.equal(parseModelMetadata(three.bytes)?.arch, 'selector');
  const ten = await exportToOnnx(selector(false, 10));
  assert.deepEqual(parseModelMetadata(ten.bytes)?.classes, [...FASHION_MNIST_CLASSES]);
  await assert.rejects(exportToOnnx(selector(false), { metadata: { arch: 'mini', classes: ['a', 'b'] } }),
    /^UserError: mini\.onnx: metadata edgeloom\.classes lists 2 classes but output `logits` has 3$/);
  await assert.rejects(exportToOnnx(selector(false), { metadata: { arch: undefined, classes: ['a', 'b'] } }), /^UserError: model\.onnx: metadata edgeloom\.classes lists 2/);
});

test('metadataFromTrainReport: report fields over model.json metadata, wrong types ignored', () => {
  assert.deepEqual(metadataFromTrainReport(null, null), {});
  assert.deepEqual(metadataFromTrainReport(null, {}), {});
  assert.deepEqual(metadataFromTrainReport(null, { arch: 'own', classNames: ['x', 'y'] }), { arch: 'own', classes: ['x', 'y'] });
  const full = {
    arch: 'rep', config: { epochs: 2 }, classNames: ['p', 'q'], createdAt: '2026-01-01T00:00:00Z',
    test: { accuracy: 0.5, count: 10, macro: { f1: 0.4 }, weighted: { f1: 0.45 } },
  };
  const meta = metadataFromTrainReport(full, { arch: 'own', classNames: ['x'] });
  assert.deepEqual(meta, {
    arch: 'rep', recipe: { epochs: 2 }, classes: ['p', 'q'],
    metrics: { split: 'test', accuracy: 0.5, macroF1: 0.4, weightedF1: 0.45, count: 10, trainedAt: '2026-01-01T00:00:00Z' },
  });
  assert.notEqual(meta.classes, full.classNames, 'a copy, not the report\'s array');
  const wrong = { arch: 5, config: 'epochs=2', test: { count: 3 }, classNames: ['a', 1] } as unknown as Parameters<typeof metadataFromTrainReport>[0];
  assert.deepEqual(metadataFromTrainReport(wrong, { arch: 'own', classNames: ['x'] }), { arch: 'own', classes: ['x'] });
  assert.deepEqual(metadataFromTrainReport({ config: null, test: { accuracy: 0.7 } } as unknown as Parameters<typeof metadataFromTrainReport>[0], null), {
    metrics: { split: 'test', accuracy: 0.7, macroF1: undefined, weightedF1: undefined, count: undefined, trainedAt: undefined },
  });
});

test('metadataFromModelDir: model.json metadata alone, with report.json, and a broken report.json', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-export-edges-'));
  try {
    await saveTfjsModel(selector(false), dir, { arch: 'own-arch', classNames: ['a', 'b', 'c'] });
    assert.deepEqual(await metadataFromModelDir(dir), { arch: 'own-arch', classes: ['a', 'b', 'c'] });
    await writeFile(join(dir, 'report.json'), JSON.stringify({ arch: 'rep-arch', config: { epochs: 1 } }));
    assert.deepEqual(await metadataFromModelDir(dir), { arch: 'rep-arch', classes: ['a', 'b', 'c'], recipe: { epochs: 1 } });
    await writeFile(join(dir, 'report.json'), '{"arch": ');
    await assert.rejects(metadataFromModelDir(dir), (err: Error) => err instanceof UserError && err.message === `${join(dir, 'report.json')}: not valid JSON`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('runExport: refuses a --model that is missing or a file, with one line naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-export-edges-'));
  try {
    const file = join(dir, 'model.json');
    await writeFile(file, '{}');
    for (const model of [join(dir, 'missing'), file]) {
      await assert.rejects(runExport({ model, out: join(dir, 'x.onnx') }),
        (err: Error) => err instanceof UserError && err.message === `--model ${model}: not a directory (expected a tfjs model directory with model.json)`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('parityImagesFromTestSet: draws from the data spec it is given, not from Fashion-MNIST', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-export-edges-'));
  try {
    const missing = join(dir, 'missing.csv');
    await assert.rejects(parityImagesFromTestSet(4, 7, { data: `csv:${missing}`, seed: 1 }), (err: Error) => err instanceof UserError && err.message.startsWith(`${missing}: file not found`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
