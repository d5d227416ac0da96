import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { selectBackend } from '../../training/backend/index.ts';
import type { OrtTrainingStep } from '../../training/ort/step.ts';
import { loadCheckpoint, saveRunCheckpoint, type LoadedCheckpoint } from '../../training/trainer/checkpoint.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { runTrainingLoop, type LoopState } from '../../training/trainer/loop.ts';
import { makeOptimizer } from '../../training/trainer/optim.ts';
import { startOrtTraining } from '../../training/trainer/ort-step.ts';
import { bands } from './bands.ts';

/**
 * A checkpoint written on one back end resumes on the other with its optimiser state: `auto` now
 * trains on onnxruntime, so a run begun on wasm (an older edgeloom, or `--backend wasm`) and resumed
 * with `auto` continues on ort, and the reverse. The mlp has no dropout, so both back ends compute
 * the same run up to float32 rounding.
 */

before(async () => {
  await selectBackend('wasm');
});

const config = { ...resolveConfig({ arch: 'mlp', epochs: 2, batchSize: 16, optimizer: 'adam', lr: 0.003, schedule: 'constant', seed: 5 }), classNames: [...FASHION_MNIST_CLASSES] };
const data = bands(96, 3);

type Step = 'wasm' | 'ort' | 'ort-fresh-optimizer';

/** Trains until `epochs` on `step` (from `resume` when given), saving a checkpoint into `out` after each epoch as train.ts does. */
async function train(step: Step, epochs: number, out: string, resume?: LoadedCheckpoint) {
  const model = resume?.model ?? ARCHITECTURES.mlp.build({ seed: config.seed });
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  if (resume && step === 'wasm') await optimizer.setWeights(resume.optimizerWeights);
  const ort: OrtTrainingStep | null = step === 'wasm' ? null : await startOrtTraining(model, config, step === 'ort' ? resume?.optimizerWeights : undefined);
  try {
    const result = await runTrainingLoop({
      model, optimizer, ort, config: { ...config, epochs }, train: data, val: null,
      resume: resume?.state as LoopState | undefined,
      bestWeights: resume?.bestWeights ?? null,
      shouldStop: () => false,
      onCheckpoint: async (state, best) => {
        await saveRunCheckpoint(out, model, optimizer, ort, best, state);
      },
    });
    const weights = model.getWeights().map((t) => Float32Array.from(t.dataSync()));
    model.dispose();
    return { loss: result.history.at(-1)!.loss, weights };
  } finally {
    await ort?.close();
    optimizer.dispose();
  }
}

/** Largest absolute difference over every weight of two models. */
function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) d = Math.max(d, Math.abs(a[i][j] - b[i][j]));
  return d;
}

for (const first of ['wasm', 'ort'] as const) {
  const second = first === 'wasm' ? 'ort' : 'wasm';
  test(`a checkpoint written on ${first} resumes on ${second} with its Adam state: epoch 2 matches resuming on ${first}`, async () => {
    const out = await mkdtemp(join(tmpdir(), `el-across-${first}-`));
    await train(first, 1, out);
    const same = await train(first, 2, await mkdtemp(join(tmpdir(), 'el-across-same-')), await loadCheckpoint(out));
    const across = await train(second, 2, await mkdtemp(join(tmpdir(), 'el-across-other-')), await loadCheckpoint(out));
    const fresh = await train('ort-fresh-optimizer', 2, await mkdtemp(join(tmpdir(), 'el-across-fresh-')), await loadCheckpoint(out));
    assert.ok(Math.abs(across.loss - same.loss) <= 1e-4 * same.loss, `epoch-2 loss ${across.loss} on ${second}, ${same.loss} on ${first}`);
    const carried = maxDiff(across.weights, same.weights);
    const restarted = maxDiff(fresh.weights, same.weights);
    // Adam restarted from zero moments takes full-size steps again: the weights move far more than
    // float32 rounding between the two back ends does.
    assert.ok(carried < 1e-4, `weights differ by ${carried} across back ends`);
    assert.ok(restarted > 1000 * carried, `a fresh optimiser differs by ${restarted}, the carried state by ${carried}`);
  });
}
