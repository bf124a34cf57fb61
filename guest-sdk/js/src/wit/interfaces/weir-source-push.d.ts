/// <reference path="./weir-source-types.d.ts" />
declare module 'weir:source/push@0.1.1' {
  /**
   * Turn one event into upserts and removals. Each call runs in a fresh
   * instance of the source, apart from any burst (no `open` before it), under
   * the same limits as a page. `transient`: the event could not be handled
   * now and the sender may deliver it again; `fatal`: it never will be (a bad
   * signature, an event this source does not understand).
   */
  export function handle(event: PushEvent): PushResult;
  export type Entity = import('weir:source/types@0.1.1').Entity;
  export type SourceError = import('weir:source/types@0.1.1').SourceError;
  /**
   * One pushed event, as the host received it.
   */
  export interface PushEvent {
    /**
     * The request's headers in the order received, names as sent (compare
     * them case-insensitively). Signature headers are here, so a source
     * can check them against a secret.
     */
    headers: Array<[string, string]>,
    /**
     * The raw body.
     */
    body: Uint8Array,
  }
  /**
   * What an event changes, applied by the host at once.
   */
  export interface PushResult {
    /**
     * Entities to add or replace: the same rules and limits as a page's
     * entities (the host checks them like a page).
     */
    upserts: Array<Entity>,
    /**
     * Refs of entities this source no longer provides, as
     * `kind:namespace/name` (or `kind:name` in the default namespace).
     * A ref the source never provided is ignored.
     */
    removals: Array<string>,
  }
}
