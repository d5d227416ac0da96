import type { Logger } from '../src/log.ts';

/** Per-frame warnings: how many per key are logged before they are only summarised. */
export const LOG_LIMIT_DEFAULTS = {
  /** Warnings logged in full per key (a camera's failure reason) while the problem lasts. */
  burst: 5,
  /** Past the burst, one summary line per key per window with the number left out. */
  windowMs: 60_000,
};

interface KeyState {
  logged: number;
  suppressed: number;
  /** Any warning for this key since the last summary. */
  active: boolean;
}

/**
 * Rate-limits a stream of similar warnings (a camera sending 30 undecodable frames a second must
 * not write 2.6 million log lines a day). Counts stay exact elsewhere (stats); this only decides
 * what reaches the log: the first `burst` per key, then one summary per window. A key that stays
 * quiet for a whole window starts afresh, so a new episode is logged in full again.
 */
export class WarningLimiter {
  private readonly keys = new Map<string, KeyState>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: Pick<Logger, 'warn'>, private readonly scope: string, private readonly opts = LOG_LIMIT_DEFAULTS) {}

  warn(key: string, message: string): void {
    let k = this.keys.get(key);
    if (!k) {
      k = { logged: 0, suppressed: 0, active: false };
      this.keys.set(key, k);
    }
    k.active = true;
    if (k.logged < this.opts.burst) {
      k.logged++;
      this.log.warn(k.logged === this.opts.burst ? `${message} (further "${key}" warnings summarised every ${this.opts.windowMs / 1000} s)` : message);
    } else k.suppressed++;
    if (!this.timer) {
      this.timer = setInterval(() => this.flush(), this.opts.windowMs);
      this.timer.unref();
    }
  }

  /** Logs one summary per key with suppressed warnings; forgets keys that were quiet. */
  flush(): void {
    for (const [key, k] of this.keys) {
      if (k.suppressed > 0) this.log.warn(`${this.scope}: ${k.suppressed} more "${key}" warning(s) not logged in the last ${Math.round(this.opts.windowMs / 1000)} s (exact counts in stats)`);
      if (!k.active) this.keys.delete(key);
      k.suppressed = 0;
      k.active = false;
    }
    if (this.keys.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  stop(): void {
    for (const k of this.keys.values()) k.active = false;
    this.flush();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
