/**
 * Training progress on stderr: a live line rewritten with \r when stderr is a terminal, one line
 * per epoch otherwise (logs and CI stay readable). stdout is never touched (it carries --json).
 */
export interface BatchProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  acc: number;
  samplesPerSec: number;
  etaSeconds: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export function formatBatchLine(p: BatchProgress): string {
  const width = 20;
  const filled = Math.round((p.batch / Math.max(1, p.batches)) * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  return `epoch ${p.epoch}/${p.epochs} [${bar}] ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} acc ${p.acc.toFixed(4)} ${p.samplesPerSec.toFixed(0)} img/s ETA ${formatDuration(p.etaSeconds)}`;
}

/** auto: live line on a terminal + epoch lines; epochs: epoch lines only; off: silent. */
export type ProgressMode = 'auto' | 'epochs' | 'off';

export class ProgressLine {
  private lastDraw = 0;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly mode: ProgressMode = 'auto') {}

  get live(): boolean {
    return this.mode === 'auto' && Boolean(this.stream.isTTY);
  }

  batch(p: BatchProgress): void {
    if (!this.live) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && p.batch < p.batches) return;
    this.lastDraw = now;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r${formatBatchLine(p).slice(0, cols - 1).padEnd(cols - 1)}`);
  }

  /** Ends the live line and prints the epoch summary (always: one line per epoch). */
  epoch(line: string): void {
    if (this.mode === 'off') return;
    if (this.live) this.stream.write('\r\x1b[2K');
    this.stream.write(`${line}\n`);
  }

  clear(): void {
    if (this.live) this.stream.write('\r\x1b[2K');
  }
}
