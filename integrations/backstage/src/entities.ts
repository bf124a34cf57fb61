// Turns Weir's entities into the catalog's deferred entities: the location
// annotations Backstage requires (naming the Weir source that supplied the
// entity, where that source set none), and one location key per Weir catalog.

import {
  ANNOTATION_LOCATION,
  ANNOTATION_ORIGIN_LOCATION,
  type Entity,
} from '@backstage/catalog-model';
import type { DeferredEntity } from '@backstage/plugin-catalog-node';

/**
 * The location key of every entity this module provides from one Weir
 * catalog: `weir:<baseUrl>`. One key per catalog, not per source: Weir has
 * already settled which source wins an entity, and that winner may change
 * (a higher-priority source appears, another leaves); under a key per
 * source, Backstage's conflict rule would then refuse the update.
 */
export function weirLocation(baseUrl: string): string {
  return `weir:${baseUrl}`;
}

/**
 * The location naming one Weir source of a catalog:
 * `weir:<baseUrl>/api/catalog/incremental/providers/<source>`, the address
 * of that source's status in Weir's API.
 */
export function weirSourceLocation(baseUrl: string, source: string): string {
  return `weir:${baseUrl}/api/catalog/incremental/providers/${encodeURIComponent(source)}`;
}

/** Where an entity came from, as Weir's listing and events say. */
export interface WeirOrigin {
  /** The Weir catalog's base URL. */
  baseUrl: string;
  /** The source that won the entity's merge in Weir (absent from older Weir versions). */
  source?: string;
}

/**
 * The entity with both location annotations present, under the catalog's
 * location key. A source's own annotations are kept; a missing one names the
 * source (or, when Weir did not say which source it was, the catalog).
 */
export function toDeferredEntity(entity: Entity, origin: WeirOrigin): DeferredEntity {
  const locationKey = weirLocation(origin.baseUrl);
  const annotations = entity.metadata.annotations ?? {};
  const complete = annotations[ANNOTATION_LOCATION] && annotations[ANNOTATION_ORIGIN_LOCATION];
  if (complete) {
    return { entity, locationKey };
  }
  const location = origin.source ? weirSourceLocation(origin.baseUrl, origin.source) : locationKey;
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
    locationKey,
  };
}
