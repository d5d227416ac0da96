import { spawn, type ChildProcess } from 'node:child_process';

const BIN = new URL('../../bin/edgeloom.js', import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `edgeloom ARGS` as a child process; `onStderr` sees the stderr so far (e.g. to send Ctrl-C). */
export function runEdgeloom(args: string[], onStderr?: (text: string, child: ChildProcess) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    // Tests read the CLI's log lines: the log level of the shell running the suite must not matter.
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGELOOM_LOG_LEVEL: 'info' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
