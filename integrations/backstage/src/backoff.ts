// Exponential back-off with jitter: after failure n the delay is drawn between
// half and all of min(initial * 2^(n-1), max), so replicas and restarts do not
// retry in step, and a delay never collapses to nothing.

export class Backoff {
  private failures = 0;
  private retryAt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Records a failure; returns the delay before the next attempt, in milliseconds. */
  fail(now = Date.now()): number {
    this.failures += 1;
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = ceiling / 2 + (this.random() * ceiling) / 2;
    this.retryAt = now + delay;
    return delay;
  }

  reset(): void {
    this.failures = 0;
    this.retryAt = 0;
  }

  /** How long to wait before the next attempt may start (0: now). */
  remaining(now = Date.now()): number {
    return Math.max(0, this.retryAt - now);
  }
}
