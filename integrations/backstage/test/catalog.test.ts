// Bootstrap and live changes, checked through Backstage's own catalog API:
// after the bootstrap Backstage serves exactly Weir's entities; an updated
// source, a removal by sweep and pushed events then show up in Backstage.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Backstage, type WeirEntity, Weir, waitFor, waitForSameCatalog } from './harness';

const SYNTHETIC = (seed: number, count: number) => `
restLength = "1s"
burstInterval = "0s"
[config]
count = ${count}
page-size = 25
seed = ${seed}
`;

let weir: Weir;
let backstage: Backstage;

before(async () => {
  weir = await Weir.start({
    plugins: [
      { name: 'synthetic', manifest: SYNTHETIC(0, 60) },
      {
        name: 'hierarchy',
        manifest: '[config]\norganizations = 2\nprojects-per-organization = 2\ncomponents-per-project = 5\n',
      },
      { name: 'pushing', component: 'plugin_pushing', manifest: 'restLength = "1h"\n[config]\ncount = 3\n' },
    ],
  });
  // The three sources' first cycles: 60 + (2 + 4 + 20) + 3 entities.
  await weir.waitForCount('Weir to ingest its sources', 89);
  backstage = await Backstage.start({ providers: { main: { baseUrl: weir.url, waitSeconds: 2 } } });
});

after(async () => {
  await backstage?.stop();
  await weir?.stop();
});

test('after the bootstrap Backstage serves exactly Weir’s entities, annotated', async () => {
  const { weirEntities, backstageEntities } = await waitForSameCatalog(weir, backstage);
  assert.equal(backstageEntities.size, 89);
  for (const [ref, entity] of weirEntities) {
    const served = backstageEntities.get(ref) as WeirEntity;
    const annotations = served.metadata.annotations ?? {};
    // Every Weir source here sets its own location; the module keeps it.
    assert.equal(annotations['backstage.io/managed-by-location'], entity.metadata.annotations?.['backstage.io/managed-by-location'], ref);
    assert.equal(annotations['backstage.io/managed-by-origin-location'], entity.metadata.annotations?.['backstage.io/managed-by-origin-location'], ref);
  }
  const status = await backstage.status();
  assert.equal(status.providers[0].totals.bootstraps, 1);
  assert.equal(status.providers[0].totals.bootstrapEntities, 89);
});

test('an updated source and a removal by sweep show up in Backstage', async () => {
  const before = await backstage.entity('component', 'entity-000001');
  // A new seed changes every synthetic entity; a smaller count sweeps 10 away.
  weir.writeManifest('synthetic', SYNTHETIC(1, 50));
  await weir.waitForCount('Weir to sweep the 10 synthetic entities', 79);
  const { backstageEntities } = await waitForSameCatalog(weir, backstage);
  assert.equal(backstageEntities.has('component:default/entity-000060'), false);
  const after = await waitFor('entity-000001 to change in Backstage', async () => {
    const entity = await backstage.entity('component', 'entity-000001');
    return entity?.metadata.description !== before?.metadata.description ? entity : undefined;
  }, 30_000);
  const inWeir = (await weir.entities()).get('component:default/entity-000001');
  assert.equal(after?.metadata.description, inWeir?.metadata.description);
});

test('pushed events show up in Backstage, with a weir: location naming the source where it set none', async () => {
  await weir.push({
    upsert: [
      {
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'pushed-without-location' },
        spec: { type: 'service', owner: 'group:default/test', lifecycle: 'experimental' },
      },
    ],
    remove: ['component:default/pushing-1'],
  });
  await waitForSameCatalog(weir, backstage);
  const pushed = await backstage.entity('component', 'pushed-without-location');
  // The location names the Weir source that supplied the entity.
  const location = `weir:${weir.url}/api/catalog/incremental/providers/pushing`;
  assert.equal(pushed?.metadata.annotations?.['backstage.io/managed-by-location'], location);
  assert.equal(pushed?.metadata.annotations?.['backstage.io/managed-by-origin-location'], location);
  assert.equal(await backstage.entity('component', 'pushing-1'), undefined);
});
