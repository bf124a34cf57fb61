// `entityJson`: entities written as JSON text, with their values encoded in place.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Entity } from "../src/entity.js";
import { entityJson } from "../src/entity_json.js";

test("entityJson gives the entity the builder gives", () => {
  const [name, tags, replicas] = ["payments", ["a", "b"], 3];
  const written = entityJson`{"apiVersion":"backstage.io/v1alpha1","kind":"Component",
    "metadata":{"name":${name},"tags":${tags}},
    "spec":{"type":"service","replicas":${replicas},"on":${true},"owner":${null},"extra":${{ a: [1] }}}}`;
  const built = Entity.builder("Component", name)
    .tag("a")
    .tag("b")
    .spec("type", "service")
    .spec("replicas", replicas)
    .spec("on", true)
    .spec("owner", null)
    .spec("extra", { a: [1] })
    .build();
  assert.deepEqual(JSON.parse(written.json), JSON.parse(built.json));
  assert.equal(written.locationKey, undefined);
  assert.equal(written.withLocationKey("url:x").locationKey, "url:x");
});

test("a value cannot break out of its place", () => {
  const hostile = '", "kind": "Hijacked", "x": "\\\n\u0000\u2028';
  const entity = entityJson`{"kind":"Component","metadata":{"name":${hostile}}}`;
  assert.deepEqual(JSON.parse(entity.json), { kind: "Component", metadata: { name: hostile } });
});

test("whitespace between tokens is dropped, whitespace and escapes in strings are kept", () => {
  const entity = entityJson`{
    "kind" : "Component",
    "metadata" : { "name" : ${"x"}, "description" : "two  words,\n\t\" quoted \" \\ \u00e9" }
  }`;
  assert.equal(
    entity.json,
    '{"kind":"Component","metadata":{"name":"x","description":"two  words,\\n\\t\\" quoted \\" \\\\ \\u00e9"}}',
  );
  const parsed = JSON.parse(entity.json) as { metadata: { description: string } };
  assert.equal(parsed.metadata.description, 'two  words,\n\t" quoted " \\ \u00e9');
});

test("the same template gives each call's values", () => {
  const make = (name: string) => entityJson`{"kind":"Group","metadata":{"name":${name}}}`;
  assert.equal(make("a").json, '{"kind":"Group","metadata":{"name":"a"}}');
  assert.equal(make("b").json, '{"kind":"Group","metadata":{"name":"b"}}');
});

test("a template that is not one JSON object is refused, saying so", () => {
  assert.throws(() => entityJson`{"kind":"Component","metadata":{"name":${"x"}}`, {
    name: "TypeError",
    message: /entityJson: the template is not JSON with a value in each \$\{\}/,
  });
  assert.throws(() => entityJson`[${"x"}]`, {
    name: "TypeError",
    message: /entityJson: the template is not one JSON object: "\[\$\{\}\]"/,
  });
});

test("a place inside a string literal is refused: its quoted value would break the text", () => {
  assert.throws(() => entityJson`{"kind":"Component","metadata":{"name":"service-${"x"}"}}`, {
    name: "TypeError",
    message: /entityJson: the template is not JSON with a value in each \$\{\}.*"name\\":\\"service-\$\{\}\\"/,
  });
});

test("a value JSON cannot hold is refused, naming its place", () => {
  const values: unknown[] = [undefined, () => 1, Symbol("s")];
  for (const value of values) {
    assert.throws(() => entityJson`{"kind":"Component","metadata":{"name":${"x"},"title":${value as string}}}`, {
      name: "TypeError",
      message: `entityJson: value 2 is ${typeof value}, not a JSON value`,
    });
  }
});
