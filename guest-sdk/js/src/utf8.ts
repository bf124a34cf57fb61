// UTF-8 text to bytes and back. QuickJS has no TextEncoder or TextDecoder,
// so HTTP and push bodies go through these.

const REPLACEMENT = 0xfffd;
/** Code units per `String.fromCharCode` call, well under engines' argument limits. */
const CHUNK = 4096;

/** `text` as UTF-8 bytes (a lone surrogate becomes U+FFFD). */
export function encodeUtf8(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    let point = text.charCodeAt(index);
    if (point >= 0xd800 && point <= 0xdbff) {
      const low = index + 1 < text.length ? text.charCodeAt(index + 1) : 0;
      if (low >= 0xdc00 && low <= 0xdfff) {
        point = 0x10000 + ((point - 0xd800) << 10) + (low - 0xdc00);
        index++;
      } else {
        point = REPLACEMENT;
      }
    } else if (point >= 0xdc00 && point <= 0xdfff) {
      point = REPLACEMENT;
    }
    pushCodePoint(bytes, point);
  }
  return Uint8Array.from(bytes);
}

function pushCodePoint(bytes: number[], point: number): void {
  if (point < 0x80) {
    bytes.push(point);
  } else if (point < 0x800) {
    bytes.push(0xc0 | (point >> 6), 0x80 | (point & 0x3f));
  } else if (point < 0x10000) {
    bytes.push(0xe0 | (point >> 12), 0x80 | ((point >> 6) & 0x3f), 0x80 | (point & 0x3f));
  } else {
    bytes.push(
      0xf0 | (point >> 18),
      0x80 | ((point >> 12) & 0x3f),
      0x80 | ((point >> 6) & 0x3f),
      0x80 | (point & 0x3f),
    );
  }
}

/** UTF-8 `bytes` as text; each malformed sequence becomes U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): string {
  const parts: string[] = [];
  let units: number[] = [];
  let index = 0;
  while (index < bytes.length) {
    const [point, length] = readCodePoint(bytes, index);
    index += length;
    if (point >= 0x10000) {
      const offset = point - 0x10000;
      units.push(0xd800 + (offset >> 10), 0xdc00 + (offset & 0x3ff));
    } else {
      units.push(point);
    }
    if (units.length >= CHUNK) {
      parts.push(String.fromCharCode(...units));
      units = [];
    }
  }
  parts.push(String.fromCharCode(...units));
  return parts.join("");
}

/** The code point at `index` and how many bytes it took (U+FFFD and 1 when malformed). */
function readCodePoint(bytes: Uint8Array, index: number): [number, number] {
  const first = bytes[index] ?? 0;
  if (first < 0x80) {
    return [first, 1];
  }
  const lead = leadByte(first);
  if (lead === undefined) {
    return [REPLACEMENT, 1];
  }
  const [length, min, initial] = lead;
  let point = initial;
  for (let next = 1; next < length; next++) {
    const byte = bytes[index + next];
    if (byte === undefined || (byte & 0xc0) !== 0x80) {
      return [REPLACEMENT, next];
    }
    point = (point << 6) | (byte & 0x3f);
  }
  if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
    return [REPLACEMENT, 1];
  }
  return [point, length];
}

/** A lead byte's sequence length, smallest code point and payload bits. */
function leadByte(first: number): [number, number, number] | undefined {
  if (first >= 0xc2 && first <= 0xdf) {
    return [2, 0x80, first & 0x1f];
  }
  if (first >= 0xe0 && first <= 0xef) {
    return [3, 0x800, first & 0x0f];
  }
  if (first >= 0xf0 && first <= 0xf4) {
    return [4, 0x10000, first & 0x07];
  }
  return undefined;
}
