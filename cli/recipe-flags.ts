import type { Command } from 'commander';
import { parseFloatOption, parseIntOption } from './output.ts';

/**
 * The optimisation flags of a training recipe, shared by `train`, `cv` and `search` so that each
 * is declared, parsed and described once (unset: the architecture's own recipe).
 */
export function addOptimizerOptions(cmd: Command): Command {
  return cmd
    .option('--epochs <n>', 'epochs (per model for cv and search)', parseIntOption('--epochs'))
    .option('--batch-size <n>', 'mini-batch size', parseIntOption('--batch-size'))
    .option('--lr <x>', 'base (peak for one-cycle) learning rate', parseFloatOption('--lr'))
    .option('--optimizer <name>', 'sgd | adam | adagrad')
    .option('--momentum <x>', 'SGD momentum (0 = plain SGD)', parseFloatOption('--momentum'))
    .option('--schedule <name>', 'learning-rate schedule: constant | step | cosine | one-cycle')
    .option('--weight-decay <x>', 'decoupled weight decay on conv/dense kernels', parseFloatOption('--weight-decay'))
    .option('--label-smoothing <x>', 'label smoothing for the cross-entropy', parseFloatOption('--label-smoothing'));
}

/** `--backend` of every command that trains (train, cv, search, reproduce); the values are checked by training/trainer/ort-step.ts. */
export const TRAINING_BACKEND_HELP = 'auto | ort | node | wasm | cpu (auto: ort, or node when @tensorflow/tfjs-node is installed; see docs/backends.md)';
