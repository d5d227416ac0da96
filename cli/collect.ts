import type { Command } from 'commander';
import { action, parseFloatOption, parseIntOption, printResult } from './output.ts';
import { SOURCE_SPEC_HELP } from '../device/sources/spec.ts';
import { DEFAULT_MODEL_PATH } from '../src/defaults.ts';

/** `edgeloom collect | label` (device-side parts only: sources, model, preprocessing; never loads tfjs). */
export function registerCollectCommands(program: Command): void {
  program.command('collect')
    .description('Save camera frames with the model\'s guess into OUT/unlabelled/ for labelling (active learning)')
    .requiredOption('--source <spec>', `frame source, as for \`edgeloom agent\`: ${SOURCE_SPEC_HELP}`)
    .requiredOption('--out <dir>', 'collection folder; photos go to OUT/unlabelled/')
    .option('--model <file>', `ONNX model (default ${DEFAULT_MODEL_PATH})`)
    .option('--when <policy>', 'all | low-confidence | ood (default all)')
    .option('--threshold <x>', 'low-confidence: save frames with calibrated confidence below this (default 0.6)', parseFloatOption('--threshold'))
    .option('--every <n>', 'consider every Nth frame (default 1)', parseIntOption('--every'))
    .option('--max-files <n>', 'at most this many photos in OUT/unlabelled/ (default 1000)', parseIntOption('--max-files'))
    .option('--max-bytes <n>', 'at most this many bytes in OUT/unlabelled/ (default 268435456)', parseIntOption('--max-bytes'))
    .option('--max-frames <n>', 'stop after reading this many frames', parseIntOption('--max-frames'))
    .option('--fps <n>', 'frames read per second (default: 2 for cameras, unlimited for files)', parseFloatOption('--fps'))
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText('after', `
Examples:
  $ edgeloom collect --source dir:photos/new --out collected --when low-confidence
  $ edgeloom collect --source "command:rpicam-still -n -t 1 -o -" --out collected --every 10 --max-files 200
  $ edgeloom collect --source mjpeg:http://cam.local/stream --out collected --when ood --model models/edgenet.onnx`)
    .action(action(async (opts: import('../device/collect/run.ts').CollectOptions) => {
      const { runCollect } = await import('../device/collect/run.ts');
      const ctrl = new AbortController();
      const onSigint = () => ctrl.abort();
      process.once('SIGINT', onSigint);
      try {
        const s = await runCollect(opts, ctrl.signal);
        const skipped = Object.entries(s.skipped).map(([k, v]) => `${k} ${v}`).join(', ');
        printResult(opts.json, s, () => `${s.saved} of ${s.framesRead} frames saved to ${s.out} (${s.files} photos, ${s.bytes} bytes${s.full ? ', full' : ''})${skipped ? `; skipped: ` +
          `${skipped}` : ''}`);
      } finally {
        process.off('SIGINT', onSigint);
      }
    }));

  program.command('label')
    .description('Label collected photos in the browser: moves DIR/unlabelled/* into DIR/<class>/ (the layout of train --data folder:DIR)')
    .argument('<dir>', 'collection folder (the --out of `edgeloom collect`)')
    .option('--port <n>', 'port (0 = any free port)', parseIntOption('--port'), 8090)
    .option('--host <host>', 'interface to listen on (keep it local: the page can move files)', '127.0.0.1')
    .option('--classes <list>', 'comma-separated class names (default: the model\'s)')
    .option('--model <file>', `model whose class names to use (default ${DEFAULT_MODEL_PATH})`)
    .addHelpText('after', `
Keys: 1..9, 0 = class 1..10, Enter = accept the guess, s = skip, u = undo, arrows = previous/next.

Examples:
  $ edgeloom label collected                       # then open http://127.0.0.1:8090/
  $ edgeloom label collected --classes shirt,jeans,sock,towel,bag`)
    .action(action(async (dir: string, opts: { port: number; host: string; classes?: string; model?: string }) => {
      const { startLabelServer, labelClasses } = await import('../device/collect/label-server.ts');
      const server = await startLabelServer({ dir, host: opts.host, port: opts.port, classes: await labelClasses(opts) });
      process.stderr.write(`edgeloom: labelling ${server.unlabelledDir} at ${server.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      await server.close();
    }));
}
