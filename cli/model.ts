import { Option, type Command } from 'commander';
import { addModelDataOption } from './data.ts';
import { action, parseFloatOption, parseIntOption, printResult } from './output.ts';
import { loadTraining } from './training.ts';
import { QUANTIZE_DEFAULTS } from '../src/defaults.ts';

/** Comma-separated class names, e.g. `--classes shirt,trousers,shoe`. */
function parseClassList(value: string): string[] {
  return value.split(',').map((c) => c.trim());
}

/** Flags for classifiers not exported by edgeloom (PyTorch, Keras...): training/onnx/adopt.ts. */
export function addForeignModelOptions(cmd: Command): Command {
  return cmd
    .option('--classes <list>', 'foreign models: class names in output order, comma-separated (default: Fashion-MNIST\'s for 10 outputs)', parseClassList)
    .addOption(new Option('--output-kind <kind>', 'foreign models: what the output holds (auto: a final Softmax means probabilities)').choices(['auto', 'logits', 'probabilities']))
    .option('--embedding <tensor>', 'foreign models: tensor to expose as `embedding` (default: the input of the final Gemm/MatMul; none for no embedding)');
}

/** `edgeloom export | adopt | quantize | evaluate | compare` (owned by the ONNX module). */
export function registerModelCommands(program: Command): void {
  addModelDataOption(program.command('export'))
    .description('Convert a trained TensorFlow.js model directory to ONNX (NCHW, BN folded), checking parity with onnxruntime')
    .requiredOption('--model <dir>', 'tfjs model directory (model.json + weights.bin; report.json is read when present)')
    .requiredOption('--out <file.onnx>', 'output ONNX file')
    .option('--parity-images <n>', 'test images (of --data) for the tfjs-vs-onnxruntime parity check (0 to skip)', parseIntOption('--parity-images'), 64)
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom export --model runs/cnn --out models/cnn.onnx\n  $ edgeloom export --model runs/edgenet --out edgenet.onnx --json')
    .action(action(async (opts: { model: string; out: string; parityImages: number; data?: string; json?: boolean }) => {
      const { runExport } = await loadTraining(() => import('../training/onnx/export.ts'));
      const r = await runExport(opts);
      printResult(opts.json, r, () => `wrote ${r.out} (${(r.bytes / 1024).toFixed(1)} KiB, ${r.arch}, ${r.numClasses} classes, embedding ${r.embeddingSize})` +
        (r.parity ? `\nparity on ${r.parity.images} test images: max |logit diff| ${r.parity.maxAbsDiffLogits.toExponential(2)} (${r.parity.relativeError.toExponential(2)} of logit scale, ` +
          `tolerance ${r.parity.tolerance})` : ''));
    }));

  addForeignModelOptions(program.command('adopt'))
    .description('Bring an ONNX classifier exported by PyTorch, Keras... to the edgeloom contract (input, logits, embedding, metadata) so the agent runs it')
    .requiredOption('--model <in.onnx>', 'a float ONNX classifier: one float input [N,1,28,28] or [N,28,28,1], one output [N,C]')
    .requiredOption('--out <out.onnx>', 'output ONNX file (with a drift profile when it has an embedding)')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom adopt --model resnet_fmnist.onnx --out models/resnet.onnx\n  $ edgeloom adopt --model keras_nhwc.onnx --out models/k.onnx --output-kind ' +
      'probabilities --embedding dense_1/Relu:0\n  $ edgeloom adopt --model bins.onnx --out models/bins.onnx --classes shirt,trousers,shoe,bag,dress')
    .action(action(async (opts: { model: string; out: string; classes?: string[]; outputKind?: 'auto' | 'logits' | 'probabilities'; embedding?: string; json?: boolean }) => {
      const { runAdopt } = await loadTraining(() => import('../training/onnx/adopt-command.ts'));
      const { describeAdoption } = await loadTraining(() => import('../training/onnx/adopt.ts'));
      const r = await runAdopt(opts);
      printResult(opts.json, r,
        () => `wrote ${r.out} (${(r.bytes / 1024).toFixed(1)} KiB, ${r.numClasses} classes: ${r.classes.join(', ')})\n${describeAdoption(r.adopted)}${r.driftProfile ? '\nwith a drift reference ' +
          'profile' : ''}`);
    }));

  addModelDataOption(addForeignModelOptions(program.command('quantize')))
    .description('Static int8 post-training quantization (QDQ) of an exported ONNX model')
    .requiredOption('--model <in.onnx>', 'float ONNX model from `edgeloom export` (or any classifier: see --classes)')
    .requiredOption('--out <out.onnx>', 'output int8 ONNX model')
    .option('--calibration-size <n>', 'training images of --data used for calibration (stratified, seeded)', parseIntOption('--calibration-size'), QUANTIZE_DEFAULTS.calibrationSize)
    .addOption(new Option('--method <method>', 'activation range calibration').choices(['minmax', 'percentile', 'entropy']).default(QUANTIZE_DEFAULTS.method))
    .option('--percentile <p>', 'percentile of |x| kept by --method percentile', parseFloatOption('--percentile'), QUANTIZE_DEFAULTS.percentile)
    .addOption(new Option('--target <target>', 'cpu: uint8 activations for onnxruntime integer kernels; tensorrt: symmetric int8').choices(['cpu', 'tensorrt']).default(QUANTIZE_DEFAULTS.target))
    .option('--per-tensor', 'one weight scale per tensor instead of per output channel')
    .option('--reduce-range', '7-bit weights (x86 CPUs without VNNI)')
    .option('--seed <n>', 'seed of the calibration sample', parseIntOption('--seed'), QUANTIZE_DEFAULTS.calibrationSeed)
    .option('--check-size <n>', 'test images of --data for the quick fp32-vs-int8 check (0 to skip)', parseIntOption('--check-size'), QUANTIZE_DEFAULTS.checkSize)
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom quantize --model cnn.onnx --out cnn.int8.onnx\n  $ edgeloom quantize --model cnn.onnx --out cnn.trt.onnx --target tensorrt --method entropy\n  ' +
      '$ edgeloom quantize --model cnn.onnx --out cnn.int8.onnx --reduce-range --per-tensor --json')
    .action(action(async (opts: { model: string; out: string; calibrationSize: number; method: 'minmax' | 'percentile' | 'entropy'; percentile: number; target: 'cpu' | 'tensorrt';
      perTensor?: boolean; reduceRange?: boolean; seed: number; checkSize: number; data?: string; json?: boolean }) => {
      const { runQuantize, formatQuantize } = await loadTraining(() => import('../training/quantize/run.ts'));
      const r = await runQuantize(opts);
      printResult(opts.json, r, () => formatQuantize(r));
    }));

  addModelDataOption(addForeignModelOptions(program.command('evaluate')))
    .description('Accuracy, per-class precision/recall/F1 and confusion matrix on the test split of the model\'s data (or --split val)')
    .requiredOption('--model <path>', '.onnx file or tfjs model directory')
    .option('--split <name>', 'test (the test split of --data: Fashion-MNIST\'s official test set, a folder\'s test/ or its seeded 1/7 hold-out) or val (the validation split of the model\'s own ' +
      'training run)', 'test')
    .option('--limit <n>', 'evaluate on a stratified subset of n images', parseIntOption('--limit'))
    .option('--out <dir>', 'write metrics.json, metrics.md and confusion.png here')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom evaluate --model cnn.int8.onnx\n  $ edgeloom evaluate --model runs/cnn --limit 2000 --out eval/cnn --json\n  $ edgeloom evaluate --model ' +
      'models/edgenet-robust.onnx --split val\n  $ edgeloom evaluate --model runs/bins/model.int8.onnx --data folder:./photos')
    .action(action(async (opts: { model: string; split: 'test' | 'val'; limit?: number; out?: string; data?: string; json?: boolean }) => {
      const { runEvaluate, formatEvaluation } = await loadTraining(() => import('../training/eval/evaluate.ts'));
      const r = await runEvaluate(opts);
      printResult(opts.json, r, () => formatEvaluation(r));
    }));

  addModelDataOption(addForeignModelOptions(program.command('compare')))
    .description('Two ONNX models side by side: accuracy, agreement, batch-1 latency and file size')
    .argument('<a.onnx>')
    .argument('<b.onnx>')
    .option('--limit <n>', 'stratified subset of n test images', parseIntOption('--limit'))
    .option('--runs <n>', 'batch-1 latency runs per model', parseIntOption('--runs'), 200)
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom compare cnn.onnx cnn.int8.onnx\n  $ edgeloom compare cnn.onnx cnn.int8.onnx --limit 2000 --json')
    .action(action(async (a: string, b: string, opts: { limit?: number; runs: number; data?: string; json?: boolean }) => {
      const { runCompare, formatComparison } = await loadTraining(() => import('../training/eval/compare.ts'));
      const r = await runCompare({ a, b, ...opts });
      printResult(opts.json, r, () => formatComparison(r));
    }));
}
