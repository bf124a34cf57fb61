// exportSource: the burst life cycle, cursors across the boundary, and how
// errors become the contract's `source-error`.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Entity } from "../src/entity.js";
import { BoundaryError, SourceError } from "../src/errors.js";
import { Page } from "../src/page.js";
import { exportSource, type Source } from "../src/source.js";

interface Cursor {
  page: number;
}

/** Three pages of one entity each; records what was called. */
function pages(calls: string[]): Source<string, Cursor> {
  return {
    providerName: "pages",
    open: () => {
      calls.push("open");
      return "context";
    },
    next: (context, cursor) => {
      calls.push(`next ${context} ${JSON.stringify(cursor)}`);
      const page = cursor?.page ?? 0;
      const entities = [Entity.builder("Component", `c-${page}`).build()];
      return page < 2 ? Page.more(entities, { page: page + 1 }) : Page.last(entities);
    },
    close: (context) => {
      calls.push(`close ${context}`);
    },
  };
}

/** The `source-error` a call threw. */
function boundaryError(call: () => unknown): { tag: string; val: string } {
  try {
    call();
  } catch (error) {
    assert.ok(error instanceof BoundaryError, `threw ${String(error)}`);
    return error.payload;
  }
  assert.fail("did not throw");
}

test("a burst opens, pages with JSON cursors, and closes once", () => {
  const calls: string[] = [];
  const exported = exportSource(pages(calls));
  assert.equal(exported.providerName(), "pages");
  const burst = exported.Burst.open();
  const first = burst.next(null);
  assert.equal(first.cursor, '{"page":1}');
  assert.equal(first.done, false);
  assert.equal(first.entities.length, 1);
  const last = burst.next('{"page":2}');
  assert.deepEqual([last.cursor, last.done], [undefined, true]);
  burst.close();
  burst.close();
  assert.deepEqual(calls, ["open", "next context undefined", 'next context {"page":2}', "close context"]);
  assert.deepEqual(
    boundaryError(() => burst.next(null)),
    {
      tag: "fatal",
      val: "`next` called on a burst that was already closed",
    },
  );
});

test("source errors keep their kind; anything else thrown is fatal with its message", () => {
  const failing = (error: unknown): Source<null, number> => ({
    providerName: "failing",
    open: () => null,
    next: () => {
      throw error;
    },
  });
  const nextError = (error: unknown) => boundaryError(() => exportSource(failing(error)).Burst.open().next(null));
  assert.deepEqual(nextError(SourceError.transient("rate limited")), { tag: "transient", val: "rate limited" });
  assert.deepEqual(nextError(SourceError.fatal("bad token")), { tag: "fatal", val: "bad token" });
  assert.deepEqual(nextError(new TypeError("x is undefined")), { tag: "fatal", val: "TypeError: x is undefined" });
  assert.deepEqual(nextError(new Error("plain")), { tag: "fatal", val: "plain" });
  assert.deepEqual(nextError("a string"), { tag: "fatal", val: "a string" });
  assert.deepEqual(nextError({ code: 7 }), { tag: "fatal", val: 'uncaught value {"code":7}' });
});

test("open and close errors cross the boundary too", () => {
  const source: Source<null, number> = {
    providerName: "broken",
    open: () => {
      throw SourceError.transient("no connection");
    },
    next: () => Page.last([]),
  };
  assert.deepEqual(
    boundaryError(() => exportSource(source).Burst.open()),
    { tag: "transient", val: "no connection" },
  );
  const closing: Source<null, number> = {
    ...source,
    open: () => null,
    close: () => {
      throw SourceError.fatal("could not log out");
    },
  };
  const burst = exportSource(closing).Burst.open();
  assert.deepEqual(
    boundaryError(() => {
      burst.close();
    }),
    { tag: "fatal", val: "could not log out" },
  );
});

test("a cursor that is not JSON is a fatal error naming it; parseCursor can check the shape", () => {
  const burst = exportSource(pages([])).Burst.open();
  const error = boundaryError(() => burst.next("{page: 1"));
  assert.equal(error.tag, "fatal");
  assert.match(error.val, /^the stored cursor "\{page: 1" is not JSON \(SyntaxError: .*\); reset the source/);
  const strict: Source<number, number> = {
    providerName: "strict",
    open: () => 3,
    parseCursor: (text, pagesInCycle) => {
      const page = Number(text);
      if (!Number.isInteger(page) || page >= pagesInCycle) {
        throw SourceError.fatal(`bad cursor: ${text}`);
      }
      return page;
    },
    next: (_, page) => Page.more([], (page ?? 0) + 1),
  };
  const strictBurst = exportSource(strict).Burst.open();
  assert.equal(strictBurst.next("2").cursor, "3");
  assert.deepEqual(
    boundaryError(() => strictBurst.next("7")),
    { tag: "fatal", val: "bad cursor: 7" },
  );
});

test("a page must hold entities and a cursor with a JSON form", () => {
  const returning = (page: Page<unknown>): Source<null, unknown> => ({
    providerName: "p",
    open: () => null,
    next: () => page,
  });
  const nextError = (page: Page<unknown>) => boundaryError(() => exportSource(returning(page)).Burst.open().next(null));
  assert.match(
    nextError(Page.last([{ json: "{}" } as unknown as Entity])).val,
    /^the page's entity 0 is not an Entity: make it with Entity.builder/,
  );
  assert.match(
    nextError(Page.more([], undefined)).val,
    /^could not serialise the next cursor: undefined has no JSON form/,
  );
  assert.match(nextError(Page.more([], 10n)).val, /^could not serialise the next cursor: TypeError/);
});
