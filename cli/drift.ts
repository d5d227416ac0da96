import { Option, type Command } from 'commander';
import { UserError } from '../src/errors.ts';
import { action, parseFloatOption, parseIntOption, printResult } from './output.ts';
import { loadTraining } from './training.ts';
import { FINITE_SOURCE_SPEC_HELP } from '../device/sources/spec.ts';

interface DriftCliOptions {
  model?: string;
  source?: string;
  window: number;
  mode: 'tumbling' | 'sliding';
  stride?: number;
  falseAlarmRate: number;
  invert: 'auto' | 'always' | 'never';
  out?: string;
  reference: 'auto' | 'val' | 'train';
  size: number;
  seed: number;
  data?: string;
  json?: boolean;
}

/**
 * `edgeloom drift --model M --source SPEC`: replays a finite frame source through the agent's
 * preprocessing, model and drift monitor (device-side code only, never tfjs).
 * `edgeloom drift profile --model M`: computes the model's reference profile (training-side).
 * One command with an optional action word, so both share `--model` without commander's
 * parent/subcommand option clash.
 */
export function registerDriftCommands(program: Command): void {
  program.command('drift')
    .description('Drift monitoring: replay images through the model and the drift monitor, or (`drift profile`) store a reference profile in a model')
    .argument('[action]', '"profile" to compute and store the reference profile; omit to replay --source')
    .option('--model <file.onnx>', 'ONNX model (replay: with a drift reference in its metadata or <model>.drift.json)')
    .option('--source <spec>', `replay: finite frame source ${FINITE_SOURCE_SPEC_HELP}`)
    .option('--window <n>', 'replay: frames per window', parseIntOption('--window'), 200)
    .addOption(new Option('--mode <mode>', 'replay: tumbling (disjoint windows) or sliding (a report every --stride frames)').choices(['tumbling', 'sliding']).default('tumbling'))
    .option('--stride <n>', 'replay, sliding mode: frames between reports (default window/4)', parseIntOption('--stride'))
    .option('--false-alarm-rate <p>', 'replay: per-window false-alarm budget of a drift-free stream, split over the metrics', parseFloatOption('--false-alarm-rate'), 0.002)
    .addOption(new Option('--invert <mode>', 'replay: preprocessing polarity, as the agent camera option').choices(['auto', 'always', 'never']).default('auto'))
    .option('--out <file.onnx>', 'profile: write the profiled model here (default: replace --model)')
    .addOption(new Option('--reference <set>', 'profile: val = the validation split of the training recipe; train = a stratified training sample (models trained without --val-split); auto = val ' +
      'when there is one').choices(['auto', 'val', 'train']).default('auto'))
    .option('--size <n>', 'profile: at most this many reference images (stratified)', parseIntOption('--size'), 5000)
    .option('--seed <n>', 'profile: seed of the reference sample', parseIntOption('--seed'), 1)
    .option('--data <spec>', 'profile: data of the reference images (default: the data the model was trained on, from its recipe)')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', `
Examples:
  $ edgeloom drift profile --model models/cnn.onnx
  $ edgeloom drift profile --model cnn.int8.onnx --reference train --size 2000 --json
  $ edgeloom drift --model models/cnn.int8.onnx --source dir:./captures
  $ edgeloom drift --model models/cnn.onnx --source dir:./captures --window 100 --mode sliding --json`)
    .action(action(async (act: string | undefined, opts: DriftCliOptions) => {
      if (!opts.model) throw new UserError('--model: required (the ONNX model)');
      if (act === 'profile') {
        const { runDriftProfile } = await loadTraining(() => import('../training/drift/profile-model.ts'));
        const r = await runDriftProfile({ model: opts.model, out: opts.out, reference: opts.reference, size: opts.size, seed: opts.seed, data: opts.data });
        printResult(opts.json, r, () => `wrote ${r.model} and ${r.sidecar} (profile ${(r.profileBytes / 1024).toFixed(1)} KiB)\nreference: ${r.source.count} images, ${r.source.note}\ntemperature ` +
          `${r.temperature.toFixed(3)}, reference accuracy ${(r.referenceAccuracy * 100).toFixed(2)}%, OOD threshold ${r.oodThreshold?.toFixed(2) ?? '-'} (embedding ${r.embeddingSize})`);
        return;
      }
      if (act !== undefined) throw new UserError(`drift ${act}: unknown action (expected "profile", or none to replay --source)`);
      if (!opts.source) throw new UserError('--source: required (e.g. dir:./captures)');
      const { runDriftReplay, formatDriftReplay } = await import('../device/drift-replay.ts');
      const r = await runDriftReplay({ model: opts.model, source: opts.source, window: opts.window, mode: opts.mode, stride: opts.stride, falseAlarmRate: opts.falseAlarmRate, invert: opts.invert });
      printResult(opts.json, r, () => formatDriftReplay(r));
    }));
}
