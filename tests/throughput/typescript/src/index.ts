// The throughput source (provider `throughput-typescript`): config `count`
// (default 10000) Component entities of about 1.2 KB each, 500 a page, built
// with the SDK's entity builder; the cursor is the next entity's index. The
// entities are those of the Rust, Python and C throughput sources, so
// `weir bench languages` compares languages rather than entities.

import { config, Entity, exportSource, Page, type Source } from "weir-guest";

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

const throughput: Source<number, number> = {
  providerName: "throughput-typescript",

  /** The number of entities in a cycle. */
  open() {
    return config.getOr("count", 10000);
  },

  next(count, cursor) {
    const start = cursor ?? 0;
    const end = Math.min(start + PAGE_SIZE, count);
    const entities: Entity[] = [];
    for (let index = start; index < end; index++) {
      entities.push(component(index));
    }
    return end < count ? Page.more(entities, end) : Page.last(entities);
  },
};

export const source = exportSource(throughput);
