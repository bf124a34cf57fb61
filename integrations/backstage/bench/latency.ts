// Benchmark (not a test): how fast Weir's entities reach a real Backstage
// catalog through this module, beside Backstage's own ingestion of the same
// entities from a static `file` location. For each size N:
//
// 1. `weir serve` ingests N synthetic Components (plus the `pushing` source);
// 2. Backstage with this module starts empty: the time until it serves all of
//    them (the module's bootstrap, one `full` mutation, then the catalog's
//    processing and stitching);
// 3. five single-entity commits to Weir (pushed events): the time from Weir's
//    commit (the push's answer) until the module applied it (its status shows
//    Weir's new head) and until Backstage serves the entity;
// 4. the same entities written to one YAML file, a fresh Backstage with that
//    file as a static location: the time until it serves all of them, then
//    the time until one entity appended to the file is served after asking
//    Backstage to refresh the location (POST /api/catalog/refresh).
//
// Both Backstage runs process with `catalog.processingInterval` 30 minutes, so
// the first pass over N entities is not slowed by re-processing them (on a
// small machine the default 100–150 s would keep the loop saturated) and a
// new entity does not queue behind overdue ones.
//
// With --applied-only, steps 2 and 3 stop at the module (its bootstrap's full
// mutation, each commit applied) without waiting for Backstage's processing,
// and step 4 is skipped: what the module costs at sizes where Backstage's own
// processing would take too long here.
//
// Run: npm run bench -- [--applied-only] 10000 100000 (WEIR_BIN and WEIR_GUESTS as for the tests).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Backstage, Weir, getJson, tempDir, waitFor } from '../test/harness';

const ARGS = process.argv.slice(2);
const APPLIED_ONLY = ARGS.includes('--applied-only');
const COUNTS = ARGS.filter(arg => arg !== '--applied-only').map(Number).filter(count => count > 0);
const COMMITS = 5;
const HOUR_MS = 3_600_000;
const CATALOG = { processingInterval: { minutes: 30 } };

interface Figures {
  count: number;
  weirIngestSeconds: number;
  /** Until every entity is served, or with --applied-only until the bootstrap's mutation is applied. */
  moduleBootstrapSeconds: number;
  moduleBootstrapLog: string;
  appliedLatenciesMs: number[];
  servedLatenciesMs?: number[];
  fileIngestSeconds?: number;
  fileChangeSeconds?: number;
}

async function main(): Promise<void> {
  if (COUNTS.length === 0) {
    throw new Error('usage: .ci/backstage.sh bench [--applied-only] COUNT [COUNT…] (e.g. 10000 100000)');
  }
  const results: Figures[] = [];
  for (const count of COUNTS) {
    results.push(await measure(count));
    report(results);
  }
}

async function measure(count: number): Promise<Figures> {
  log(`--- ${count} entities`);
  const started = Date.now();
  const weir = await Weir.start({
    plugins: [
      {
        name: 'synthetic',
        manifest: `restLength = "1d"\nburstLength = "30s"\nburstInterval = "0s"\n[config]\ncount = ${count}\npage-size = 1000\n`,
      },
      { name: 'pushing', component: 'plugin_pushing', manifest: 'restLength = "1d"\n[config]\ncount = 1\n' },
    ],
  });
  try {
    await waitFor('Weir to ingest the synthetic entities', async () => ((await weirEntityCount(weir)) >= count + 1 ? true : undefined), HOUR_MS, 1000);
    const weirIngestSeconds = (Date.now() - started) / 1000;
    log(`Weir ingested ${count + 1} entities in ${weirIngestSeconds.toFixed(1)}s`);

    const viaModule = await measureModule(weir, count + 1);
    const viaFile = APPLIED_ONLY ? {} : await measureFile(weir);
    return { count, weirIngestSeconds, ...viaModule, ...viaFile };
  } finally {
    await weir.stop();
  }
}

async function measureModule(weir: Weir, total: number) {
  const started = Date.now();
  const backstage = await Backstage.start({ providers: { bench: { baseUrl: weir.url, pageSize: 5000 } }, catalog: CATALOG });
  try {
    if (APPLIED_ONLY) {
      await waitFor('the module to bootstrap', async () => ((await backstage.status()).providers[0].totals.bootstraps > 0 ? true : undefined), HOUR_MS, 100);
    } else {
      await waitFor('Backstage to serve every entity from Weir', async () => ((await componentCount(backstage)) >= total ? true : undefined), HOUR_MS, 1000);
    }
    const moduleBootstrapSeconds = (Date.now() - started) / 1000;
    const moduleBootstrapLog = backstage.logs().find(line => line.message.startsWith('Bootstrapped'))?.message ?? '';
    log(`through the module: ${total} entities ${APPLIED_ONLY ? 'applied' : 'served'} ${moduleBootstrapSeconds.toFixed(1)}s after Backstage started`);
    const appliedLatenciesMs: number[] = [];
    const servedLatenciesMs: number[] = [];
    for (let index = 1; index <= COMMITS; index++) {
      const { applied, served } = await commitLatency(weir, backstage, `latency-${index}`);
      appliedLatenciesMs.push(applied);
      log(`commit ${index}: applied ${applied}ms after Weir's commit${served === undefined ? '' : `, served after ${served}ms`}`);
      if (served !== undefined) {
        servedLatenciesMs.push(served);
      }
    }
    return {
      moduleBootstrapSeconds,
      moduleBootstrapLog,
      appliedLatenciesMs,
      servedLatenciesMs: APPLIED_ONLY ? undefined : servedLatenciesMs,
    };
  } finally {
    await backstage.stop();
  }
}

