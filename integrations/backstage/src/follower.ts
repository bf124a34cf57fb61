// Follows one Weir catalog's event stream into the catalog. Replicas take
// turns (runs of the provider's scheduler task); a turn follows only while
// its replica holds the provider's lease in the database, so one replica at a
// time reads the stream:
//
// - with no stored offset (or one of another stream), bootstrap: read every
//   page of GET /api/entities, apply them as one `full` mutation, store the
//   listing's lastEventOffset;
// - then long-poll GET /api/events from the offset and apply each answer as
//   one `delta` mutation (upserts as `added`, tombstones as `removed`), and
//   store the answer's lastEventOffset only after the mutation was applied;
// - a 410 Gone (tombstones purged past our offset) or an offset beyond Weir's
//   head (its database was replaced) leads to a fresh bootstrap.
//
// Applying an answer twice changes nothing (upserts and removals of the
// entities as they are now), so a crash between a mutation and the offset's
// write costs a repeat, never a wrong catalog.

import type { LoggerService } from '@backstage/backend-plugin-api';
import type { DeferredEntity, EntityProviderConnection } from '@backstage/plugin-catalog-node';
import { setTimeout as delay } from 'node:timers/promises';
import { Backoff } from './backoff';
import {
  WeirClient,
  WeirOffsetAheadError,
  WeirOffsetGoneError,
  type WeirEvent,
} from './client';
import type { WeirProviderConfig } from './config';
import { toDeferredEntity } from './entities';
import type { ProviderHealth } from './health';
import type { ProviderStore } from './store';

export interface StreamFollowerOptions {
  config: WeirProviderConfig;
  connection: EntityProviderConnection;
  store: ProviderStore;
  health: ProviderHealth;
  logger: LoggerService;
  /** This replica's name in the lease table. */
  holder: string;
}

export class StreamFollower {
  private readonly client: WeirClient;
  private readonly backoff: Backoff;
  /** What a stored offset must belong to, to be resumed from. */
  private readonly stream: string;
  private readonly leaseMs: number;
  private resumedBefore = false;
  private stopped = false;
  private turn?: { controller: AbortController; finished: Promise<void> };

  constructor(private readonly options: StreamFollowerOptions) {
    const { config } = options;
    this.client = new WeirClient({ baseUrl: config.baseUrl, token: config.token, kinds: config.kinds });
    this.backoff = new Backoff(config.backoff.initialSeconds * 1000, config.backoff.maxSeconds * 1000);
    this.stream = `${config.baseUrl} kinds=${[...config.kinds].sort().join(',') || '*'}`;
    this.leaseMs = config.leaseSeconds * 1000;
  }

  /**
   * One turn: when this replica gets the lease, follow the stream until
   * `signal` aborts (the task's timeout), the lease is lost or `stop` is
   * called, then give the lease back. Never throws: failures are retried
   * with back-off, which carries over to the next turn.
   */
  async takeTurn(signal: AbortSignal): Promise<void> {
    if (this.stopped || this.backoff.remaining() > 0) {
      return;
    }
    const controller = new AbortController();
    const finished = this.runTurn(AbortSignal.any([signal, controller.signal]));
    this.turn = { controller, finished };
    try {
      await finished;
    } finally {
      this.turn = undefined;
    }
  }

  /** Ends the current turn, giving the lease back while the database is still open, and takes no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.turn?.controller.abort();
    await this.turn?.finished;
  }

  private async runTurn(signal: AbortSignal): Promise<void> {
    const { config, store, holder, health, logger } = this.options;
    try {
      if (!(await store.tryHoldLease(config.id, holder, this.leaseMs))) {
        // Another replica follows the stream; this one has nothing failing.
        this.backoff.reset();
        health.succeeded();
        return;
      }
    } catch (error) {
      health.failed(new Error(`Taking the lease failed: ${describe(error)}`), this.backoff.fail());
      return;
    }
    const lease = this.keepLease();
    try {
      await this.follow(AbortSignal.any([signal, lease.lost]));
    } finally {
      await lease.stop();
      await store
        .releaseLease(config.id, holder)
        .catch(error => logger.warn(`Giving the lease back failed (it lapses by itself): ${describe(error)}`));
      health.enter('idle');
    }
  }

  /**
   * Renews the lease every third of its length; `lost` aborts when it cannot.
   * `stop` waits for a renewal in flight, so none lands after the release.
   */
  private keepLease(): { lost: AbortSignal; stop: () => Promise<void> } {
    const { config, store, holder, logger } = this.options;
    const lost = new AbortController();
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let inFlight = Promise.resolve();
    const renew = async () => {
      try {
        if (await store.tryHoldLease(config.id, holder, this.leaseMs)) {
          schedule();
          return;
        }
        logger.warn('Another replica took over the lease: this one stops following Weir');
      } catch (error) {
        logger.warn(`Renewing the lease failed: ${describe(error)}; this replica stops following Weir`);
      }
      lost.abort();
    };
    const schedule = () => {
      if (!stopped) {
        timer = setTimeout(() => (inFlight = renew()), this.leaseMs / 3);
      }
    };
    schedule();
    const stop = async () => {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    };
    return { lost: lost.signal, stop };
  }

