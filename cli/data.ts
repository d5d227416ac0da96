import { Command, Option } from 'commander';
import { action, parseIntOption, printResult } from './output.ts';
import { loadTraining } from './training.ts';

export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--data <spec>', 'data source: fashion-mnist | idx:DIR | csv:TRAIN.csv[,TEST.csv] | folder:DIR', 'fashion-mnist')
    .option('--data-dir <dir>', 'directory with the official IDX files (same as --data idx:DIR)');
}

/** `--data` of the commands that read a trained model's data: no default, the model's recipe decides. */
export function addModelDataOption(cmd: Command): Command {
  return cmd.option('--data <spec>', 'data source: fashion-mnist | idx:DIR | csv:TRAIN.csv[,TEST.csv] | folder:DIR (default: the data the model was trained on, from its recipe; Fashion-MNIST ' +
    'without one)');
}

interface DataCliOptions {
  data?: string;
  dataDir?: string;
  json?: boolean;
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('Inspect and export training data sets');

  addDataOptions(data.command('info'))
    .description('Counts per split and class, class names and the cache location')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom data info\n  $ edgeloom data info --json\n  $ edgeloom data info --data-dir ./fashion-idx')
    .action(action(async (opts: DataCliOptions) => {
      const { dataInfo, formatDataInfo } = await loadTraining(() => import('../training/data/info.ts'));
      const info = await dataInfo(opts);
      printResult(opts.json, info, () => formatDataInfo(info));
    }));

  addDataOptions(data.command('sprite'))
    .description('Write a PNG sprite of sample images, one labelled row per class')
    .requiredOption('--out <file.png>', 'output PNG file')
    .option('--split <split>', 'train or test', 'test')
    .option('--per-class <n>', 'images per row', '10')
    .option('--scale <n>', 'pixel scale factor', '3')
    .option('--seed <n>', 'which samples to draw', '1')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom data sprite --out sprite.png\n  $ edgeloom data sprite --split train --per-class 16 --out train-sprite.png')
    .action(action(async (opts: DataCliOptions & { out: string; split: string; perClass: string; scale: string; seed: string }) => {
      const { writeSprite } = await loadTraining(() => import('../training/data/sprite.ts'));
      const result = await writeSprite(opts);
      printResult(opts.json, result, () => `wrote ${result.out} (${result.width}x${result.height}, ${result.rows} rows)`);
    }));

  addDataOptions(data.command('export'))
    .description('Export a split as IDX, CSV or PNG files')
    .addOption(new Option('--format <format>', 'output format').choices(['idx', 'csv', 'png']).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output directory')
    .addOption(new Option('--split <split>', 'which split').choices(['train', 'test', 'all']).default('test'))
    .option('--gzip', 'gzip IDX output (as Zalando publishes it)')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom data export --format idx --split all --gzip --out ./fashion-idx\n  $ edgeloom data export --format csv --split test --out ./csv\n  $ edgeloom ' +
      'data export --format png --split test --out ./test-images')
    .action(action(async (opts: DataCliOptions & { format: 'idx' | 'csv' | 'png'; out: string; split: string; gzip?: boolean }) => {
      const { exportDataset } = await loadTraining(() => import('../training/data/export.ts'));
      const result = await exportDataset(opts);
      printResult(opts.json, result, () => `wrote ${result.files.length} file(s) to ${result.out}`);
    }));

  addDataOptions(data.command('segment'))
    .description('Cluster one image\'s pixels by intensity with seeded k-means (k-means++) at several K and write the segmentations as one PNG')
    .requiredOption('--out <file.png>', 'output PNG file (the original, then one panel per K)')
    .option('--index <n>', 'which image of the split (default 0)', parseIntOption('--index'))
    .addOption(new Option('--split <split>', 'which split').choices(['train', 'test']).default('train'))
    .option('--k <list>', 'cluster counts: "1-6", "3" or "2,4,6" (1..16)', '1-6')
    .option('--seed <n>', 'seed of the k-means++ initialisation (default 1)', parseIntOption('--seed'))
    .option('--json', 'print JSON on stdout')
    .addHelpText('after',
      '\nExamples:\n  $ edgeloom data segment --index 0 --k 1-6 --out segment.png\n  $ edgeloom data segment --data folder:./photos --split test --index 3 --k 2,4 --out photo-segments.png --json')
    .action(action(async (opts: DataCliOptions & { out: string; index?: number; split: string; k: string; seed?: number }) => {
      const { runSegment, formatSegment } = await loadTraining(() => import('../training/studies/segment.ts'));
      const r = await runSegment(opts);
      printResult(opts.json, r, () => formatSegment(r));
    }));

  data.command('download')
    .description('Download the official Fashion-MNIST gz files (needs internet; checks MD5s)')
    .requiredOption('--out <dir>', 'directory for the four .gz files (then use --data idx:DIR)')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom data download --out ./fashion-idx\n  $ edgeloom data info --data idx:./fashion-idx')
    .action(action(async (opts: { out: string; json?: boolean }) => {
      const { downloadFashionMnist } = await loadTraining(() => import('../training/data/download.ts'));
      const { createLogger } = await import('../src/log.ts');
      const log = createLogger('data');
      const result = await downloadFashionMnist(opts.out, { onProgress: (m) => log.info(m) });
      printResult(opts.json, result, () => result.files.map((f) => `${f.name}: ${f.status} (MD5 ${f.md5})`).join('\n'));
    }));
}
