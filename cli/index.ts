import { Command, CommanderError } from 'commander';
import { EDGELOOM_VERSION } from '../src/version.ts';
import { registerDataCommands } from './data.ts';
import { registerTrainCommands } from './train.ts';
import { registerModelCommands } from './model.ts';
import { registerDeviceCommands } from './device.ts';
import { registerDriftCommands } from './drift.ts';
import { registerRobustnessCommands } from './robustness.ts';
import { registerSigningCommands } from './signing.ts';
import { registerCollectCommands } from './collect.ts';
import { registerDashboardCommands } from './dashboard.ts';
import { registerStudiesCommands } from './studies.ts';
import { reportError } from './output.ts';

/**
 * The one place that wires training and device commands. Each command's module is imported inside
 * its action, so `edgeloom agent` on a board never loads TensorFlow.js.
 */
export function buildProgram(): Command {
  const program = new Command('edgeloom')
    .description('Train, export and run garment classifiers on edge devices (Fashion-MNIST, ONNX, MQTT).')
    .version(EDGELOOM_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `
Examples:
  $ edgeloom data info --json
  $ edgeloom data sprite --out sprite.png
  $ edgeloom data export --split test --format png --out ./test-images`);
  registerDataCommands(program);
  registerTrainCommands(program);
  registerModelCommands(program);
  registerDeviceCommands(program);
  registerDriftCommands(program);
  registerRobustnessCommands(program);
  registerSigningCommands(program);
  registerCollectCommands(program);
  registerDashboardCommands(program);
  registerStudiesCommands(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) {
    reportError(err);
    process.exitCode = 1;
  } else {
    process.exitCode = err.exitCode;
  }
}
