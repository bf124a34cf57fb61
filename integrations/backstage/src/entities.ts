// Turns Weir's entities into the catalog's deferred entities: the location
// annotations Backstage requires, and one location key per Weir catalog.

import {
  ANNOTATION_LOCATION,
  ANNOTATION_ORIGIN_LOCATION,
  type Entity,
} from '@backstage/catalog-model';
import type { DeferredEntity } from '@backstage/plugin-catalog-node';

/**
 * The location this module names for a Weir catalog: `weir:<baseUrl>`. It is
 * both the location key of every entity it provides and the value of the
 * location annotations a source did not set. (Weir's listing and events do
 * not say which source supplied an entity, so the location cannot name it.)
 */
export function weirLocation(baseUrl: string): string {
  return `weir:${baseUrl}`;
}

/** The entity with both location annotations present, under the catalog's location key. */
export function toDeferredEntity(entity: Entity, location: string): DeferredEntity {
  const annotations = entity.metadata.annotations ?? {};
  const complete = annotations[ANNOTATION_LOCATION] && annotations[ANNOTATION_ORIGIN_LOCATION];
  if (complete) {
    return { entity, locationKey: location };
  }
  return {
    entity: {
      ...entity,
      metadata: {
        ...entity.metadata,
        annotations: {
          ...annotations,
          [ANNOTATION_LOCATION]: annotations[ANNOTATION_LOCATION] || location,
          [ANNOTATION_ORIGIN_LOCATION]: annotations[ANNOTATION_ORIGIN_LOCATION] || location,
        },
      },
    },
    locationKey: location,
  };
}
