import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classificationMetrics } from '../../training/eval/metrics.ts';
import { pickMisclassified, reportMarkdown, writeTrainReport, type TrainReport } from '../../training/trainer/report.ts';
import { resolveConfig } from '../../training/trainer/config.ts';

const classNames = ['a', 'b', 'c'];

function sampleReport(): TrainReport {
  const truth = [0, 0, 1, 1, 2, 2];
  const pred = [0, 1, 1, 1, 2, 0];
  return {
    arch: 'mlp', description: 'd', source: 's', parameters: 1234, macs: 5678,
    backend: { name: 'cpu', description: 'cpu (test)' },
    config: { ...resolveConfig({ arch: 'mlp' }), classNames },
    classNames,
    data: { source: 'synthetic', train: 6, val: 0, test: 6 },
    wallTimeSeconds: 2, trainSeconds: 1, samplesPerSec: 6, epochsRun: 2, stoppedEarly: false, bestEpoch: null, resumed: false,
    history: [
      { epoch: 1, loss: 1, acc: 0.5, valLoss: null, valAcc: null, lr: 0.1, seconds: 0.5, samplesPerSec: 12 },
      { epoch: 2, loss: 0.5, acc: 0.7, valLoss: null, valAcc: null, lr: 0.1, seconds: 0.5, samplesPerSec: 12 },
    ],
    test: classificationMetrics(truth, pred, classNames),
    plots: [],
    createdAt: '2026-01-01T00:00:00Z',
  };
}

test('pickMisclassified returns only wrong predictions, spread over the set, with their pixels', () => {
  const labels = [0, 1, 2, 3, 4, 5, 6, 7];
  const predicted = [0, 0, 2, 0, 4, 0, 6, 0];
  const images = Uint8Array.from({ length: 8 * 784 }, (_, i) => Math.floor(i / 784));
  const wrong = pickMisclassified(images, labels, predicted, 2);
  assert.deepEqual(wrong.map((w) => w.index), [1, 5]);
  assert.equal(wrong[1].pixels[0], 5);
  assert.equal(wrong[1].trueLabel, 5);
  assert.equal(wrong[1].predicted, 0);
  assert.equal(pickMisclassified(images, labels, labels).length, 0);
});

test('report.md carries the summary, the classification report, history and confusion matrix', () => {
  const md = reportMarkdown(sampleReport());
  assert.match(md, /test accuracy \| \*\*66\.67%\*\* \(6 images\)/);
  assert.match(md, /\| macro avg \|/);
  assert.match(md, /\| 2 \| 0\.5000 \| 0\.7000 \|/);
  assert.match(md, /\| 0 a \| 1 \| 1 \| 0 \|/);
});

test('writeTrainReport writes report.json, report.md and the plots', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'el-report-'));
  const r = sampleReport();
  const wrong = pickMisclassified(new Uint8Array(6 * 784).fill(128), [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]);
  const full = await writeTrainReport(dir, r, wrong);
  const json = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
  assert.equal(json.test.accuracy, r.test.accuracy);
  assert.deepEqual(json.test.confusion, r.test.confusion);
  assert.equal(json.arch, 'mlp');
  assert.deepEqual(json.classNames, classNames);
  for (const f of ['learning-curves.png', 'confusion-matrix.png', 'misclassified.png']) {
    assert.ok(full.plots.includes(f), f);
    assert.ok(existsSync(join(dir, f)), f);
  }
  assert.match(await readFile(join(dir, 'report.md'), 'utf8'), /!\[misclassified\.png\]\(misclassified\.png\)/);
});
