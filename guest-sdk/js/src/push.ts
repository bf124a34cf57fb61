// Pushed events: the `Push` handler a source may also implement (a webhook
// delivery, say), the `PushEvent` it is handed, the `PushOutcome` it returns,
// and `exportPush`, the bridge to the contract's `push` export.

import type { Entity } from "./entity.js";
import { atBoundary, SourceError } from "./errors.js";
import { checkEntities } from "./source.js";
import { decodeUtf8 } from "./utf8.js";

/**
 * Takes pushed events. Each event runs in a fresh instance, apart from any
 * burst: `open` does not run first, so read what the handler needs (config,
 * secrets) here. Throw `SourceError.transient` when the event could not be
 * handled now (the sender may deliver it again) and `SourceError.fatal` when
 * it never will be (a bad signature, an event this source does not understand).
 */
export interface Push {
  handle(event: PushEvent): PushOutcome;
}

/** One event pushed to the source, as the host received it. */
export class PushEvent {
  /** The request's headers in the order received, names as sent. */
  readonly headers: readonly (readonly [string, string])[];
  /** The raw body. */
  readonly body: Uint8Array;

  constructor(headers: readonly (readonly [string, string])[], body: Uint8Array) {
    this.headers = headers;
    this.body = body;
  }

  /** The value of the first header named `name`, compared case-insensitively. */
  header(name: string): string | undefined {
    const wanted = name.toLowerCase();
    return this.headers.find(([key]) => key.toLowerCase() === wanted)?.[1];
  }

  /** The body as UTF-8 text. */
  text(): string {
    return decodeUtf8(this.body);
  }

  /** The body parsed as JSON, or a fatal error (an event that does not parse never will). */
  json(): unknown {
    try {
      return JSON.parse(this.text()) as unknown;
    } catch (error) {
      throw SourceError.fatal(`the pushed body is not JSON: ${String(error)}`);
    }
  }
}

/** What an event changes. Each method returns the outcome. */
export class PushOutcome {
  /** Entities to add or replace: the same rules and limits as a page's. */
  readonly upserts: Entity[] = [];
  /** Refs of entities this source no longer provides: `kind:namespace/name`, or `kind:name`. */
  readonly removals: string[] = [];

  /** Add or replace `entity`. */
  upsert(entity: Entity): this {
    this.upserts.push(entity);
    return this;
  }

  /** Remove the entity `entityRef` (`kind:namespace/name`). */
  remove(entityRef: string): this {
    this.removals.push(entityRef);
    return this;
  }
}

/** The contract's `push-event` record, as the component receives it. */
export interface WitPushEvent {
  headers: readonly (readonly [string, string])[];
  body: Uint8Array | readonly number[];
}

/** The contract's `push-result` record. */
export interface WitPushResult {
  upserts: readonly Entity[];
  removals: readonly string[];
}

/** The contract's `push` interface, as the component exports it. */
export interface PushExport {
  handle(event: WitPushEvent): WitPushResult;
}

/**
 * Export `push` as the component's `push` interface; the component then
 * implements the `pushing-source-plugin` world. The module the build starts
 * from must export the result under the name `push`:
 *
 * ```ts
 * export const push = exportPush(teamsWebhook);
 * ```
 */
export function exportPush(push: Push): PushExport {
  return {
    handle: (event) =>
      atBoundary(() => {
        const body = event.body instanceof Uint8Array ? event.body : Uint8Array.from(event.body);
        const outcome = push.handle(new PushEvent(event.headers, body));
        checkEntities(outcome.upserts, "the push outcome");
        return { upserts: outcome.upserts, removals: outcome.removals };
      }),
  };
}
