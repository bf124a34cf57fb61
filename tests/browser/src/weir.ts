// A real `weir serve` for the browser tests, set up as an operator would:
// a folder with its weir.toml and plugins folder (the example sources
// `synthetic` and `hierarchy`, `well-behaved` told to send one invalid
// entity, and `open-transient`, whose set-up always fails), listening on a
// free loopback port with an admin token, its log kept in the folder.

import { ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (this file is built into tests/browser/build/). */
export const ROOT = resolve(__dirname, '..', '..', '..');

export const ADMIN_TOKEN = 'browser-test-admin-token-0123456789';

/** The plugins the server runs: file stem → component in the guests folder. */
const PLUGINS: Record<string, string> = {
  synthetic: 'synthetic.wasm',
  hierarchy: 'hierarchy.wasm',
  'well-behaved': 'plugin_well_behaved.wasm',
  'open-transient': 'plugin_open_transient.wasm',
};

const CONFIG = `
[http]
tombstoneRetention = "7d"
maxWait = "30s"

[sources.synthetic]
restLength = "1h"
burstLength = "30s"
[sources.synthetic.config]
count = "240"
page-size = "40"

[sources.hierarchy]
restLength = "1h"
burstLength = "30s"
[sources.hierarchy.config]
organizations = "2"
projects-per-organization = "2"
components-per-project = "4"

[sources.well-behaved]
restLength = "1h"
priority = 5
[sources.well-behaved.config]
broken = "2"
greeting = "hello from the browser test"

[sources.open-transient]
backoff = ["1h"]
`;

export interface Weir {
  url: string;
  dir: string;
  log: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** The path of `relative` from the repository root, or an error naming what to build. */
function required(relative: string, what: string): string {
  const path = resolve(ROOT, relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${what}`);
  return path;
}

/** This process's environment without Weir's own settings, and the admin token. */
function serveEnvironment(): NodeJS.ProcessEnv {
  const own = new Set(['WEIR_DATABASE_URL', 'WEIR_PLUGINS', 'WEIR_LISTEN', 'WEIR_CACHE_DIR', 'WEIR_READ_TOKEN']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !own.has(name)));
  return { ...env, WEIR_ADMIN_TOKEN: ADMIN_TOKEN, WEIR_LOG: 'info' };
}

/** Start `weir serve` and wait until it answers /readyz. */
export async function startWeir(): Promise<Weir> {
  const bin = required(process.env.WEIR_BIN ?? 'target/debug/weir', 'build it with `cargo build -p weir` or set WEIR_BIN');
  const guests = process.env.WEIR_GUESTS ?? 'target/guests/wasm32-wasip2/release';
  const dir = mkdtempSync(join(tmpdir(), 'weir-browser-'));
  mkdirSync(join(dir, 'plugins'));
  for (const [stem, file] of Object.entries(PLUGINS)) {
    const from = required(join(guests, file), 'build the guests with `cargo test -p weir --test all --no-run` or set WEIR_GUESTS');
    copyFileSync(from, join(dir, 'plugins', `${stem}.wasm`));
  }
  writeFileSync(join(dir, 'weir.toml'), CONFIG);
  const port = await freePort();
  const log = join(dir, 'serve.log');
  const output = createWriteStream(log);
  const child: ChildProcess = spawn(bin, [
    'serve',
    '--config', join(dir, 'weir.toml'),
    '--database', `sqlite://${join(dir, 'weir.db')}`,
    '--plugins', join(dir, 'plugins'),
    '--listen', `127.0.0.1:${port}`,
    '--cache-dir', process.env.WEIR_BROWSER_CACHE ?? join(tmpdir(), 'weir-browser-cache'),
  ], {
    cwd: dir,
    env: serveEnvironment(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.pipe(output);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    output.end();
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`weir serve exited (${child.exitCode}); its log:\n${readFileSync(log, 'utf8')}`);
    }
    try {
      const ready = await fetch(`${url}/readyz`);
      if (ready.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`weir serve did not become ready in 120 s; its log:\n${readFileSync(log, 'utf8')}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return {
    url,
    dir,
    log,
    stop: async () => {
      await stop();
      if (!process.env.WEIR_BROWSER_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A JSON route of the server, as a script calls it. */
export async function apiCall(weir: Weir, path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${weir.url}${path}`, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: kept as text.
  }
  return { status: response.status, body };
}

/** Wait until `check` holds, polling; fail naming `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}
