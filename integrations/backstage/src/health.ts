// The health signal of one provider: its state, position, lag and failures,
// served by the status route and the metrics, and the log lines that mark
// each change. Failures are logged at attempts 1, 2, 4, 8, … only (a warning
// first, an error from the 8th consecutive failure on), so an outage costs a
// handful of lines; the recovery is logged once.

import type { LoggerService } from '@backstage/backend-plugin-api';

/** What the provider is doing in this process. */
export type FollowState =
  /** Not holding the lease: another replica follows the stream, or this one is between turns. */
  | 'idle'
  | 'bootstrapping'
  | 'following'
  /** Weir failed or could not be reached; waiting before the next attempt. */
  | 'backing-off';

export interface ProviderStatus {
  provider: string;
  baseUrl: string;
  state: FollowState;
  /** False while requests to Weir, mutations or the lease fail (`consecutiveFailures > 0`). */
  healthy: boolean;
  /** The last event offset applied to the catalog by this process. */
  offset?: number;
  /** Weir's event log head as last seen; `lag` is `headOffset - offset`. */
  headOffset?: number;
  lag?: number;
  consecutiveFailures: number;
  lastError?: string;
  failingSince?: string;
  nextAttemptAt?: string;
  lastSuccessAt?: string;
  /** What this process applied since it started. */
  totals: {
    bootstraps: number;
    /** Entities sent in `full` mutations. */
    bootstrapEntities: number;
    deltaMutations: number;
    upserts: number;
    removals: number;
    /** 410 answers (the stream was purged past our offset). */
    offsetsGone: number;
  };
}

/** Consecutive failures from which a failure is logged as an error. */
const ERROR_FROM_ATTEMPT = 8;

export class ProviderHealth {
  private state: FollowState = 'idle';
  private offset?: number;
  private headOffset?: number;
  private failures = 0;
  private lastError?: string;
  private failingSince?: Date;
  private nextAttemptAt?: Date;
  private lastSuccessAt?: Date;
  private readonly totals: ProviderStatus['totals'] = {
    bootstraps: 0,
    bootstrapEntities: 0,
    deltaMutations: 0,
    upserts: 0,
    removals: 0,
    offsetsGone: 0,
  };

  constructor(
    readonly provider: string,
    private readonly baseUrl: string,
    private readonly logger: LoggerService,
  ) {}

  enter(state: FollowState): void {
    this.state = state;
  }

  /** A request or mutation succeeded; logs the recovery after failures. */
  succeeded(): void {
    if (this.failures > 0) {
      const seconds = ((Date.now() - (this.failingSince?.getTime() ?? Date.now())) / 1000).toFixed(1);
      this.logger.info(
        `Following Weir at ${this.baseUrl} works again after ${this.failures} failed attempt(s) over ${seconds}s`,
      );
    }
    this.failures = 0;
    this.lastError = undefined;
    this.failingSince = undefined;
    this.nextAttemptAt = undefined;
    this.lastSuccessAt = new Date();
  }

  /** A request or mutation failed; the next attempt comes after `delayMs`. */
  failed(error: unknown, delayMs: number): void {
    this.failures += 1;
    this.failingSince ??= new Date();
    this.lastError = error instanceof Error ? error.message : String(error);
    this.nextAttemptAt = new Date(Date.now() + delayMs);
    this.state = 'backing-off';
    if (isPowerOfTwo(this.failures)) {
      const message =
        `Following Weir at ${this.baseUrl} failed (attempt ${this.failures}): ${this.lastError}; ` +
        `retrying in ${(delayMs / 1000).toFixed(1)}s. Further failures are logged at attempts ` +
        `${this.failures * 2}, ${this.failures * 4}, …; the status is at /api/catalog/weir/status`;
      if (this.failures >= ERROR_FROM_ATTEMPT) {
        this.logger.error(message);
      } else {
        this.logger.warn(message);
      }
    }
  }

  /** The stream was read: where it stands. */
  sawHead(headOffset: number): void {
    this.headOffset = headOffset;
  }

  applied(offset: number): void {
    this.offset = offset;
  }

  bootstrapped(entities: number, offset: number): void {
    this.totals.bootstraps += 1;
    this.totals.bootstrapEntities += entities;
    this.applied(offset);
    this.headOffset = Math.max(this.headOffset ?? offset, offset);
  }

  delta(upserts: number, removals: number): void {
    this.totals.deltaMutations += 1;
    this.totals.upserts += upserts;
    this.totals.removals += removals;
  }

  gone(): void {
    this.totals.offsetsGone += 1;
  }

  status(): ProviderStatus {
    const lag =
      this.offset !== undefined && this.headOffset !== undefined
        ? Math.max(0, this.headOffset - this.offset)
        : undefined;
    return {
      provider: this.provider,
      baseUrl: this.baseUrl,
      state: this.state,
      healthy: this.failures === 0,
      offset: this.offset,
      headOffset: this.headOffset,
      lag,
      consecutiveFailures: this.failures,
      lastError: this.lastError,
      failingSince: this.failingSince?.toISOString(),
      nextAttemptAt: this.nextAttemptAt?.toISOString(),
      lastSuccessAt: this.lastSuccessAt?.toISOString(),
      totals: { ...this.totals },
    };
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
