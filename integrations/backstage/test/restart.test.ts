// A Backstage backend restarted mid-stream resumes from the offset it stored
// in its own database: it applies only what changed while it was down, not
// the whole catalog again.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import knex from 'knex';
import { Backstage, Weir, waitFor, waitForSameCatalog } from './harness';

let weir: Weir;
let backstage: Backstage;

before(async () => {
  weir = await Weir.start({
    plugins: [
      { name: 'synthetic', manifest: 'restLength = "1h"\n[config]\ncount = 40\npage-size = 20\n' },
      { name: 'pushing', component: 'plugin_pushing', manifest: 'restLength = "1h"\n[config]\ncount = 3\n' },
    ],
  });
  await weir.waitForCount('Weir to ingest its sources', 43);
  backstage = await Backstage.start({ providers: { main: { baseUrl: weir.url, waitSeconds: 2 } } });
});

after(async () => {
  await backstage?.stop();
  await weir?.stop();
});

test('a restarted backend resumes from its stored offset', async () => {
  await waitForSameCatalog(weir, backstage);
  const first = (await backstage.status()).providers[0];
  assert.equal(first.totals.bootstrapEntities, 43);
  await backstage.stop();
  assert.deepEqual(await leases(backstage), [{ provider_id: 'main', holder: null }], 'the lease was given back at shutdown');

  // Four changes while Backstage is down: two upserts and two removals.
  await weir.push({
    upsert: ['while-down-1', 'while-down-2'].map(name => ({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: { name },
      spec: { type: 'service', owner: 'group:default/test', lifecycle: 'experimental' },
    })),
    remove: ['component:default/pushing-1', 'component:default/pushing-2'],
  });
  await backstage.resume();
  await waitForSameCatalog(weir, backstage);

  const resumed = await waitFor('the provider to apply the four changes', async () => {
    const provider = (await backstage.status()).providers[0];
    return provider.totals.upserts + provider.totals.removals === 4 ? provider : undefined;
  }, 30_000);
  assert.equal(resumed.totals.bootstraps, 0, 'no bootstrap after the restart');
  assert.equal(resumed.totals.bootstrapEntities, 0);
  assert.deepEqual([resumed.totals.upserts, resumed.totals.removals], [2, 2]);
  assert.equal(resumed.offset, await weir.headOffset());
  const resumedLine = backstage.logs().find(line => line.message.startsWith('Resuming Weir at'));
  assert.ok(resumedLine, 'the restarted backend says where it resumes from');
  assert.match(resumedLine.message, new RegExp(`from stored offset ${first.offset}$`));
});

/** The lease rows in the stopped backend's catalog database. */
async function leases(backstage: Backstage): Promise<unknown[]> {
  const database = knex({
    client: 'better-sqlite3',
    connection: { filename: path.join(backstage.dir, 'db', 'catalog.sqlite') },
    useNullAsDefault: true,
  });
  try {
    return await database('weir_provider_leases').select('provider_id', 'holder');
  } finally {
    await database.destroy();
  }
}
