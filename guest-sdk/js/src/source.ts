// The `Source` a plugin author implements, and `exportSource`, which turns it
// into the contract's `source` export: the `burst` resource's life cycle,
// cursor (de)serialisation and error conversion.

import { Entity } from "./entity.js";
import { atBoundary, SourceError } from "./errors.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import type { Page } from "./page.js";

/**
 * A data source: what Weir calls, burst after burst.
 *
 * A burst is `open`, then `next` as often as the host's burst length allows,
 * then `close`. Nothing survives between bursts except the cursor, which the
 * host stores after every page: the next burst may run in another process, so
 * keep everything needed to resume in the cursor.
 *
 * Throw `SourceError.transient(..)` when retrying later may help and
 * `SourceError.fatal(..)` when it will not; anything else thrown becomes a
 * fatal error with its message.
 */
export interface Source<Context, Cursor> {
  /**
   * The source's stable, unique name. Cursors and entities are stored under
   * it: changing it makes Weir treat the plugin as a new source.
   */
  readonly providerName: string;

  /** Set-up for one burst: returns what the burst needs (a client, a token). */
  open(): Context;

  /** One page after `cursor` (`undefined` on the first page of a cycle). */
  next(context: Context, cursor: Cursor | undefined): Page<Cursor>;

  /** Tear-down at the end of a burst, including after a failed `next`. */
  close?(context: Context): void;

  /**
   * Read a stored cursor back from its JSON text. The default is
   * `JSON.parse`, with a fatal error naming the text when it is not JSON; it
   * cannot check the value's shape, so override this to check it (and throw
   * `SourceError.fatal` naming the text).
   */
  parseCursor?(text: string, context: Context): Cursor;
}

/** The contract's `page` record. */
export interface WitPage {
  entities: readonly Entity[];
  cursor: string | undefined;
  done: boolean;
}

/** The `burst` resource as the component exports it. */
export interface WitBurst {
  next(cursor: string | null | undefined): WitPage;
  close(): void;
}

/** The contract's `source` interface, as the component exports it. */
export interface SourceExport {
  providerName(): string;
  Burst: { open(): WitBurst };
}

/**
 * Export `source` as the component's `source` interface. The module that
 * the build starts from must export the result under the name `source`:
 *
 * ```ts
 * export const source = exportSource(teams);
 * ```
 */
export function exportSource<Context, Cursor>(source: Source<Context, Cursor>): SourceExport {
  const parseCursor = (text: string, context: Context): Cursor =>
    source.parseCursor ? source.parseCursor(text, context) : (decodeCursor(text) as Cursor);

  class Burst implements WitBurst {
    private readonly context: Context;
    private closed = false;

    private constructor(context: Context) {
      this.context = context;
    }

    static open(): Burst {
      return atBoundary(() => new Burst(source.open()));
    }

    next(cursor: string | null | undefined): WitPage {
      return atBoundary(() => {
        if (this.closed) {
          throw SourceError.fatal("`next` called on a burst that was already closed");
        }
        const from = cursor == null ? undefined : parseCursor(cursor, this.context);
        return toWitPage(source.next(this.context, from));
      });
    }

    close(): void {
      atBoundary(() => {
        if (!this.closed) {
          this.closed = true;
          source.close?.(this.context);
        }
      });
    }
  }

  return {
    providerName: () => source.providerName,
    Burst,
  };
}

function toWitPage<Cursor>(page: Page<Cursor>): WitPage {
  checkEntities(page.entities, "the page");
  return {
    entities: page.entities,
    cursor: page.done ? undefined : encodeCursor(page.next),
    done: page.done,
  };
}

/** Every item must be an `Entity`: anything else would trap at the boundary. */
export function checkEntities(entities: readonly unknown[], where: string): void {
  if (!Array.isArray(entities)) {
    throw SourceError.fatal(`${where}'s entities are not an array`);
  }
  for (let index = 0; index < entities.length; index++) {
    if (!(entities[index] instanceof Entity)) {
      throw SourceError.fatal(
        `${where}'s entity ${index} is not an Entity: make it with Entity.builder(..).build(), Entity.fromValue(..) or Entity.fromJsonText(..)`,
      );
    }
  }
}
