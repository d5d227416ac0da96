import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { selectBackend } from '../../training/backend/index.ts';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import type { OrtTrainingStep } from '../../training/ort/step.ts';
import { runTrainingLoop, type LoopState } from '../../training/trainer/loop.ts';
import { loadCheckpoint, saveRunCheckpoint } from '../../training/trainer/checkpoint.ts';
import { makeOptimizer } from '../../training/trainer/optim.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { startOrtTraining } from '../../training/trainer/ort-step.ts';
import type { TrainConfig } from '../../training/trainer/types.ts';
import { bands } from './bands.ts';

before(async () => {
  await selectBackend('auto');
});

const classNames = [...FASHION_MNIST_CLASSES];

/**
 * The training loop on the onnxruntime step (edgenet: BatchNorm, residual blocks, dropout), with
 * a checkpoint callback that saves what train.ts saves for an ort run.
 */
async function train(config: TrainConfig, stopAfter: number | null, out: string, resume?: Awaited<ReturnType<typeof loadCheckpoint>>,
  onEpoch?: (model: tf.LayersModel, epoch: number) => void) {
  const model = resume?.model ?? ARCHITECTURES[config.arch].build({ seed: config.seed });
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  const ort: OrtTrainingStep = await startOrtTraining(model, config, resume?.optimizerWeights);
  let batches = 0;
  try {
    const result = await runTrainingLoop({
      model, optimizer, config, ort, train: bands(96, 8), val: null,
      resume: resume?.state as LoopState | undefined,
      bestWeights: resume?.bestWeights ?? null,
      shouldStop: () => stopAfter !== null && ++batches >= stopAfter,
      onCheckpoint: async (state, best) => {
        onEpoch?.(model, state.epoch);
        await saveRunCheckpoint(out, model, optimizer, ort, best, state);
      },
    });
    return { result, model };
  } finally {
    await ort.close();
    optimizer.dispose();
  }
}

const values = (model: tf.LayersModel) => model.getWeights().map((t) => [...t.dataSync()]);

for (const optimizer of ['sgd', 'adam'] as const) {
  test(`--backend ort (${optimizer}, weight decay, dropout): Ctrl-C mid-epoch checkpoints; resuming reproduces the uninterrupted run exactly`, async () => {
    const config = { ...resolveConfig({ arch: 'edgenet', epochs: 2, batchSize: 32, optimizer, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, seed: 4, augment: 'flip' }), classNames };
    const [outA, outB] = [await mkdtemp(join(tmpdir(), 'el-ort-a-')), await mkdtemp(join(tmpdir(), 'el-ort-b-'))];
    const a = await train(config, null, outA);
    assert.equal(a.result.history.length, 2);
    const b1 = await train(config, 2, outB);
    assert.equal(b1.result.interrupted, true);
    b1.model.dispose();
    const ckpt = await loadCheckpoint(outB);
    assert.deepEqual([ckpt.state.epoch, ckpt.state.batch], [0, 2]);
    const b2 = await train(config, null, outB, ckpt);
    assert.equal(b2.result.interrupted, false);
    assert.deepEqual(b2.result.history.map((h) => h.loss), a.result.history.map((h) => h.loss));
    assert.deepEqual(values(b2.model), values(a.model));
    a.model.dispose();
    b2.model.dispose();
  });
}

test('--backend ort with --freeze-epochs: the head alone trains first (in tfjs), then the whole model on onnxruntime from there', async () => {
  // --freeze-epochs needs --init on the command line; the loop only reads the setting.
  const config = { ...resolveConfig({ arch: 'edgenet', epochs: 2, batchSize: 32, optimizer: 'adam', lr: 0.003, seed: 5, augment: 'none' }), freezeEpochs: 1, classNames };
  const initial = ARCHITECTURES.edgenet.build({ seed: config.seed });
  const byLayer = (model: tf.LayersModel) => model.layers.flatMap((l) => l.trainableWeights.map((w) => ({ head: l.name === 'logits', values: w.read().dataSync() })));
  const snapshots: { head: boolean; changed: boolean }[][] = [];
  const reference = byLayer(initial);
  const { model } = await train(config, null, await mkdtemp(join(tmpdir(), 'el-ort-freeze-')), undefined, (m) => {
    snapshots.push(byLayer(m).map((w, i) => ({ head: w.head, changed: w.values.some((v, j) => v !== reference[i].values[j]) })));
  });
  assert.equal(snapshots.length, 2);
  assert.ok(snapshots[0].every((w) => w.changed === w.head), 'after the frozen epoch exactly the head has moved');
  assert.ok(snapshots[1].every((w) => w.changed), 'after the second epoch every weight has moved');
  initial.dispose();
  model.dispose();
});
