// What the providers keep in the catalog plugin's own database: each one's
// position in Weir's event stream, and the lease that lets one replica at a
// time follow it. Two small tables created by a knex migration with its own
// migrations table (so it never mixes with the catalog's).

import type { DatabaseService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';

const OFFSETS = 'weir_provider_offsets';
const LEASES = 'weir_provider_leases';
const MIGRATIONS_TABLE = 'weir_knex_migrations';

/** The last applied position of one provider. */
export interface StoredOffset {
  /** What the offset belongs to (Weir's URL and the kinds followed): another stream needs a bootstrap. */
  stream: string;
  offset: number;
}

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATIONS: Migration[] = [
  {
    name: '20261207000000_provider_offsets_and_leases',
    async up(knex) {
      await knex.schema.createTable(OFFSETS, table => {
        table.comment('The position of each Weir entity provider in the event stream of its Weir catalog');
        table.string('provider_id').primary().notNullable().comment('The key under catalog.providers.weir');
        table.text('stream').notNullable().comment('The URL of Weir and the kinds followed');
        table.bigInteger('event_offset').notNullable().comment('The last event offset applied to the catalog');
        table.timestamp('updated_at').notNullable().defaultTo(knex.fn.now());
      });
      await knex.schema.createTable(LEASES, table => {
        table.comment('Which replica follows the event stream of each Weir entity provider, and until when');
        table.string('provider_id').primary().notNullable().comment('The key under catalog.providers.weir');
        table.string('holder').nullable().comment('The replica holding the lease; null when released');
        table.bigInteger('expires_at_ms').notNullable().comment('When the lease lapses unless renewed (epoch ms)');
      });
    },
    async down(knex) {
      await knex.schema.dropTable(LEASES);
      await knex.schema.dropTable(OFFSETS);
    },
  },
];

const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: migration => migration.name,
  getMigration: async migration => migration,
};

export class ProviderStore {
  private constructor(private readonly knex: Knex) {}

  /** The store, its tables migrated unless the database service says to skip migrations. */
  static async create(database: DatabaseService): Promise<ProviderStore> {
    const knex = await database.getClient();
    if (!database.migrations?.skip) {
      await knex.migrate.latest({ migrationSource, tableName: MIGRATIONS_TABLE });
    }
    return new ProviderStore(knex);
  }

  async readOffset(providerId: string): Promise<StoredOffset | undefined> {
    const row = await this.knex(OFFSETS)
      .where({ provider_id: providerId })
      .first<{ stream: string; event_offset: number | string } | undefined>('stream', 'event_offset');
    // PostgreSQL returns bigint columns as strings.
    return row && { stream: row.stream, offset: Number(row.event_offset) };
  }

  async writeOffset(providerId: string, position: StoredOffset): Promise<void> {
    await this.knex(OFFSETS)
      .insert({
        provider_id: providerId,
        stream: position.stream,
        event_offset: position.offset,
        updated_at: this.knex.fn.now(),
      })
      .onConflict('provider_id')
      .merge(['stream', 'event_offset', 'updated_at']);
  }

  /**
   * Takes or renews the lease for `leaseMs` when it is free, lapsed or
   * already `holder`'s; false when another replica holds it. Expiry uses
   * each replica's clock: keep them within a fraction of the lease.
   */
  async tryHoldLease(providerId: string, holder: string, leaseMs: number): Promise<boolean> {
    const now = Date.now();
    await this.knex(LEASES)
      .insert({ provider_id: providerId, holder: null, expires_at_ms: 0 })
      .onConflict('provider_id')
      .ignore();
    const taken = await this.knex(LEASES)
      .where({ provider_id: providerId })
      .andWhere(free => free.where({ holder }).orWhereNull('holder').orWhere('expires_at_ms', '<', now))
      .update({ holder, expires_at_ms: now + leaseMs });
    return taken === 1;
  }

  /** Gives the lease back at once, if `holder` still has it. */
  async releaseLease(providerId: string, holder: string): Promise<void> {
    await this.knex(LEASES).where({ provider_id: providerId, holder }).update({ holder: null, expires_at_ms: 0 });
  }
}
