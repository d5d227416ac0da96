import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runQuantize } from '../../training/quantize/run.ts';
import { subset, type ImageSet } from '../../training/data/dataset.ts';
import { stratifiedSample } from '../../training/data/split.ts';
import { profileOrStrip } from '../../training/drift/profile-model.ts';
import { sidecarPath } from '../../src/drift/profile.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { UserError } from '../../src/errors.ts';
import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';
import { tinyModel, writeTinyQuantizeInputs } from './tiny.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { predictedClasses } from '../helpers/onnx-run.ts';

/**
 * Edges of `edgeloom quantize` (training/quantize/run.ts) that run.test.ts leaves open (the mutation
 * run's survivors, docs/testing.md): a model with a drift profile gets one for its int8 outputs, a
 * model without one gets none and no warning, the check's agreement and its own sample, the
 * data-class mismatch naming the model. 80 training images: a drift profile needs at least 50.
 */
let dir: string;
let data: string;
let testSet: ImageSet;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'el-qrun-edges-'));
  ({ data, test: testSet } = await writeTinyQuantizeInputs(dir, 80));
});
after(() => rm(dir, { recursive: true, force: true }));

test('a model without a drift profile: none made, no drift or embedding warning, lines under [quantize]', async () => {
  const out = join(dir, 'plain.int8.onnx');
  const { lines } = await captureLog(() => runQuantize({ model: join(dir, 'tiny.onnx'), out, data, checkSize: 0 }));
  const log = lines.join('');
  assert.doesNotMatch(log, /\[drift\]|warn/, log);
  assert.match(log, / \[quantize\] calibrating on 80 training images/);
  assert.equal(parseModelMetadata(await readFile(out))?.driftReference, undefined);
  assert.ok(!existsSync(sidecarPath(out)));
});

test('a model with a drift profile: the int8 model gets its own, on the same reference images, with its sidecar', async () => {
  const fp32 = await profileOrStrip(tinyModel(), 'tiny', undefined, 50, data);
  assert.ok(fp32.profile, 'the float model is profiled');
  const model = join(dir, 'profiled.onnx');
  await writeFile(model, fp32.bytes);
  const out = join(dir, 'profiled.int8.onnx');
  await runQuantize({ model, out, data, checkSize: 0 });
  const meta = parseModelMetadata(await readFile(out));
  const ref = meta?.driftReference as { source: unknown } | undefined;
  assert.deepEqual(ref?.source, fp32.profile.source);
  assert.ok(existsSync(sidecarPath(out)), 'sidecar written');
});

test('the check: agreement counts the images both models label alike, on a sample drawn with seed + 1', async () => {
  // One calibration image gives ranges that clip other images: some int8 predictions move.
  const out = join(dir, 'rough.int8.onnx');
  const r = await runQuantize({ model: join(dir, 'tiny.onnx'), out, data, calibrationSize: 1, method: 'minmax', checkSize: 10 });
  const sample = subset(testSet, stratifiedSample(testSet.labels, 10, 10, QUANTIZE_DEFAULTS.calibrationSeed + 1));
  const a = await predictedClasses(new Uint8Array(await readFile(join(dir, 'tiny.onnx'))), sample);
  const b = await predictedClasses(new Uint8Array(await readFile(out)), sample);
  const rate = (f: (i: number) => boolean) => a.filter((_, i) => f(i)).length / a.length;
  assert.deepEqual(r.check, {
    images: 10,
    fp32Accuracy: rate((i) => a[i] === sample.labels[i]),
    int8Accuracy: rate((i) => b[i] === sample.labels[i]),
    agreement: rate((i) => a[i] === b[i]),
  });
  const all = await runQuantize({ model: join(dir, 'tiny.onnx'), out, data, calibrationSize: 1, method: 'minmax', checkSize: 20 });
  assert.ok(all.check && all.check.agreement < 1, `some predictions differ: ${JSON.stringify(all.check)}`);
});

test('data whose classes are not the model\'s: the refusal names --model and the file', async () => {
  const model = join(dir, 'renamed.onnx');
  const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
  await writeFile(model, tinyModel({ metadata: { classes } }));
  await assert.rejects(runQuantize({ model, out: join(dir, 'renamed.int8.onnx'), data, checkSize: 0 }),
    (e: Error) => e instanceof UserError && e.message.startsWith(`--model ${model}: the model's 10 classes (${classes.join(', ')}) are not the 10 classes of ${data} (`));
  assert.ok(!existsSync(join(dir, 'renamed.int8.onnx')));
});
