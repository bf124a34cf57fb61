// The entity provider for one Weir catalog. Its connection starts a local
// scheduler task on every replica; each run is a turn of the stream follower,
// which follows only while its replica holds the provider's lease.

import type { LoggerService, SchedulerService } from '@backstage/backend-plugin-api';
import type { EntityProvider, EntityProviderConnection } from '@backstage/plugin-catalog-node';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { WeirProviderConfig } from './config';
import { StreamFollower } from './follower';
import { ProviderHealth, type ProviderStatus } from './health';
import type { ProviderStore } from './store';

export interface WeirEntityProviderOptions {
  config: WeirProviderConfig;
  store: ProviderStore;
  scheduler: SchedulerService;
  logger: LoggerService;
}

/** This process's name in the lease table. */
const HOLDER = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

export class WeirEntityProvider implements EntityProvider {
  private readonly health: ProviderHealth;
  private readonly logger: LoggerService;
  private follower?: StreamFollower;

  constructor(private readonly options: WeirEntityProviderOptions) {
    this.logger = options.logger.child({ provider: this.getProviderName() });
    this.health = new ProviderHealth(this.getProviderName(), options.config.baseUrl, this.logger);
  }

  getProviderName(): string {
    return `weir-provider:${this.options.config.id}`;
  }

  async connect(connection: EntityProviderConnection): Promise<void> {
    const { config, store, scheduler } = this.options;
    const follower = new StreamFollower({
      config,
      connection,
      store,
      health: this.health,
      logger: this.logger,
      holder: HOLDER,
    });
    this.follower = follower;
    await scheduler.scheduleTask({
      id: `${this.getProviderName()}:follow`,
      // Every replica tries; the lease decides which one follows.
      scope: 'local',
      frequency: { seconds: 1 },
      // A turn gives the lease back after this long; the next one starts a second later.
      timeout: { minutes: 10 },
      fn: signal => follower.takeTurn(signal),
    });
  }

  /** Stops following and gives the lease back (called at the plugin's shutdown). */
  async stop(): Promise<void> {
    await this.follower?.stop();
  }

  status(): ProviderStatus {
    return this.health.status();
  }
}
