// Two Backstage replicas on one PostgreSQL database: exactly one follows the
// stream at a time (the lease), nothing is applied twice, and when the
// replica holding the lease dies (SIGKILL), the other carries on once it lapsed.
// Needs WEIR_TEST_POSTGRES_URL; without it the test is skipped, except under
// CI, where it fails.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import knex, { type Knex } from 'knex';
import { Backstage, Weir, waitFor, waitForSameCatalog } from './harness';

const POSTGRES_URL = process.env.WEIR_TEST_POSTGRES_URL;
if (!POSTGRES_URL && process.env.CI) {
  throw new Error('WEIR_TEST_POSTGRES_URL is not set: under CI the replica test must run');
}

/** Backstage names each plugin's database `<prefix><pluginId>`. */
const PREFIX = `weir_backstage_${randomBytes(4).toString('hex')}_`;

let weir: Weir;
const replicas: Backstage[] = [];

function component(name: string) {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name },
    spec: { type: 'service', owner: 'group:default/test', lifecycle: 'experimental' },
  };
}

async function totals() {
  const statuses = await Promise.all(replicas.filter(replica => replica.alive).map(replica => replica.status()));
  const providers = statuses.map(status => status.providers[0]);
  return {
    bootstraps: providers.reduce((sum, provider) => sum + provider.totals.bootstraps, 0),
    upserts: providers.reduce((sum, provider) => sum + provider.totals.upserts, 0),
  };
}

before(async () => {
  if (!POSTGRES_URL) {
    return;
  }
  weir = await Weir.start({ plugins: [{ name: 'pushing', component: 'plugin_pushing', manifest: 'restLength = "1h"\n[config]\ncount = 5\n' }] });
  await weir.waitForCount('Weir to ingest its source', 5);
  const options = {
    providers: { main: { baseUrl: weir.url, waitSeconds: 2, leaseSeconds: 5 } },
    database: { client: 'pg', connection: POSTGRES_URL, prefix: PREFIX },
  };
  // One after the other: both would otherwise race to run the catalog's migrations.
  replicas.push(await Backstage.start(options));
  replicas.push(await Backstage.start(options));
});

after(async () => {
  await Promise.all(replicas.map(replica => replica.stop()));
  await weir?.stop();
  if (POSTGRES_URL) {
    await dropDatabases(POSTGRES_URL);
  }
});

test('two replicas: one follows at a time, and the other takes over when it dies', { skip: !POSTGRES_URL && 'WEIR_TEST_POSTGRES_URL is not set' }, async () => {
  await waitForSameCatalog(weir, replicas[0]);
  await weir.push({ upsert: [component('first-change')] });
  await waitForSameCatalog(weir, replicas[1]);
  assert.deepEqual(await totals(), { bootstraps: 1, upserts: 1 }, 'one bootstrap and each change applied once');

  // Kill whichever replica follows now; the other goes on from the stored offset.
  const following = await waitFor('a replica to hold the stream', async () => {
    for (const replica of replicas) {
      if ((await replica.status()).providers[0].state !== 'idle') {
        return replica;
      }
    }
    return undefined;
  }, 30_000);
  const other = replicas.find(replica => replica !== following) as Backstage;
  const leaderBootstraps = (await following.status()).providers[0].totals.bootstraps;
  await following.stop('SIGKILL');
  await weir.push({ upsert: [component('second-change')] });
  await waitForSameCatalog(weir, other, 60_000);
  const provider = (await other.status()).providers[0];
  assert.equal(leaderBootstraps + provider.totals.bootstraps, 1, 'the stream went on from the stored offset');
  assert.ok(provider.totals.upserts >= 1, 'the remaining replica applied the second change');
});

async function dropDatabases(url: string): Promise<void> {
  const admin: Knex = knex({ client: 'pg', connection: url });
  try {
    const { rows } = await admin.raw<{ rows: { datname: string }[] }>(
      'SELECT datname FROM pg_database WHERE datname LIKE ?',
      [`${PREFIX}%`],
    );
    for (const { datname } of rows) {
      await admin.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [datname]);
    }
  } finally {
    await admin.destroy();
  }
}
