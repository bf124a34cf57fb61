// The conformance source's config, read and checked as
// tests/conformance/README.md says ("Config").

import { config, SourceError, type ErrorKind } from "weir-guest";

export interface Settings {
  pages: number;
  perPage: number;
  failOpen: ErrorKind | undefined;
  transientAt: number | undefined;
  fatalAt: number | undefined;
  failClose: ErrorKind | undefined;
}

/** Page numbers `transient-at` and `fatal-at` may name: those of the longest cycle. */
const LAST_PAGE = 999;

export function readSettings(): Settings {
  return {
    pages: number("pages", 1, 1000) ?? 3,
    perPage: number("per-page", 0, 1000) ?? 2,
    failOpen: errorKind("fail-open"),
    transientAt: number("transient-at", 0, LAST_PAGE),
    fatalAt: number("fatal-at", 0, LAST_PAGE),
    failClose: errorKind("fail-close"),
  };
}

/** A decimal integer from `low` to `high` (ASCII digits only, the value quoted raw in the
 * error), or undefined when the key is not set. */
function number(key: string, low: number, high: number): number | undefined {
  const text = config.get(key);
  if (text === undefined) {
    return undefined;
  }
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(value >= low && value <= high)) {
    throw SourceError.fatal(`conformance: config \`${key}\`: expected a number from ${low} to ${high}, got "${text}"`);
  }
  return value;
}

/** `transient` or `fatal`, or undefined when the key is not set. */
function errorKind(key: string): ErrorKind | undefined {
  const text = config.get(key);
  if (text === undefined || text === "transient" || text === "fatal") {
    return text;
  }
  throw SourceError.fatal(`conformance: config \`${key}\`: expected transient or fatal, got "${text}"`);
}
