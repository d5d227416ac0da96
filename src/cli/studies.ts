import type { Command } from 'commander';
import { addModelDataOption } from './data.ts';
import { addForeignModelOptions } from './model.ts';
import { action, parseIntOption, printResult } from './output.ts';
import { loadTraining } from './training.ts';

/** The studies' experiments as commands (training/studies/): inspect, cv, search. */
export function registerStudiesCommands(program: Command): void {
  addModelDataOption(addForeignModelOptions(program.command('inspect')))
    .description('Look inside a model for one image: first-layer filters, the feature maps of every conv layer (one grid per layer) and, for tfjs models, a saliency map')
    .requiredOption('--model <path>', 'tfjs model directory or .onnx file (fp32 or int8; foreign models are adopted in memory)')
    .requiredOption('--out <dir>', 'output directory: input.png, filters.png, feature-maps-NN-LAYER.png, saliency.png, report.json, report.md')
    .option('--image <path>', 'an image file, preprocessed as the agent does (grayscale 28x28, background auto-inverted)')
    .option('--index <n>', 'image n of the test split of the model\'s data (default 0)', parseIntOption('--index'))
    .option('--max-channels <n>', 'filters and feature-map channels shown per layer (default 64)', parseIntOption('--max-channels'))
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom inspect --model runs/cnn --index 0 --out inspect/cnn\n  $ edgeloom inspect --model models/default.onnx --image shirt.jpg --out inspect/shirt\n  $ edgeloom inspect --model runs/bins --data folder:./photos --index 3 --out inspect/bins --json')
    .action(action(async (opts: { model: string; out: string; image?: string; index?: number; maxChannels?: number; data?: string; classes?: string[]; outputKind?: 'auto' | 'logits' | 'probabilities'; embedding?: string; json?: boolean }) => {
      const { runInspect, formatInspect } = await loadTraining(() => import('../../training/studies/inspect.ts'));
      const r = await runInspect(opts);
      printResult(opts.json, r, () => formatInspect(r, opts.out));
    }));
}
