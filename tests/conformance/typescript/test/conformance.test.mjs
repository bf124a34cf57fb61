// The conformance source run natively (Node, stubbed host imports): the cases
// `weir run` cannot reach, bad cursors and pushed events, checked against
// tests/conformance/README.md.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire, register } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

// The bundler the SDK builds with.
const esbuild = createRequire(import.meta.resolve("weir-guest"))("esbuild");

const project = fileURLToPath(new URL("..", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "conformance-test-"));
let conformance;

before(async () => {
  register(new URL("./host-stubs.mjs", import.meta.url));
  const outfile = join(scratch, "conformance.mjs");
  await esbuild.build({
    entryPoints: [join(project, "src/index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    external: ["weir:*"],
    outfile,
    logLevel: "silent",
  });
  conformance = await import(pathToFileURL(outfile).href);
});

after(() => rmSync(scratch, { recursive: true, force: true }));

beforeEach(() => {
  globalThis.weirTestHost = { config: {}, secrets: {}, logs: [] };
});

/** The `source-error` a call threw. */
function sourceError(call) {
  try {
    call();
  } catch (error) {
    return error.payload;
  }
  assert.fail("did not throw");
}

const utf8 = (text) => new TextEncoder().encode(text);

test("a cursor that is not {page: N} within the cycle is fatal, naming the text as received", () => {
  const burst = conformance.source.Burst.open();
  for (const cursor of ['{"page": 3}', '{"page":-1}', '{"page":1.5}', "[1]", "null", "{page", '{"page":1,"x":2}']) {
    assert.deepEqual(
      sourceError(() => burst.next(cursor)),
      { tag: "fatal", val: `conformance: bad cursor: ${cursor}` },
    );
  }
  assert.equal(burst.next('{ "page" : 2 }').done, true);
  assert.deepEqual(globalThis.weirTestHost.logs, ["info conformance: open (no token)", "debug conformance: page 2"]);
});

test("next is a pure function of its cursor", () => {
  globalThis.weirTestHost.config = { pages: "4", "per-page": "3" };
  const first = conformance.source.Burst.open().next('{"page":1}');
  const second = conformance.source.Burst.open().next('{"page":1}');
  assert.deepEqual(first, second);
  assert.equal(first.cursor, '{"page":2}');
  assert.deepEqual(
    first.entities.map((entity) => entity.locationKey),
    ["conformance:3", "conformance:4", "conformance:5"],
  );
});

test("push upserts and removes entities by number", () => {
  globalThis.weirTestHost.config = { "per-page": "4" };
  const result = conformance.push.handle({ headers: [], body: utf8('{"upsert": [5, 0], "remove": [7]}') });
  assert.deepEqual(result.removals, ["component:default/conformance-7"]);
  const five = JSON.parse(result.upserts[0].json);
  assert.equal(five.metadata.name, "conformance-5");
  assert.deepEqual(five.metadata.tags, ["conformance", "page-1"]);
  assert.equal(five.spec.ratio, 1.25);
  assert.deepEqual(five.spec.dependsOn, ["component:default/conformance-4"]);
  assert.equal(result.upserts[1].locationKey, "conformance:0");
  assert.deepEqual(conformance.push.handle({ headers: [], body: utf8("{}") }), { upserts: [], removals: [] });
});

test("a push body that is not valid is fatal; the fail header is transient, whatever its case", () => {
  for (const body of [
    "nope",
    "[]",
    '{"upsert": "1"}',
    '{"upsert": null}',
    '{"remove": [-1]}',
    '{"upsert": [1.5]}',
    '{"upsert": [1000000]}',
    '{"upserts": [1]}',
  ]) {
    const error = sourceError(() => conformance.push.handle({ headers: [], body: utf8(body) }));
    assert.equal(error.tag, "fatal", body);
    assert.match(error.val, /^conformance: push body is not valid: /, body);
  }
  const headers = [["X-Conformance-Fail", "transient"]];
  assert.deepEqual(
    sourceError(() => conformance.push.handle({ headers, body: utf8("not even read") })),
    { tag: "transient", val: "conformance: push failed" },
  );
});

test("config errors quote the value raw, and every key is checked in the README's order", () => {
  globalThis.weirTestHost.config = { "fail-close": "sometimes", "fail-open": "fatal", pages: '"1"' };
  assert.deepEqual(
    sourceError(() => conformance.source.Burst.open()),
    { tag: "fatal", val: 'conformance: config `pages`: expected a number from 1 to 1000, got ""1""' },
  );
  globalThis.weirTestHost.config = { "fail-close": "sometimes", "fail-open": "fatal" };
  assert.deepEqual(
    sourceError(() => conformance.source.Burst.open()),
    { tag: "fatal", val: 'conformance: config `fail-close`: expected transient or fatal, got "sometimes"' },
  );
  assert.deepEqual(globalThis.weirTestHost.logs, [
    "info conformance: open (no token)",
    "info conformance: open (no token)",
  ]);
});
