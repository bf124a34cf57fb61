// Tombstones purged under a backend that fell behind: its next read gets
// 410 Gone, and a fresh bootstrap (one `full` mutation) leaves a correct
// catalog, with no stale entity. The backend is killed (SIGKILL), so this
// also shows the stream taken up again once the dead process's lease lapsed.
// Weir purges every second (`[http] purgeInterval`) and keeps running.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Backstage, Weir, waitFor, waitForSameCatalog } from './harness';

/** A short lease, so the killed backend's lapses soon. */
const LEASE_SECONDS = 5;

let weir: Weir;
let backstage: Backstage;

before(async () => {
  weir = await Weir.start({
    plugins: [{ name: 'pushing', component: 'plugin_pushing', manifest: 'restLength = "1h"\n[config]\ncount = 6\n' }],
    // Tombstones older than a second are purged every second: no restart needed.
    settings: '[http]\ntombstoneRetention = "1s"\npurgeInterval = "1s"\n',
  });
  await weir.waitForCount('Weir to ingest its source', 6);
  backstage = await Backstage.start({
    providers: { main: { baseUrl: weir.url, waitSeconds: 2, leaseSeconds: LEASE_SECONDS } },
  });
});

after(async () => {
  await backstage?.stop();
  await weir?.stop();
});

test('a 410 after a purge ends in a fresh bootstrap and a correct catalog', async () => {
  await waitForSameCatalog(weir, backstage);
  const killedAt = Date.now();
  await backstage.stop('SIGKILL');

  await weir.push({
    upsert: [
      {
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'after-the-purge' },
        spec: { type: 'service', owner: 'group:default/test', lifecycle: 'experimental' },
      },
    ],
    remove: ['component:default/pushing-1', 'component:default/pushing-2', 'component:default/pushing-3'],
  });
  // Weir purges the tombstones once they are older than the retention, at
  // its next purge (every second here), with no restart.
  await waitFor('Weir to purge the tombstones', async () =>
    weir.output.some(line => line.includes('purged removal tombstones')) ? true : undefined, 20_000);

  // The killed backend's lease must expire before another process may take the stream.
  const leaseLeft = killedAt + LEASE_SECONDS * 1000 - Date.now();
  await new Promise(resolve => setTimeout(resolve, Math.max(0, leaseLeft)));
  await backstage.resume();
  const { backstageEntities } = await waitForSameCatalog(weir, backstage);
  assert.equal(backstageEntities.size, 4);
  for (const removed of ['pushing-1', 'pushing-2', 'pushing-3']) {
    assert.equal(backstageEntities.has(`component:default/${removed}`), false, removed);
  }
  const provider = (await backstage.status()).providers[0];
  assert.equal(provider.totals.offsetsGone, 1);
  assert.equal(provider.totals.bootstraps, 1);
  assert.ok(backstage.logs().some(line => line.level === 'warn' && line.message.includes('HTTP 410')));
});
