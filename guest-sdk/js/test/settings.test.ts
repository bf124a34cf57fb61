// Config and secrets: lookups, required keys, and parsing with getOr.

import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceError } from "../src/errors.js";
import { Config, Secrets } from "../src/settings.js";

const values: Record<string, string> = { count: " 250 ", ratio: "0.5", verbose: "true", name: "teams", bad: "12a" };
// Hosts give `null` for a key that is not set (QuickJS) or `undefined` (StarlingMonkey).
const config = new Config("config", (key) => values[key] ?? null);

function fatal(pattern: RegExp) {
  return (error: unknown): boolean =>
    error instanceof SourceError && error.kind === "fatal" && pattern.test(error.message);
}

test("get and require", () => {
  assert.equal(config.get("name"), "teams");
  assert.equal(config.get("missing"), undefined);
  assert.equal(config.require("name"), "teams");
  assert.throws(() => config.require("missing"), fatal(/^config `missing` is required but not set$/));
  const secrets = new Secrets("secret", () => undefined);
  assert.throws(() => secrets.require("token"), fatal(/^secret `token` is required but not set$/));
});

test("getOr parses like its fallback", () => {
  assert.equal(config.getOr("count", 10), 250);
  assert.equal(config.getOr("ratio", 1), 0.5);
  assert.equal(config.getOr("missing", 10), 10);
  assert.equal(config.getOr("verbose", false), true);
  assert.equal(config.getOr("name", "x"), "teams");
  assert.throws(() => config.getOr("bad", 1), fatal(/^config `bad`: cannot use "12a": expected a number$/));
  assert.throws(
    () => config.getOr("name", false),
    fatal(/^config `name`: cannot use "teams": expected true or false$/),
  );
});
