// `entityJson`: the fast path for sources that make many entities of one
// shape. The entity is written as the JSON text it is, in a tagged template
// literal, and each `${value}` in it is JSON-encoded in place: one
// `JSON.stringify` per value, instead of one over a whole envelope of
// objects, its keys and its nesting. In the throughput test that is a fifth
// less fuel per entity than the builder (docs/sources/typescript.md, "Limits
// and performance").
//
//     const entity = entityJson`{"apiVersion":"backstage.io/v1alpha1","kind":"Component",
//       "metadata":{"name":${name},"annotations":{"backstage.io/managed-by-location":${location}}},
//       "spec":{"type":"service","owner":${owner},"dependsOn":${dependsOn}}}`;

import { Entity, type JsonValue } from "./entity.js";

/**
 * Each template's text, checked to be one JSON object and without the
 * whitespace between its tokens, by call site (a call site's strings array
 * is the same object at every call).
 */
const compacted = new WeakMap<TemplateStringsArray, readonly string[]>();

/**
 * An entity from JSON text written as a tagged template literal: each
 * `${value}` (a string, number, boolean, null, array or object) is
 * JSON-encoded where it stands, so a value can never break out of its place.
 * The text around the values must make one JSON object with a JSON value in
 * each place; each template is checked the first time it is used, and a
 * `TypeError` says what is wrong with it. The text is taken as written (as
 * `String.raw` reads it), so JSON's escapes such as `\n` mean what they mean
 * in JSON; whitespace between the tokens is dropped, so a template may be
 * laid out for reading. Give the result a location key with
 * `.withLocationKey(key)`.
 */
export function entityJson(text: TemplateStringsArray, ...values: JsonValue[]): Entity {
  let pieces = compacted.get(text);
  if (pieces === undefined) {
    pieces = compactTemplate(text);
    compacted.set(text, pieces);
  }
  let json = pieces[0] as string;
  for (let at = 0; at < values.length; at++) {
    // `JSON.stringify` gives `undefined` for what JSON cannot hold
    // (undefined, a function, a symbol), whatever the type says.
    const value = JSON.stringify(values[at]) as string | undefined;
    if (value === undefined) {
      throw new TypeError(`entityJson: value ${at + 1} is ${typeof values[at]}, not a JSON value`);
    }
    json += value + (pieces[at + 1] as string);
  }
  return Entity.fromJsonText(json);
}

/** `text` as written, checked, without the whitespace between its tokens. */
function compactTemplate(text: TemplateStringsArray): readonly string[] {
  checkTemplate(text.raw);
  // No place is inside a string literal (checked), so each piece starts
  // outside one.
  return text.raw.map(withoutWhitespace);
}

/** `piece` of a JSON text, starting outside a string, without the whitespace outside strings. */
function withoutWhitespace(piece: string): string {
  let out = "";
  let inString = false;
  for (let at = 0; at < piece.length; at++) {
    const char = piece[at] as string;
    if (inString) {
      out += char;
      if (char === "\\") {
        out += piece[++at] ?? "";
      } else if (char === '"') {
        inString = false;
      }
    } else if (char === '"') {
      inString = true;
      out += char;
    } else if (char !== " " && char !== "\t" && char !== "\n" && char !== "\r") {
      out += char;
    }
  }
  return out;
}

/**
 * Fail unless `text`, with an empty string in each place, is the JSON text of
 * one object: a place inside a string literal then breaks the text, as its
 * quoted value would.
 */
function checkTemplate(text: readonly string[]): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.join('""'));
  } catch (error) {
    throw new TypeError(
      `entityJson: the template is not JSON with a value in each \${} (${String(error)}): ` +
        JSON.stringify(text.join("${}")),
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new TypeError(`entityJson: the template is not one JSON object: ${JSON.stringify(text.join("${}"))}`);
  }
}