  /** Applies the stream until `signal` aborts, backing off after failures. */
  private async follow(signal: AbortSignal): Promise<void> {
    let offset: number | undefined;
    while (!signal.aborted) {
      try {
        offset = await this.step(offset, signal);
        this.backoff.reset();
        this.options.health.succeeded();
      } catch (error) {
        if (signal.aborted) {
          break;
        }
        const wait = this.backoff.fail();
        this.options.health.failed(error, wait);
        await sleep(wait, signal);
      }
    }
  }

  /** Resume or bootstrap when needed, then read and apply one answer of the stream. */
  private async step(offset: number | undefined, signal: AbortSignal): Promise<number> {
    const from = offset ?? (await this.resume(signal));
    try {
      return await this.followOnce(from, signal);
    } catch (error) {
      if (error instanceof WeirOffsetGoneError) {
        this.options.health.gone();
        this.options.logger.warn(`${error.message}; re-bootstrapping from ${this.options.config.baseUrl}`);
        return this.bootstrap(signal);
      }
      if (error instanceof WeirOffsetAheadError) {
        this.options.logger.warn(
          `Offset ${from} is beyond the head (${error.headOffset}) of Weir at ` +
            `${this.options.config.baseUrl}, whose database was replaced; re-bootstrapping`,
        );
        return this.bootstrap(signal);
      }
      throw error;
    }
  }

  /** The stored offset of this stream, or a fresh bootstrap's. */
  private async resume(signal: AbortSignal): Promise<number> {
    const { config, store, logger, health } = this.options;
    const stored = await store.readOffset(config.id);
    if (stored?.stream === this.stream) {
      if (!this.resumedBefore) {
        logger.info(`Resuming Weir at ${config.baseUrl} from stored offset ${stored.offset}`);
        this.resumedBefore = true;
      }
      health.applied(stored.offset);
      return stored.offset;
    }
    if (stored) {
      logger.info(`The stored offset belongs to "${stored.stream}", not "${this.stream}": bootstrapping`);
    }
    return this.bootstrap(signal);
  }

  /** Every entity as one `full` mutation; returns the offset to follow from. */
  private async bootstrap(signal: AbortSignal): Promise<number> {
    const { config, connection, store, logger, health } = this.options;
    health.enter('bootstrapping');
    const started = Date.now();
    const entities: DeferredEntity[] = [];
    let offset: number | undefined;
    for await (const page of this.client.listEntities(config.pageSize, signal)) {
      offset ??= page.lastEventOffset;
      for (const item of page.items) {
        entities.push(toDeferredEntity(item.entity, { baseUrl: config.baseUrl, source: item.source }));
      }
    }
    const listed = Date.now();
    // A turn that ended meanwhile (its lease lost: another replica may be
    // applying newer events) applies nothing.
    signal.throwIfAborted();
    await connection.applyMutation({ type: 'full', entities });
    // The mutation is applied: the offset is right even if the turn was cut short meanwhile.
    await store.writeOffset(config.id, { stream: this.stream, offset: offset ?? 0 });
    this.resumedBefore = true;
    health.bootstrapped(entities.length, offset ?? 0);
    logger.info(
      `Bootstrapped ${entities.length} entities from Weir at ${config.baseUrl} ` +
        `(listed in ${seconds(listed - started)}, full mutation in ${seconds(Date.now() - listed)}); ` +
        `following its events from offset ${offset ?? 0}`,
    );
    return offset ?? 0;
  }

  /** One long poll; applies what it brought and returns the offset to continue from. */
  private async followOnce(offset: number, signal: AbortSignal): Promise<number> {
    const { config, store, health } = this.options;
    health.enter('following');
    const page = await this.client.readEvents(offset, config.pageSize, config.waitSeconds, signal);
    // As in the bootstrap: an answer read under a lease since lost is not applied.
    signal.throwIfAborted();
    health.sawHead(page.headOffset);
    if (page.events.length > 0) {
      await this.applyEvents(page.events);
    }
    if (page.lastEventOffset !== offset) {
      await store.writeOffset(config.id, { stream: this.stream, offset: page.lastEventOffset });
    }
    health.applied(page.lastEventOffset);
    return page.lastEventOffset;
  }

  private async applyEvents(events: WeirEvent[]): Promise<void> {
    const added: DeferredEntity[] = [];
    const removed: { entityRef: string }[] = [];
    for (const event of events) {
      if (event.type === 'removed') {
        removed.push({ entityRef: event.entityRef });
      } else {
        added.push(
          toDeferredEntity(event.entity, { baseUrl: this.options.config.baseUrl, source: event.source }),
        );
      }
    }
    await this.options.connection.applyMutation({ type: 'delta', added, removed });
    this.options.health.delta(added.length, removed.length);
    this.options.logger.debug(
      `Applied ${added.length} upserts and ${removed.length} removals from Weir up to offset ` +
        `${events[events.length - 1].offset}`,
    );
  }
}

/** Waits `ms` (nothing when 0 or less), or until `signal` aborts. */
async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) {
    return;
  }
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
