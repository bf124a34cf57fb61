// The entity numbered I, as tests/conformance/README.md ("The entity numbered
// I") defines it, built with the SDK's entity builder.

import { Entity } from "weir-guest";

/** Entity `index`, on page `page`. */
export function conformanceEntity(index: number, page: number): Entity {
  return Entity.builder("Component", `conformance-${index}`)
    .namespace("default")
    .title(`Conformance ${index}`)
    .description(`Entity "${index}" of the conformance source: ünïcødé ✓, a tab\tand a newline\n.`)
    .tag("conformance")
    .tag(`page-${page}`)
    .label("weir.dev/index", String(index))
    .managedBy(`url:https://conformance.example/entities/${index}`)
    .spec("type", "service")
    .spec("lifecycle", "production")
    .spec("owner", "group:default/conformance")
    .spec("index", index)
    .spec("even", index % 2 === 0)
    .spec("ratio", index / 4)
    .spec("dependsOn", index > 0 ? [`component:default/conformance-${index - 1}`] : [])
    .locationKey(`conformance:${index}`)
    .build();
}

/** The entities of page `page`: `page * perPage` up to `(page + 1) * perPage - 1`. */
export function pageEntities(page: number, perPage: number): Entity[] {
  const entities: Entity[] = [];
  for (let index = page * perPage; index < (page + 1) * perPage; index++) {
    entities.push(conformanceEntity(index, page));
  }
  return entities;
}

/** The ref a push removes entity `index` by. */
export function conformanceRef(index: number): string {
  return `component:default/conformance-${index}`;
}
