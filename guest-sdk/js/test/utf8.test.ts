// UTF-8 encoding and decoding, checked against Node's TextEncoder and TextDecoder.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeUtf8, encodeUtf8 } from "../src/utf8.js";

const samples = [
  "",
  "plain ascii",
  "ünïcødé ✓",
  "emoji 🚀 and 𝄞",
  "tab\tnewline\n",
  "\u0000\u007f\u0080\u07ff\u0800\uffff",
  "x".repeat(10000) + "é",
];

test("text round-trips and matches TextEncoder", () => {
  for (const text of samples) {
    const bytes = encodeUtf8(text);
    assert.deepEqual(bytes, new TextEncoder().encode(text), text);
    assert.equal(decodeUtf8(bytes), text);
  }
});

test("lone surrogates encode as U+FFFD", () => {
  assert.deepEqual(encodeUtf8("a\ud800b\udc00"), new TextEncoder().encode("a\ud800b\udc00"));
});

test("malformed bytes decode as TextDecoder does", () => {
  const cases = [
    [0x80],
    [0xc0, 0x80],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x41],
    [0xe2, 0x9c],
    [0x41, 0xe2, 0x9c, 0x41],
    [0xf0, 0x9f, 0x9a],
  ];
  for (const bytes of cases) {
    const array = Uint8Array.from(bytes);
    assert.equal(decodeUtf8(array), new TextDecoder().decode(array), JSON.stringify(bytes));
  }
});
