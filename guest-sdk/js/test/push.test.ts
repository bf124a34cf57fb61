// Pushed events: headers found whatever their case, bodies as text and JSON,
// and the outcome crossing the boundary.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Entity } from "../src/entity.js";
import { BoundaryError, SourceError } from "../src/errors.js";
import { exportPush, PushEvent, PushOutcome } from "../src/push.js";
import { encodeUtf8 } from "../src/utf8.js";

test("headers are found whatever their case, the first one wins", () => {
  const event = new PushEvent(
    [
      ["X-Hub-Signature-256", "sha256=abc"],
      ["x-hub-signature-256", "second"],
    ],
    encodeUtf8('{"action":"created","team":"ünï"}'),
  );
  assert.equal(event.header("x-hub-signature-256"), "sha256=abc");
  assert.equal(event.header("content-type"), undefined);
  assert.deepEqual(event.json(), { action: "created", team: "ünï" });
  assert.throws(
    () => new PushEvent([], new Uint8Array()).json(),
    (error: unknown) =>
      error instanceof SourceError && error.kind === "fatal" && /^the pushed body is not JSON/.test(error.message),
  );
});

test("an outcome collects upserts and removals and crosses the boundary", () => {
  const exported = exportPush({
    handle: (event) =>
      new PushOutcome().upsert(Entity.builder("Group", event.text()).build()).remove("component:default/old"),
  });
  const result = exported.handle({ headers: [], body: [116, 45, 97] });
  assert.deepEqual(result.removals, ["component:default/old"]);
  assert.equal(result.upserts.length, 1);
  assert.match(result.upserts[0]?.json ?? "", /"name":"t-a"/);
});

test("a handler's errors become source errors", () => {
  const exported = exportPush({
    handle: () => {
      throw SourceError.transient("try later");
    },
  });
  assert.throws(
    () => exported.handle({ headers: [], body: new Uint8Array() }),
    (error: unknown) =>
      error instanceof BoundaryError && error.payload.tag === "transient" && error.payload.val === "try later",
  );
});