/** Milliseconds from a pushed entity's commit in Weir to the module applying it, and to Backstage serving it. */
async function commitLatency(weir: Weir, backstage: Backstage, name: string): Promise<{ applied: number; served?: number }> {
  await weir.push({ upsert: [component(name)] });
  const committed = Date.now();
  const head = await weir.headOffset();
  await waitFor(`the module to apply offset ${head}`, async () => {
    const offset = (await backstage.status()).providers[0].offset ?? 0;
    return offset >= head ? true : undefined;
  }, 600_000, 5);
  const applied = Date.now() - committed;
  if (APPLIED_ONLY) {
    return { applied };
  }
  await waitFor(`Backstage to serve ${name}`, async () => ((await backstage.entity('component', name)) ? true : undefined), 600_000, 20);
  return { applied, served: Date.now() - committed };
}

async function measureFile(weir: Weir) {
  const dir = tempDir('bench-file');
  const file = path.join(dir, 'catalog-info.yaml');
  const entities = [...(await weir.entities()).values()];
  // JSON is YAML: one document per entity.
  fs.writeFileSync(file, entities.map(entity => JSON.stringify(entity)).join('\n---\n'));
  const started = Date.now();
  const backstage = await Backstage.start({ catalog: { ...CATALOG, locations: [{ type: 'file', target: file }] } });
  try {
    await waitFor('Backstage to serve every entity of the file', async () => ((await componentCount(backstage)) >= entities.length ? true : undefined), HOUR_MS, 1000);
    const fileIngestSeconds = (Date.now() - started) / 1000;
    log(`through a file location: ${entities.length} entities served ${fileIngestSeconds.toFixed(1)}s after Backstage started`);
    fs.appendFileSync(file, `\n---\n${JSON.stringify(component('file-change'))}`);
    const changed = Date.now();
    await refreshLocations(backstage);
    await waitFor('Backstage to serve the appended entity', async () => ((await backstage.entity('component', 'file-change')) ? true : undefined), 600_000, 250);
    const fileChangeSeconds = (Date.now() - changed) / 1000;
    log(`through a file location: an appended entity served after ${fileChangeSeconds.toFixed(1)}s`);
    return { fileIngestSeconds, fileChangeSeconds };
  } finally {
    await backstage.stop();
  }
}

/** Asks Backstage to read its location entities again now (what the UI's refresh button does). */
async function refreshLocations(backstage: Backstage): Promise<void> {
  const page = await getJson<{ items: { metadata: { name: string } }[] }>(
    `${backstage.url}/api/catalog/entities/by-query?filter=kind=location`,
  );
  for (const location of page.items) {
    const response = await fetch(`${backstage.url}/api/catalog/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ entityRef: `location:default/${location.metadata.name}` }),
    });
    if (!response.ok) {
      throw new Error(`refreshing location ${location.metadata.name}: HTTP ${response.status}`);
    }
  }
}

async function componentCount(backstage: Backstage): Promise<number> {
  const page = await getJson<{ totalItems: number }>(`${backstage.url}/api/catalog/entities/by-query?limit=1&filter=kind=component`);
  return page.totalItems;
}

/** Weir's `weir_entities` gauge: cheaper than listing 100,000 entities to count them. */
async function weirEntityCount(weir: Weir): Promise<number> {
  const response = await fetch(`${weir.url}/metrics`);
  const match = /^weir_entities (\d+)/m.exec(await response.text());
  return match ? Number(match[1]) : 0;
}

function component(name: string) {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name },
    spec: { type: 'service', owner: 'group:default/bench', lifecycle: 'experimental' },
  };
}

function report(results: Figures[]): void {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const latencies = (values?: number[]) => (values ? `${median(values)} ms / ${Math.max(...values)} ms` : '—');
  const duration = (seconds?: number) => (seconds === undefined ? '—' : `${seconds.toFixed(1)} s`);
  console.log(`\ncommand: .ci/backstage.sh bench ${ARGS.join(' ')}  (WEIR_BIN=${process.env.WEIR_BIN ?? 'target/debug/weir'})`);
  console.log(
    `| entities | Weir ingests | module: all ${APPLIED_ONLY ? 'applied' : 'served'} after start | module: commit → applied (median / max of 5) | ` +
      'module: commit → served (median / max) | file location: all served after start | file location: appended entity served after a refresh |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.count} | ${duration(r.weirIngestSeconds)} | ${duration(r.moduleBootstrapSeconds)} | ` +
        `${latencies(r.appliedLatenciesMs)} | ${latencies(r.servedLatenciesMs)} | ` +
        `${duration(r.fileIngestSeconds)} | ${duration(r.fileChangeSeconds)} |`,
    );
  }
  for (const r of results) {
    console.log(`${r.count}: ${r.moduleBootstrapLog}`);
  }
}

function log(message: string): void {
  console.log(`[${new Date().toISOString()}] ${message}`);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
