import type { Command } from 'commander';
import { action, parseIntOption, printResult } from './output.ts';
import { addForeignModelOptions } from './model.ts';
import { addModelDataOption } from './data.ts';
import { loadTraining } from './training.ts';

/** `edgeloom robustness`: the seed study's six input filters against a trained model. */
export function registerRobustnessCommands(program: Command): void {
  addModelDataOption(addForeignModelOptions(program.command('robustness')))
    .description('Accuracy, macro precision/recall/F1 and drop from clean under the study\'s input filters (cut, rotate, occlusion, contrast, blur, rain) at severities 1-5')
    .requiredOption('--model <path>', '.onnx file (fp32 or int8) or tfjs model directory')
    .option('--filters <list>', 'comma-separated filters (default: cut,rotate,occlusion,contrast,blur,rain)')
    .option('--severities <spec>', 'severities 1..5: "1-5", "3" or "1,3,5" (default 1-5)')
    .option('--split <name>', 'test (the test split of --data) or val (the validation split of the model\'s own training run, for choosing between models without the test set)', 'test')
    .option('--limit <n>', 'stratified subset of n images (default: the whole split)', parseIntOption('--limit'))
    .option('--seed <n>', 'seed of the subset and of the filters\' random choices', parseIntOption('--seed'), 1)
    .option('--out <dir>', 'write report.md, report.json, accuracy-vs-severity.png and examples.png here')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom robustness --model models/default.onnx --severities 3\n  $ edgeloom robustness --model cnn.int8.onnx --filters rotate,blur --limit 2000 --out ' +
      'robustness/cnn\n  $ edgeloom robustness --model runs/cnn --json\n  $ edgeloom robustness --model runs/robust-edgenet --split val --severities 3')
    .action(action(async (opts: { model: string; split: 'test' | 'val'; data?: string; filters?: string; severities?: string; limit?: number; seed: number; out?: string; json?: boolean }) => {
      const { runRobustness } = await loadTraining(() => import('../training/robustness/run.ts'));
      const { formatRobustness } = await loadTraining(() => import('../training/robustness/report.ts'));
      const r = await runRobustness(opts);
      printResult(opts.json, r, () => formatRobustness(r));
    }));
}
