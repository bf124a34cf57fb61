// Starts and stops the real processes the tests and the benchmark drive: a
// `weir serve` (its own port, SQLite file and plugins folder) and a Backstage
// backend (its own port and SQLite folder) following it. Every process started
// here is killed when the test process exits, even after a failure.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

/** The repository's root, from build/test/ (compiled) or test/ (sources). */
const REPO_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}build${path.sep}`) ? '../../../..' : '../../..');
const PACKAGE_ROOT = path.resolve(REPO_ROOT, 'integrations/backstage');

export const WEIR_BIN = path.resolve(REPO_ROOT, process.env.WEIR_BIN ?? 'target/debug/weir');
export const WEIR_GUESTS = path.resolve(REPO_ROOT, process.env.WEIR_GUESTS ?? 'target/guests/wasm32-wasip2/release');
/** The admin token of every Weir started here (pushes need it). */
export const ADMIN_TOKEN = 'weir-backstage-test-admin-token';

const running = new Set<ChildProcess>();
const temporary: string[] = [];
process.on('exit', () => {
  for (const child of running) {
    child.kill('SIGKILL');
  }
  if (!process.env.WEIR_TEST_KEEP) {
    for (const dir of temporary) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
// A signal ends the process without 'exit' handlers unless it is handled.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A fresh folder under the system's temporary directory, removed at exit unless WEIR_TEST_KEEP is set. */
export function tempDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `weir-backstage-${name}-`));
  temporary.push(dir);
  return dir;
}

/** Thrown by a `waitFor` check to stop waiting at once (e.g. the process died). */
export class StopWaiting extends Error {}

/**
 * Polls `check` until it returns a value other than undefined, or fails
 * after `timeoutMs` (at once if it throws `StopWaiting`).
 */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) {
        return value;
      }
    } catch (error) {
      if (error instanceof StopWaiting) {
        throw new Error(`Gave up waiting for ${typeof what === 'string' ? what : what()}: ${error.message}`);
      }
      lastError = error;
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
  const description = typeof what === 'string' ? what : what();
  throw new Error(`Timed out after ${timeoutMs}ms waiting for ${description}${lastError ? `: ${lastError}` : ''}`);
}

export async function getJson<T = unknown>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!response.ok) {
    throw new Error(`GET ${url}: HTTP ${response.status}: ${await response.text()}`);
  }
  return (await response.json()) as T;
}

/** A child process whose output is kept (and, with WEIR_TEST_VERBOSE, echoed). */
class Child {
  readonly output: string[] = [];
  private child?: ChildProcess;

  constructor(
    private readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly options: { cwd: string; env: NodeJS.ProcessEnv },
  ) {}

  start(): void {
    const child = spawn(this.command, this.args, { ...this.options, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          this.output.push(line);
          if (process.env.WEIR_TEST_VERBOSE) {
            process.stderr.write(`[${this.name}] ${line}\n`);
          }
        }
      });
    }
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after 20 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) {
      return;
    }
    const exited = once(child, 'exit');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  /** The last lines, for failure messages. */
  tail(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }
}

export interface WeirOptions {
  /**
   * Plugins to copy from WEIR_GUESTS: the source's name (Weir runs a plugin
   * only under the provider name its component answers to, as the file's
   * stem), the component's file stem there when it differs, and optional
   * manifest text.
   */
  plugins: { name: string; component?: string; manifest?: string }[];
  /** Extra `weir.toml` text (`[http]`, `[sources.*]`). */
  settings?: string;
}

/** A `weir serve` on its own port, database and plugins folder. */
export class Weir {
  readonly dir = tempDir('weir');
  readonly pluginsDir = path.join(this.dir, 'plugins');
  private child?: Child;

  private constructor(readonly port: number) {}

  static async start(options: WeirOptions): Promise<Weir> {
    const weir = new Weir(await freePort());
    fs.mkdirSync(weir.pluginsDir);
    for (const plugin of options.plugins) {
      const component = path.join(WEIR_GUESTS, `${plugin.component ?? plugin.name}.wasm`);
      fs.copyFileSync(component, path.join(weir.pluginsDir, `${plugin.name}.wasm`));
      if (plugin.manifest) {
        weir.writeManifest(plugin.name, plugin.manifest);
      }
    }
    const config = [
      `database = "sqlite://${path.join(weir.dir, 'weir.db')}"`,
      `plugins = "${weir.pluginsDir}"`,
      `listen = "127.0.0.1:${weir.port}"`,
      options.settings ?? '',
    ].join('\n');
    fs.writeFileSync(path.join(weir.dir, 'weir.toml'), config);
    await weir.resume();
    return weir;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get output(): string[] {
    return this.child?.output ?? [];
  }

  /** Writes a plugin's manifest; Weir reloads the source's settings at its next burst. */
  writeManifest(name: string, text: string): void {
    const file = path.join(this.pluginsDir, `${name}.toml`);
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Starts (again) on the same port and database, and waits until it answers. */
  async resume(): Promise<void> {
    const cache = path.join(os.tmpdir(), 'weir-backstage-test-cache');
    this.child = new Child('weir', WEIR_BIN, ['serve', '--config', path.join(this.dir, 'weir.toml'), '--cache-dir', cache], {
      cwd: this.dir,
      env: { ...process.env, WEIR_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    this.child.start();
    const child = this.child;
    await waitFor(() => `weir serve at ${this.url} to be ready\n${child.tail()}`, async () => {
      if (!child.alive) {
        throw new StopWaiting('weir serve exited');
      }
      const response = await fetch(`${this.url}/readyz`);
      return response.ok ? true : undefined;
    }, 60_000);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.child?.stop(signal);
  }

  /** Waits until the catalog holds `count` entities; a failure shows Weir's last lines. */
  async waitForCount(what: string, count: number, timeoutMs = 60_000): Promise<void> {
    let seen = 0;
    await waitFor(
      () => `${what} (${count} entities; ${seen} so far). Weir's last lines:\n${this.child?.tail(20) ?? ''}`,
      async () => {
        seen = (await this.entities()).size;
        return seen === count ? true : undefined;
      },
      timeoutMs,
    );
  }

  /** Every entity of the catalog, by ref. */
  async entities(): Promise<Map<string, WeirEntity>> {
    const entities = new Map<string, WeirEntity>();
    let cursor: string | undefined;
    do {
      const query = cursor ? `&cursor=${cursor}` : '';
      const page = await getJson<{ items: { entityRef: string; entity: WeirEntity }[]; pageInfo: { nextCursor?: string } }>(
        `${this.url}/api/entities?limit=5000${query}`,
      );
      for (const item of page.items) {
        entities.set(item.entityRef, item.entity);
      }
      cursor = page.pageInfo.nextCursor;
    } while (cursor);
    return entities;
  }

  /** Hands a pushed event to the `pushing` test plugin. */
  async push(body: { upsert?: unknown[]; remove?: string[] }): Promise<void> {
    const response = await fetch(`${this.url}/api/sources/pushing/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`pushing to ${this.url}: HTTP ${response.status}: ${await response.text()}`);
    }
  }

  /** The event log's head. */
  async headOffset(): Promise<number> {
    const page = await getJson<{ headOffset: number }>(`${this.url}/api/events?offset=0&limit=1`);
    return page.headOffset;
  }
}

export interface WeirEntity {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; [key: string]: unknown };
  spec?: Record<string, unknown>;
}

export interface BackstageOptions {
  /** The `catalog.providers.weir.<id>` entries; omitted: none. */
  providers?: Record<string, Record<string, unknown>>;
  /** Extra `catalog` config (e.g. `locations`). */
  catalog?: Record<string, unknown>;
  /** `backend.database`; default: SQLite files in the backend's own folder. */
  database?: Record<string, unknown>;
}

/** A Backstage backend (catalog plus this module) on its own port and SQLite folder. */
export class Backstage {
  readonly dir = tempDir('backstage');
  private child?: Child;
  /** Output of earlier runs, so counts can span restarts. */
  readonly previousOutput: string[] = [];

  private constructor(
    readonly port: number,
    private readonly options: BackstageOptions,
  ) {}

  static async start(options: BackstageOptions): Promise<Backstage> {
    const backstage = new Backstage(await freePort(), options);
    backstage.writeConfig();
    await backstage.resume();
    return backstage;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private writeConfig(): void {
    const config = {
      backend: {
        baseUrl: this.url,
        listen: { host: '127.0.0.1', port: this.port },
        database: this.options.database ?? {
          client: 'better-sqlite3',
          connection: { directory: path.join(this.dir, 'db') },
        },
        auth: { dangerouslyDisableDefaultAuthPolicy: true },
      },
      catalog: {
        processingInterval: { seconds: 5 },
        providers: this.options.providers ? { weir: this.options.providers } : undefined,
        ...this.options.catalog,
      },
    };
    fs.writeFileSync(path.join(this.dir, 'app-config.json'), JSON.stringify(config, null, 1));
  }

  /** Starts (again) on the same port and database, and waits until the catalog answers. */
  async resume(): Promise<void> {
    if (this.child) {
      this.previousOutput.push(...this.child.output);
    }
    const script = path.resolve(__dirname, 'fixtures/backend.js');
    this.child = new Child('backstage', process.execPath, [script, '--config', path.join(this.dir, 'app-config.json')], {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
    });
    this.child.start();
    const child = this.child;
    await waitFor(() => `Backstage at ${this.url} to serve its catalog\n${child.tail()}`, async () => {
      if (!child.alive) {
        throw new StopWaiting('the backend exited');
      }
      const response = await fetch(`${this.url}/api/catalog/entities?limit=1`);
      return response.ok ? true : undefined;
    }, 90_000, 500);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.child?.stop(signal);
  }

  get alive(): boolean {
    return this.child?.alive ?? false;
  }

  /** The last lines of this run, less the access log (each test's polling fills it). */
  tail(lines = 20): string {
    const output = this.child?.output ?? [];
    return output
      .filter(line => !line.includes('"type":"incomingRequest"'))
      .slice(-lines)
      .join('\n');
  }

  /** The JSON log lines of this run (NODE_ENV=production logs JSON). */
  logs(): BackstageLogLine[] {
    return parseLogs(this.child?.output ?? []);
  }

  /** The JSON log lines of every run so far. */
  allLogs(): BackstageLogLine[] {
    return parseLogs([...this.previousOutput, ...(this.child?.output ?? [])]);
  }

  /** Every entity Backstage serves, by ref. */
  async entities(): Promise<Map<string, WeirEntity>> {
    const entities = await getJson<WeirEntity[]>(`${this.url}/api/catalog/entities`);
    return new Map(entities.map(entity => [refOf(entity), entity]));
  }

  async entity(kind: string, name: string): Promise<WeirEntity | undefined> {
    const response = await fetch(`${this.url}/api/catalog/entities/by-name/${kind}/default/${name}`);
    if (response.status === 404) {
      return undefined;
    }
    if (!response.ok) {
      throw new Error(`GET by-name ${kind}/${name}: HTTP ${response.status}`);
    }
    return (await response.json()) as WeirEntity;
  }

  async status(): Promise<WeirStatus> {
    return getJson<WeirStatus>(`${this.url}/api/catalog/weir/status`);
  }
}

export interface BackstageLogLine {
  level: string;
  message: string;
  plugin?: string;
  provider?: string;
  [key: string]: unknown;
}

export interface WeirStatus {
  healthy: boolean;
  providers: {
    provider: string;
    state: string;
    healthy: boolean;
    offset?: number;
    consecutiveFailures: number;
    totals: {
      bootstraps: number;
      bootstrapEntities: number;
      deltaMutations: number;
      upserts: number;
      removals: number;
      offsetsGone: number;
    };
  }[];
}

function parseLogs(lines: string[]): BackstageLogLine[] {
  const parsed: BackstageLogLine[] = [];
  for (const line of lines) {
    if (line.startsWith('{')) {
      try {
        parsed.push(JSON.parse(line) as BackstageLogLine);
      } catch {
        // A line that merely starts with a brace is not a log record.
      }
    }
  }
  return parsed;
}

export function refOf(entity: WeirEntity): string {
  return `${entity.kind}:${entity.metadata.namespace ?? 'default'}/${entity.metadata.name}`.toLowerCase();
}

/**
 * Waits until Backstage serves exactly Weir's entities (the same refs, the
 * same spec) and returns both catalogs.
 */
export async function waitForSameCatalog(
  weir: Weir,
  backstage: Backstage,
  timeoutMs = 90_000,
): Promise<{ weirEntities: Map<string, WeirEntity>; backstageEntities: Map<string, WeirEntity> }> {
  let difference = '';
  try {
    return await waitFor('Backstage to serve the same entities as Weir', async () => {
      const [weirEntities, backstageEntities] = await Promise.all([weir.entities(), backstage.entities()]);
      difference = describeDifference(weirEntities, backstageEntities);
      return difference ? undefined : { weirEntities, backstageEntities };
    }, timeoutMs, 500);
  } catch (error) {
    throw new Error(`${error}\nlast difference: ${difference}\nBackstage's last lines:\n${backstage.tail(20)}`);
  }
}

/** '' when both hold the same refs with the same spec; otherwise what differs. */
export function describeDifference(expected: Map<string, WeirEntity>, actual: Map<string, WeirEntity>): string {
  const missing = [...expected.keys()].filter(ref => !actual.has(ref));
  const extra = [...actual.keys()].filter(ref => !expected.has(ref));
  const changed = [...expected.keys()].filter(
    ref => actual.has(ref) && !isDeepStrictEqual(expected.get(ref)?.spec ?? {}, actual.get(ref)?.spec ?? {}),
  );
  if (!missing.length && !extra.length && !changed.length) {
    return '';
  }
  const some = (refs: string[]) => `${refs.length} (${refs.slice(0, 5).join(', ')}${refs.length > 5 ? ', …' : ''})`;
  return `missing ${some(missing)}, extra ${some(extra)}, different spec ${some(changed)}`;
}
