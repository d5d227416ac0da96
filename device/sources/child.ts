import { firstLine } from '../../src/errors.ts';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

export type PipedChild = ChildProcessByStdio<null, Readable, Readable>;

/**
 * Spawns a child as the leader of its own process group, so that `killGroup` reaches everything it
 * started: `/bin/sh -c 'tool; true'` forks `tool` instead of exec'ing it (dash), and a SIGKILL to
 * the shell alone left `tool` running, holding the pipe, for ever.
 */
export function spawnGroup(file: string, args: readonly string[]): PipedChild {
  return spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}

/** SIGKILLs the child's whole process group; a group that is already gone is fine. */
export function killGroup(child: { pid?: number }): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Keeps the first `max` bytes of a stream as text (a child's stderr, for the error message). */
export function keepHead(stream: Readable, max: number): () => string {
  let text = '';
  stream.on('data', (c: Buffer) => {
    if (text.length < max) text += c.toString('utf8', 0, Math.min(c.length, max - text.length));
  });
  stream.on('error', () => undefined);
  return () => firstLine(text.trim());
}
