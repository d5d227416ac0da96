import type { Command } from 'commander';

/** `edgeloom export | quantize | evaluate | compare` (owned by the ONNX module). */
export function registerModelCommands(_program: Command): void {}
