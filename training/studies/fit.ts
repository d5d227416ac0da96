import type * as tf from '@tensorflow/tfjs';
import type { Logger } from '../../src/log.ts';
import { getArchitecture } from '../arch/index.ts';
import type { ImageSet } from '../data/dataset.ts';
import { runTrainingLoop, type LoopResult } from '../trainer/loop.ts';
import { makeOptimizer } from '../trainer/optim.ts';
import { ProgressLine } from '../trainer/progress.ts';
import type { TrainConfig } from '../trainer/types.ts';

/**
 * One model trained in memory with the trainer's loop (same recipe handling, augmentation,
 * schedules, seeded dropout and early stopping as `edgeloom train`), for the studies' commands that
 * train many models: `cv` (one per fold) and `search` (one per setting and fold).
 */
export interface FitInput {
  config: TrainConfig;
  train: ImageSet;
  val: ImageSet | null;
  log: Logger;
  shouldStop: () => boolean;
  /** Live progress line on stderr (default true). */
  progress?: boolean;
}

export async function fitModel(input: FitInput): Promise<{ model: tf.LayersModel; result: LoopResult }> {
  const { config } = input;
  const model = getArchitecture(config.arch).build({ seed: config.seed, numClasses: config.classNames.length, ...(config.settings ?? {}) });
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  try {
    const result = await runTrainingLoop({
      model, optimizer, config, train: input.train, val: input.val, log: input.log, shouldStop: input.shouldStop,
      progress: new ProgressLine(process.stderr, input.progress === false ? 'epochs' : 'auto'),
    });
    return { model, result };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
  }
}

/**
 * Runs `fn` with Ctrl-C / SIGTERM turned into a polite stop (finish the batch, return), as
 * `edgeloom train` does; the listeners are removed afterwards.
 */
export async function withStopSignals<T>(fn: (shouldStop: () => boolean) => Promise<T>, what: string): Promise<T> {
  let stop = false;
  const onSignal = (signal: NodeJS.Signals) => {
    stop = true;
    process.stderr.write(`\n${signal === 'SIGINT' ? 'interrupt' : signal}: finishing the current batch; ${what}\n`);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(() => stop);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
