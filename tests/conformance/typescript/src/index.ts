// The conformance source (provider `conformance`): pages, cursors, errors,
// logs and push exactly as tests/conformance/README.md specifies, so the host
// can check that every language's SDK behaves the same.

import {
  exportPush,
  exportSource,
  log,
  Page,
  PushOutcome,
  secrets,
  SourceError,
  type PushEvent,
  type Source,
} from "weir-guest";
import { conformanceEntity, conformanceRef, pageEntities } from "./entities.js";
import { readSettings, type Settings } from "./settings.js";

/** The cursor: the page to read next. */
interface Cursor {
  page: number;
}

const conformance: Source<Settings, Cursor> = {
  providerName: "conformance",

  open() {
    log.info(`conformance: open ${secrets.get("token") === undefined ? "(no token)" : "(token present)"}`);
    const settings = readSettings();
    if (settings.failOpen !== undefined) {
      throw new SourceError(settings.failOpen, "conformance: open failed");
    }
    return settings;
  },

  parseCursor(text, settings) {
    const value = parseJson(text);
    const page = isPageCursor(value) ? value.page : -1;
    if (!(Number.isInteger(page) && page >= 0 && page < settings.pages)) {
      throw SourceError.fatal(`conformance: bad cursor: ${text}`);
    }
    return { page };
  },

  next(settings, cursor) {
    const page = cursor?.page ?? 0;
    log.debug(`conformance: page ${page}`);
    if (page === settings.transientAt) {
      throw SourceError.transient(`conformance: transient at page ${page}`);
    }
    if (page === settings.fatalAt) {
      throw SourceError.fatal(`conformance: fatal at page ${page}`);
    }
    const entities = pageEntities(page, settings.perPage);
    return page + 1 < settings.pages ? Page.more(entities, { page: page + 1 }) : Page.last(entities);
  },

  close(settings) {
    log.info("conformance: close");
    if (settings.failClose !== undefined) {
      throw new SourceError(settings.failClose, "conformance: close failed");
    }
  },
};

/** Pushed events: `{"upsert": [I, ...], "remove": [I, ...]}`. */
const conformancePush = {
  handle(event: PushEvent): PushOutcome {
    if (event.header("x-conformance-fail") === "transient") {
      throw SourceError.transient("conformance: push failed");
    }
    const { perPage } = readSettings();
    const body = pushBody(event.text());
    const outcome = new PushOutcome();
    for (const index of body.upsert) {
      if (perPage === 0) {
        throw SourceError.fatal(
          `conformance: push body is not valid: entity ${index} is on no page when per-page is 0`,
        );
      }
      outcome.upsert(conformanceEntity(index, Math.floor(index / perPage)));
    }
    for (const index of body.remove) {
      outcome.remove(conformanceRef(index));
    }
    return outcome;
  },
};

interface PushBody {
  upsert: number[];
  remove: number[];
}

/** The push body's entity numbers, or a fatal error saying what is wrong with it. */
function pushBody(text: string): PushBody {
  const invalid = (reason: string): SourceError => SourceError.fatal(`conformance: push body is not valid: ${reason}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`not JSON (${String(error)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("not a JSON object");
  }
  const object = value as Record<string, unknown>;
  const unknownKey = Object.keys(object).find((key) => key !== "upsert" && key !== "remove");
  if (unknownKey !== undefined) {
    throw invalid(`unknown key \`${unknownKey}\``);
  }
  const numbers = (key: "upsert" | "remove"): number[] => {
    const list: unknown = key in object ? object[key] : [];
    if (!Array.isArray(list) || !list.every(isEntityNumber)) {
      throw invalid(`\`${key}\` is not a list of entity numbers`);
    }
    return list as number[];
  };
  return { upsert: numbers("upsert"), remove: numbers("remove") };
}

/** The highest entity number a cycle can have (1000 pages of 1000). */
const LAST_ENTITY = 999_999;

function isEntityNumber(item: unknown): boolean {
  return Number.isInteger(item) && (item as number) >= 0 && (item as number) <= LAST_ENTITY;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isPageCursor(value: unknown): value is Cursor {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { page?: unknown }).page === "number"
  );
}

export const source = exportSource(conformance);
export const push = exportPush(conformancePush);
