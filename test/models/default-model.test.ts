/**
 * The shipped default model, checked the way an independent harness would: only the model contract
 * (input `input` = pixel/255 NCHW, output `logits`) and onnxruntime, plus the agent's own path from a
 * camera-like frame through sharp. The card's numbers must be what the file measures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { parseModelMetadata, writeModelMetadata } from '../../src/onnx/metadata.ts';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { argmaxRows } from '../../training/eval/metrics.ts';
import { loadTestSet } from '../../training/eval/evaluate.ts';
import { imageAt } from '../../training/data/dataset.ts';
import { synthesizeFrame } from '../preprocess/synth.ts';

const MODEL = new URL('../../models/default.onnx', import.meta.url).pathname;
const CARD = new URL('../../models/default.json', import.meta.url).pathname;

interface Card {
  sha256: string;
  bytes: number;
  test: { accuracy: number };
  parent?: { file: string; accuracy: number; sizeRatio: number };
}

const bytes = await readFile(MODEL);
const card = JSON.parse(await readFile(CARD, 'utf8')) as Card;
// The fp32 model the default was quantized from, as its card names it.
const PARENT = new URL(`../../models/${card.parent?.file ?? 'missing-parent.onnx'}`, import.meta.url).pathname;

test('default model follows the contract and its card describes this very file', () => {
  const contract = validateModelContract(bytes, MODEL);
  assert.equal(contract.numClasses, 10);
  assert.ok((contract.embeddingSize ?? 0) > 0, "the model has an embedding output");
  assert.equal(createHash('sha256').update(bytes).digest('hex'), card.sha256);
  assert.equal(bytes.length, card.bytes);
});

test('default model meets the targets on the full official test set (plain onnxruntime harness)', async () => {
  const testSet = await loadTestSet();
  const session = await createOnnxSession(bytes, { ep: 'cpu' });
  const predicted = new Int32Array(testSet.count);
  const batch = 500;
  for (let start = 0; start < testSet.count; start += batch) {
    const n = Math.min(batch, testSet.count - start);
    const input = toModelInput(testSet.images.subarray(start * IMAGE_PIXELS, (start + n) * IMAGE_PIXELS));
    const { logits } = await session.run(input, n);
    predicted.set(argmaxRows(logits, 10), start);
  }
  await session.close();
  let correct = 0;
  for (let i = 0; i < testSet.count; i++) if (predicted[i] === testSet.labels[i]) correct++;
  const accuracy = correct / testSet.count;
  assert.ok(Math.abs(accuracy - card.test.accuracy) < 1e-4, `card says ${card.test.accuracy}, measured ${accuracy}`);
  assert.ok(accuracy >= 0.925, `int8 test accuracy ${accuracy} is below the 92.5% target`);
  assert.ok(card.parent, 'the card names the fp32 parent');
  assert.ok(card.parent.accuracy - accuracy <= 0.005, `int8 is ${((card.parent.accuracy - accuracy) * 100).toFixed(2)} points below fp32`);
});

test('the int8 file is at most 30% of the fp32 file, drift profiles included; so are its weights alone', async () => {
  const parent = await readFile(PARENT);
  const fileRatio = bytes.length / parent.length;
  assert.ok(fileRatio <= 0.3, `int8 file is ${(fileRatio * 100).toFixed(1)}% of the fp32 file`);
  const strip = (b: Uint8Array) => writeModelMetadata(b, { ...(parseModelMetadata(b) ?? {}), driftReference: undefined }).length;
  const weightsRatio = strip(bytes) / strip(parent);
  assert.ok(weightsRatio < fileRatio, `without the (equal-sized) profiles the ratio is lower: ${weightsRatio.toFixed(3)}`);
  assert.ok(Math.abs(fileRatio - (card.parent?.sizeRatio ?? 0)) < 1e-3, 'the card records the whole-file ratio');
});

test('camera-like frames (dark garment on a light noisy table, off-centre, JPEG) classify nearly as well as clean images', async () => {
  const sample = await loadTestSet(300, 11);
  const session = await createOnnxSession(bytes, { ep: 'cpu', intraOpThreads: 1 });
  const clean = argmaxRows((await session.run(toModelInput(sample.images), sample.count)).logits, 10);
  const frames = new Uint8Array(sample.count * IMAGE_PIXELS);
  for (let i = 0; i < sample.count; i++) {
    const jpeg = await synthesizeFrame(imageAt(sample, i), { seed: i, centerX: 0.35 + (i % 7) * 0.05, garmentSize: 130 + (i % 5) * 15 });
    frames.set((await preprocessImage(jpeg, { invert: 'auto' })).pixels, i * IMAGE_PIXELS);
  }
  const viaCamera = argmaxRows((await session.run(toModelInput(frames), sample.count)).logits, 10);
  await session.close();
  const acc = (p: Int32Array) => p.reduce((s, c, i) => s + (c === sample.labels[i] ? 1 : 0), 0) / sample.count;
  const cleanAcc = acc(clean);
  const cameraAcc = acc(viaCamera);
  assert.ok(cameraAcc >= cleanAcc - 0.06, `camera frames ${cameraAcc} vs clean ${cleanAcc}`);
});
