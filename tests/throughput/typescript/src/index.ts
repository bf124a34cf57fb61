// The throughput source (provider `throughput-typescript`): config `count`
// (default 10000) Component entities of about 1.2 KB each, 500 a page; the
// cursor is the next entity's index. Config `style` picks how the entities
// are made with the SDK: `builder` (the default: `Entity.builder`) or
// `json` (JSON text in an `entityJson` template, the SDK's fast path); both
// give the same entities. They are those of the Rust, Python and C
// throughput sources, so `weir bench languages` compares languages rather
// than entities.

import { config, Entity, entityJson, exportSource, Page, SourceError, type Source } from "weir-guest";

const PAGE_SIZE = 500;
const TIERS = ["gold", "silver", "bronze"];
const LIFECYCLES = ["production", "experimental", "deprecated"];

/** Entity `index`: every field varies with it, so no two are alike. */
function component(index: number): Entity {
  const name = `service-${String(index).padStart(6, "0")}`;
  const repository = `https://git.example.com/platform/${name}`;
  return Entity.builder("Component", name)
    .namespace("default")
    .title(`Service ${index}`)
    .description(
      `Synthetic service ${index}, one of the entities the TypeScript throughput source ` +
        "generates to measure how fast a TypeScript guest hands entities to the host.",
    )
    .annotation("github.com/project-slug", `platform/${name}`)
    .annotation("backstage.io/techdocs-ref", `url:${repository}`)
    .annotation("pagerduty.com/service-id", `P${String(index).padStart(7, "0")}`)
    .label("tier", TIERS[index % 3] ?? "gold")
    .label("weir.dev/index", String(index))
    .tag("typescript")
    .tag("throughput")
    .tag(`group-${index % 50}`)
    .link(`https://dashboards.example.com/d/${name}`, `Dashboard of ${name}`)
    .link(`https://runbooks.example.com/${name}`, `Runbook of ${name}`)
    .managedBy(`url:${repository}/blob/main/catalog-info.yaml`)
    .spec("type", "service")
    .spec("lifecycle", LIFECYCLES[index % 3] ?? "production")
    .spec("owner", `group:default/team-${index % 40}`)
    .spec("system", `system-${index % 20}`)
    .spec("dependsOn", [
      `component:default/service-${String(index + 1).padStart(6, "0")}`,
      `resource:default/db-${index % 100}`,
    ])
    .spec("providesApis", [`api-${String(index).padStart(6, "0")}`])
    .build();
}

/** Entity `index` as JSON text: the same entity as `component(index)`. */
function written(index: number): Entity {
  const name = `service-${String(index).padStart(6, "0")}`;
  const repository = `https://git.example.com/platform/${name}`;
  const location = `url:${repository}/blob/main/catalog-info.yaml`;
  const description =
    `Synthetic service ${index}, one of the entities the TypeScript throughput source ` +
    "generates to measure how fast a TypeScript guest hands entities to the host.";
  const dependsOn = [
    `component:default/service-${String(index + 1).padStart(6, "0")}`,
    `resource:default/db-${index % 100}`,
  ];
  return entityJson`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{
    "name":${name},"namespace":"default","title":${`Service ${index}`},"description":${description},
    "annotations":{"github.com/project-slug":${`platform/${name}`},
      "backstage.io/techdocs-ref":${`url:${repository}`},
      "pagerduty.com/service-id":${`P${String(index).padStart(7, "0")}`},
      "backstage.io/managed-by-location":${location},"backstage.io/managed-by-origin-location":${location}},
    "labels":{"tier":${TIERS[index % 3] ?? "gold"},"weir.dev/index":${String(index)}},
    "tags":["typescript","throughput",${`group-${index % 50}`}],
    "links":[{"url":${`https://dashboards.example.com/d/${name}`},"title":${`Dashboard of ${name}`}},
      {"url":${`https://runbooks.example.com/${name}`},"title":${`Runbook of ${name}`}}]},
  "spec":{"type":"service","lifecycle":${LIFECYCLES[index % 3] ?? "production"},
    "owner":${`group:default/team-${index % 40}`},"system":${`system-${index % 20}`},
    "dependsOn":${dependsOn},"providesApis":${[`api-${String(index).padStart(6, "0")}`]}}}`;
}

/** How many entities a cycle has, and how they are made. */
interface Settings {
  count: number;
  make: (index: number) => Entity;
}

const throughput: Source<Settings, number> = {
  providerName: "throughput-typescript",

  open() {
    const style = config.getOr("style", "builder");
    if (style !== "builder" && style !== "json") {
      throw SourceError.fatal(`config \`style\`: cannot use "${style}": expected builder or json`);
    }
    return {
      count: config.getOr("count", 10000),
      make: style === "json" ? written : component,
    };
  },

  next({ count, make }, cursor) {
    const start = cursor ?? 0;
    const end = Math.min(start + PAGE_SIZE, count);
    const entities: Entity[] = [];
    for (let index = start; index < end; index++) {
      entities.push(make(index));
    }
    return end < count ? Page.more(entities, end) : Page.last(entities);
  },
};

export const source = exportSource(throughput);
