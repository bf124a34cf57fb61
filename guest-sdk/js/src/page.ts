// One page of a cycle: its entities, and where the next page starts.

import type { Entity } from "./entity.js";

/** One page of entities, and the cursor of the page after it (none on the last page). */
export class Page<Cursor> {
  readonly entities: readonly Entity[];
  /** Where the next page starts; only meaningful when `done` is false. */
  readonly next: Cursor | undefined;
  /** True on the last page of the cycle. */
  readonly done: boolean;

  private constructor(entities: readonly Entity[], next: Cursor | undefined, done: boolean) {
    this.entities = entities;
    this.next = next;
    this.done = done;
  }

  /** A page with more to come after `cursor`. */
  static more<Cursor>(entities: readonly Entity[], cursor: Cursor): Page<Cursor> {
    return new Page(entities, cursor, false);
  }

  /** The last page of the cycle. */
  static last<Cursor = never>(entities: readonly Entity[]): Page<Cursor> {
    return new Page<Cursor>(entities, undefined, true);
  }
}
