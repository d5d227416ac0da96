import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const RECORD_MODULES = fileURLToPath(new URL('./record-modules.mjs', import.meta.url));
export const HIDE_ORT_NODE = fileURLToPath(new URL('./hide-onnxruntime-node.mjs', import.meta.url));

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` in `cwd` and resolves when it exits (rejects after `timeoutMs`, killing it). */
export function runNode(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: opts.cwd ?? REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not exit within ${opts.timeoutMs} ms\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A temporary directory with `count` small PNG frames of different colours (the agent only needs decodable images). */
export async function makeFrames(count: number): Promise<{ dir: string; frames: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-board-'));
  const frames = join(dir, 'frames');
  await mkdir(frames);
  for (let i = 0; i < count; i++) {
    const png = await sharp({ create: { width: 48, height: 36, channels: 3, background: { r: (37 * i) % 256, g: 200 - 9 * i, b: 90 } } }).png().toBuffer();
    await writeFile(join(frames, `f${String(i).padStart(3, '0')}.png`), png);
  }
  return { dir, frames };
}

/** Module URLs from record-modules.mjs's log, deduplicated. */
export function loadedModules(logText: string): string[] {
  return [...new Set(logText.split('\n').filter(Boolean))];
}
