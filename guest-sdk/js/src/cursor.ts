// The cursor's JSON text: written after every page, read back by the next
// `next` call (possibly in another burst, another process).

import { SourceError } from "./errors.js";

/** The longest part of a cursor an error message quotes. */
const QUOTED_CURSOR_CHARS = 200;

/** The JSON text of `cursor`, or a fatal error when it has none. */
export function encodeCursor(cursor: unknown): string {
  // JSON.stringify gives undefined for undefined, functions and symbols.
  let text: unknown;
  try {
    text = JSON.stringify(cursor);
  } catch (error) {
    throw SourceError.fatal(`could not serialise the next cursor: ${String(error)}`);
  }
  if (typeof text !== "string") {
    throw SourceError.fatal(
      `could not serialise the next cursor: ${typeof cursor} has no JSON form; use a number, string, array or object`,
    );
  }
  return text;
}

/** The value of a stored cursor's JSON text, or a fatal error naming the text. */
export function decodeCursor(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw SourceError.fatal(
      `the stored cursor ${quote(text)} is not JSON (${String(error)}); reset the source to start a new cycle`,
    );
  }
}

/** `text` in double quotes, cut to the first 200 characters. */
export function quote(text: string): string {
  const cut = text.length > QUOTED_CURSOR_CHARS ? `${text.slice(0, QUOTED_CURSOR_CHARS)}…` : text;
  return JSON.stringify(cut);
}
