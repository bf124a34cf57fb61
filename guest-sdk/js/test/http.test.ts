// The HTTP client's pure parts: URL splitting, error codes, responses.

import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceError } from "../src/errors.js";
import { errorFromCode, headerPairs, HttpError, Response, splitUrl } from "../src/http/message.js";
import { encodeUtf8 } from "../src/utf8.js";

test("URLs split into scheme, host and path", () => {
  assert.deepEqual(splitUrl("https://api.x.dev:8443/v1/items?page=2#top"), {
    scheme: "https",
    authority: "api.x.dev:8443",
    pathWithQuery: "/v1/items?page=2",
  });
  assert.deepEqual(splitUrl("HTTP://x.y?a=1"), { scheme: "http", authority: "x.y", pathWithQuery: "/?a=1" });
  assert.equal(splitUrl("http://x.y").pathWithQuery, "/");
  for (const bad of ["ftp://x.y", "x.y/path", "http:///path"]) {
    assert.throws(
      () => splitUrl(bad),
      (error: unknown) => error instanceof HttpError && error.reason === "invalid-url",
      bad,
    );
  }
});

test("error codes map to denied, timeout and failed, with their kinds", () => {
  const denied = errorFromCode("http://x", { tag: "HTTP-request-denied" });
  assert.deepEqual(
    [denied.reason, denied.kind, denied.message],
    ["denied", "fatal", "request denied by the host: http://x"],
  );
  const timeout = errorFromCode("http://x", { tag: "connection-read-timeout" });
  assert.deepEqual([timeout.reason, timeout.kind], ["timeout", "transient"]);
  const refused = errorFromCode("http://x", { tag: "DNS-error", val: { rcode: "NXDOMAIN" } });
  assert.deepEqual([refused.reason, refused.kind], ["failed", "transient"]);
  assert.equal(refused.message, 'request failed: http://x: DNS-error {"rcode":"NXDOMAIN"}');
  assert.ok(refused instanceof SourceError);
});

test("responses give headers, text and JSON", () => {
  const response = new Response("http://x/a", 200, [["retry-after", "5"]], encodeUtf8('{"items":["é"]}'));
  assert.equal(response.ok, true);
  assert.equal(response.header("Retry-After"), "5");
  assert.deepEqual(response.json(), { items: ["é"] });
  const html = new Response("http://x/b", 404, [], encodeUtf8("<html>"));
  assert.equal(html.ok, false);
  assert.throws(
    () => html.json(),
    (error: unknown) =>
      error instanceof SourceError &&
      error.kind === "fatal" &&
      error.message.startsWith("http://x/b: the response is not JSON"),
  );
});

test("headers come as a record or as pairs", () => {
  assert.deepEqual(headerPairs({ accept: "application/json" }), [["accept", "application/json"]]);
  assert.deepEqual(
    headerPairs([
      ["a", "1"],
      ["a", "2"],
    ]),
    [
      ["a", "1"],
      ["a", "2"],
    ],
  );
  assert.deepEqual(headerPairs(undefined), []);
});
