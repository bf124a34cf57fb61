declare module 'weir:source/types@0.1.1' {
  /**
   * Why a call failed. The host decides what happens next from the case.
   */
  export type SourceError = SourceErrorTransient | SourceErrorFatal;
  /**
   * Retrying later may help (network blip, rate limit, upstream 5xx): the
   * host backs off and retries the burst from the last stored cursor.
   */
  export interface SourceErrorTransient {
    tag: 'transient',
    val: string,
  }
  /**
   * Retrying will not help (bad credentials, bad config): the cycle stops
   * until the next one starts or an operator acts.
   */
  export interface SourceErrorFatal {
    tag: 'fatal',
    val: string,
  }
  /**
   * One catalog entity as a source produced it.
   */
  export interface Entity {
    /**
     * The entity as JSON text: an object with `apiVersion`, `kind`,
     * `metadata` and `spec` (Backstage's envelope).
     */
    json: string,
    /**
     * Which location owns the entity, for conflict resolution between
     * sources (Backstage's `locationKey`). None: the source's own.
     */
    locationKey?: string,
  }
  /**
   * One page of a cycle.
   */
  export interface Page {
    entities: Array<Entity>,
    /**
     * JSON text of the cursor to pass to the following `next` call. The
     * host stores it after the page; it must be present unless `done`.
     */
    cursor?: string,
    /**
     * True on the last page of a cycle: the host then sweeps what the
     * cycle did not return and rests.
     */
    done: boolean,
  }
}
