// Weir stopped for a while and started again: the module backs off with a
// handful of log lines (no error storm), reports itself unhealthy meanwhile,
// says when Weir works again, and the catalog converges.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Backstage, Weir, waitFor, waitForSameCatalog } from './harness';

const OUTAGE_MS = 15_000;

let weir: Weir;
let backstage: Backstage;

before(async () => {
  weir = await Weir.start({
    plugins: [{ name: 'pushing', component: 'plugin_pushing', manifest: 'restLength = "1h"\n[config]\ncount = 4\n' }],
  });
  await weir.waitForCount('Weir to ingest its source', 4);
  backstage = await Backstage.start({
    providers: {
      main: { baseUrl: weir.url, waitSeconds: 2, backoff: { initialSeconds: 0.5, maxSeconds: 4 } },
    },
  });
});

after(async () => {
  await backstage?.stop();
  await weir?.stop();
});

test('Weir down for a while: few log lines, unhealthy meanwhile, then converges', async () => {
  await waitForSameCatalog(weir, backstage);
  const linesBefore = backstage.logs().length;
  await weir.stop();

  const unhealthy = await waitFor('the provider to report Weir unreachable', async () => {
    const status = await backstage.status();
    return status.healthy ? undefined : status;
  }, 10_000);
  assert.equal(unhealthy.providers[0].state, 'backing-off');
  await new Promise(resolve => setTimeout(resolve, OUTAGE_MS));
  const failures = (await backstage.status()).providers[0].consecutiveFailures;

  await weir.resume();
  await weir.push({
    upsert: [
      {
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'after-the-outage' },
        spec: { type: 'service', owner: 'group:default/test', lifecycle: 'experimental' },
      },
    ],
  });
  const { backstageEntities } = await waitForSameCatalog(weir, backstage);
  assert.ok(backstageEntities.has('component:default/after-the-outage'));
  assert.equal((await backstage.status()).healthy, true);

  const outageLines = backstage
    .logs()
    .slice(linesBefore)
    .filter(line => line.provider === 'weir-provider:main' && (line.level === 'warn' || line.level === 'error'));
  // Logged at attempts 1, 2, 4, 8, …: log2(failures) + 1 lines, whatever the outage's length.
  assert.ok(failures >= 4, `expected several retries during the outage, saw ${failures}`);
  assert.equal(outageLines.length, Math.floor(Math.log2(failures)) + 1, JSON.stringify(outageLines, null, 1));
  assert.ok(
    backstage.logs().some(line => line.level === 'info' && line.message.includes('works again after')),
    'the recovery is logged',
  );
});
