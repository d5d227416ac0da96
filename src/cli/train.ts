import type { Command } from 'commander';

/** `edgeloom train` (owned by the training module). */
export function registerTrainCommands(_program: Command): void {}
