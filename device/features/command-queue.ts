import type { CommandName } from '../../src/mqtt/topics.ts';

/**
 * Defaults of the `commands` config section (the one place they live; docs/mqtt.md lists them).
 * A dashboard or script sends a few commands at a time (one per camera: a burst of up to ~10); a
 * flood beyond 1 command/s sustained is answered with `rate-limited` errors instead of being run.
 */
export const COMMAND_DEFAULTS = {
  /** Commands that are refused (answered with `disabled`). */
  disabled: [] as CommandName[],
  /** Opt-in commands that run: `snapshot` hands camera images to any client allowed on `cmd/#`. */
  enabled: [] as OptInCommand[],
  /** Token bucket: this many commands at once... */
  burst: 10,
  /** ...refilled at this rate. */
  ratePerS: 1,
  /** Accepted commands waiting behind the running one (they run one at a time). */
  maxQueued: 10,
  /** Bodies are small JSON objects; 64 KiB leaves room for any requestId and more. */
  maxPayloadBytes: 64 * 1024,
};

/** Commands that are off unless listed in `commands.enabled`. */
export const OPT_IN_COMMANDS = ['snapshot'] as const;
export type OptInCommand = (typeof OPT_IN_COMMANDS)[number];

/** Classic token bucket (pure: the caller passes the time). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly burst: number, private readonly perS: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perS);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Runs jobs one at a time in arrival order, holding at most `maxQueued` waiting. `push` returns
 * false when full (the caller answers with an error); `stop` refuses new jobs and waits for the
 * running one, reporting how many waiting jobs were discarded.
 */
export class SerialQueue {
  private waiting: (() => Promise<void>)[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly maxQueued: number, private readonly onError: (err: Error) => void) {}

  get length(): number {
    return this.waiting.length;
  }

  push(job: () => Promise<void>): boolean {
    if (this.stopped || this.waiting.length >= this.maxQueued) return false;
    this.waiting.push(job);
    this.running ??= this.pump();
    return true;
  }

  private async pump(): Promise<void> {
    for (let job = this.waiting.shift(); job && !this.stopped; job = this.waiting.shift()) {
      await job().catch((err: Error) => this.onError(err));
    }
    this.running = null;
  }

  async stop(): Promise<number> {
    this.stopped = true;
    const discarded = this.waiting.length;
    this.waiting = [];
    await this.running;
    return discarded;
  }
}
