// The entity builder and the other ways to make an entity.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ANNOTATION_LOCATION, ANNOTATION_ORIGIN_LOCATION, Entity } from "../src/entity.js";

test("the builder produces Backstage's envelope", () => {
  const entity = Entity.builder("Component", "payments")
    .namespace("shop")
    .title("Payments")
    .description("Takes the money")
    .annotation("example.com/owner-id", "42")
    .label("tier", "gold")
    .tag("typescript")
    .tag("payments")
    .link("https://example.com", "Home")
    .managedBy("url:https://example.com/catalog-info.yaml")
    .spec("type", "service")
    .spec("dependsOn", ["component:default/ledger"])
    .locationKey("url:https://example.com")
    .build();
  assert.deepEqual(JSON.parse(entity.json), {
    apiVersion: "backstage.io/v1alpha1",
    kind: "Component",
    metadata: {
      name: "payments",
      namespace: "shop",
      title: "Payments",
      description: "Takes the money",
      labels: { tier: "gold" },
      tags: ["typescript", "payments"],
      annotations: {
        "example.com/owner-id": "42",
        [ANNOTATION_LOCATION]: "url:https://example.com/catalog-info.yaml",
        [ANNOTATION_ORIGIN_LOCATION]: "url:https://example.com/catalog-info.yaml",
      },
      links: [{ url: "https://example.com", title: "Home" }],
    },
    spec: { type: "service", dependsOn: ["component:default/ledger"] },
  });
  assert.equal(entity.locationKey, "url:https://example.com");
});

test("a minimal entity has an empty spec and no location key", () => {
  const entity = Entity.builder("Group", "team-a").apiVersion("example.com/v1").build();
  assert.deepEqual(JSON.parse(entity.json), {
    apiVersion: "example.com/v1",
    kind: "Group",
    metadata: { name: "team-a" },
    spec: {},
  });
  assert.equal(entity.locationKey, undefined);
});

test("metadataField sets any field; annotation calls replace one of the same name", () => {
  const entity = Entity.builder("API", "orders")
    .metadataField("uid", "1234")
    .metadataField("annotations", { dropped: "yes" })
    .annotation("kept", "yes")
    .build();
  const metadata = (JSON.parse(entity.json) as { metadata: Record<string, unknown> }).metadata;
  assert.equal(metadata.uid, "1234");
  assert.deepEqual(metadata.annotations, { kept: "yes" });
});

test("entities from a value or from JSON text keep it as given", () => {
  const fromValue = Entity.fromValue({ kind: "Group", spec: { children: [] } }, "key");
  assert.equal(fromValue.json, '{"kind":"Group","spec":{"children":[]}}');
  assert.equal(fromValue.locationKey, "key");
  const fromText = Entity.fromJsonText('{"kind":"Group"}');
  assert.equal(fromText.json, '{"kind":"Group"}');
  assert.equal(fromText.withLocationKey("k").locationKey, "k");
  assert.equal(fromText.locationKey, undefined);
  assert.throws(() => Entity.fromJsonText({} as unknown as string), /takes a string, not object/);
});
