/// <reference path="./weir-source-types.d.ts" />
declare module 'weir:source/source@0.1.1' {
  /**
   * The source's stable, unique name. The host stores cursors and entity
   * contributions under it, so it must not change between releases.
   */
  export function providerName(): string;
  export type Page = import('weir:source/types@0.1.1').Page;
  export type SourceError = import('weir:source/types@0.1.1').SourceError;
  
  export class Burst {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    /**
    * Set-up.
    */
    static open(): Burst;
    /**
    * One page after `cursor` (JSON text of a cursor this source returned
    * earlier; none on the first page of a cycle).
    */
    next(cursor: string | undefined): Page;
    /**
    * Tear-down. The host calls it at the end of every burst that opened,
    * including after a failed `next`; dropping the handle without `close`
    * happens only when the instance itself failed.
    */
    close(): void;
  }
}
