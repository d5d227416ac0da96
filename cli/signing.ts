import type { Command } from 'commander';
import { action, printResult } from './output.ts';

/** `edgeloom keygen | sign`: ed25519 keys and detached model signatures (src/signing.ts). */
export function registerSigningCommands(program: Command): void {
  program.command('keygen')
    .description('Make an ed25519 key pair for signing models: KEY (private, mode 0600) and KEY.pub (give it to agents with --trusted-key)')
    .requiredOption('--out <file>', 'private key file to write (never overwritten); the public key goes to <file>.pub')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom keygen --out ~/.config/edgeloom/model-signing.key\n  $ scp ~/.config/edgeloom/model-signing.key.pub pi:/etc/edgeloom/trusted.pub')
    .action(action(async (opts: { out: string; json?: boolean }) => {
      const { runKeygen } = await import('../src/signing.ts');
      const r = await runKeygen(opts);
      printResult(opts.json, r, () => `wrote ${r.privateKey} (private, keep it secret) and ${r.publicKey} (key id ${r.keyId})`);
    }));

  program.command('sign')
    .description('Write a detached ed25519 signature <model>.sig next to a model, for agents run with --trusted-key')
    .requiredOption('--key <file>', 'private key from `edgeloom keygen`')
    .requiredOption('--model <file.onnx>', 'model to sign')
    .option('--out <file>', 'signature file (default: <model>.sig next to the real file)')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom sign --key model-signing.key --model models/edgenet.int8.onnx\n  $ scp models/edgenet.int8.onnx models/edgenet.int8.onnx.sig ' +
      'pi:/opt/edgeloom/models/')
    .action(action(async (opts: { key: string; model: string; out?: string; json?: boolean }) => {
      const { runSign } = await import('../src/signing.ts');
      const r = await runSign(opts);
      printResult(opts.json, r, () => `wrote ${r.signature} (sha256 ${r.sha256}, key id ${r.keyId})`);
    }));
}
