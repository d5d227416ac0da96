/**
 * Warnings that would otherwise repeat at frame rate, at most one log line per key per interval (a
 * camera pointed at an empty table, a topic the broker refuses every label on); the line after a
 * quiet spell says how many were held back. Counts stay exact in stats.
 */
export class RateLimitedWarnings {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: (message: string) => void,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  warn(key: string, message: string): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const held = entry && entry.suppressed > 0 ? ` (+${entry.suppressed} more ${key} in the last ${Math.round((t - entry.at) / 1000)} s)` : '';
    this.last.set(key, { at: t, suppressed: 0 });
    this.log(message + held);
  }
}
