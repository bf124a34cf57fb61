// From one response's JSON to entities and the next cursor: where things are
// in a response and in its items (JSON pointers from config), and defaults.

import { Entity, SourceError } from "weir-guest";

type Get = (key: string) => string | undefined;

/** A `spec` field: its key, the pointer to it in an item, and a default. */
interface SpecField {
  key: string;
  pointer: string;
  fallback: string | undefined;
}

export class Mapping {
  private readonly items: string;
  private readonly next: string;
  private readonly kind: string;
  private readonly name: string;
  private readonly title: string;
  private readonly description: string;
  private readonly spec: SpecField[];

  /** Read the mapping from config (`get` looks a key up). */
  constructor(get: Get) {
    const pointer = (key: string, fallback: string): string => {
      const value = get(key) ?? fallback;
      if (value !== "" && !value.startsWith("/")) {
        throw SourceError.fatal(
          `config \`${key}\`: cannot use ${JSON.stringify(value)}: expected a JSON pointer such as "/items"`,
        );
      }
      return value;
    };
    this.items = pointer("items-pointer", "/items");
    this.next = pointer("next-pointer", "/next");
    this.kind = get("kind") ?? "Component";
    this.name = pointer("name-field", "/name");
    this.title = pointer("title-field", "/title");
    this.description = pointer("description-field", "/description");
    this.spec = ["owner", "type", "lifecycle"].map((key) => ({
      key,
      pointer: pointer(`${key}-field`, `/${key}`),
      fallback: get(`default-${key}`),
    }));
  }

  /** The page's entities and the next cursor (undefined: last page), or a message saying what is wrong. */
  page(body: unknown, location: string): { entities: Entity[]; next: string | undefined } {
    const items = resolve(body, this.items) ?? [];
    if (!Array.isArray(items)) {
      throw new Error(`\`${this.items}\` is not an array`);
    }
    const entities = items.map((item: unknown, index) => {
      try {
        return this.entity(item, location);
      } catch (error) {
        throw new Error(`item ${index}: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    return { entities, next: this.nextCursor(body) };
  }

  private nextCursor(body: unknown): string | undefined {
    const next = resolve(body, this.next);
    if (next === undefined || next === null || next === "") {
      return undefined;
    }
    if (typeof next === "string" || typeof next === "number") {
      return String(next);
    }
    throw new Error(`\`${this.next}\` is not a string or number`);
  }

  private entity(item: unknown, location: string): Entity {
    const name = text(item, this.name);
    if (name === undefined) {
      throw new Error(`no name at \`${this.name}\``);
    }
    const builder = Entity.builder(this.kind, name).managedBy(location);
    const title = text(item, this.title);
    if (title !== undefined) {
      builder.title(title);
    }
    const description = text(item, this.description);
    if (description !== undefined) {
      builder.description(description);
    }
    for (const { key, pointer, fallback } of this.spec) {
      const value = text(item, pointer) ?? fallback;
      if (value !== undefined) {
        builder.spec(key, value);
      }
    }
    return builder.build();
  }
}

/** A non-empty string or a number at `pointer`, as text. */
function text(item: unknown, pointer: string): string | undefined {
  const value = resolve(item, pointer);
  if (typeof value === "string" && value !== "") {
    return value;
  }
  return typeof value === "number" ? String(value) : undefined;
}

/** The value at JSON pointer `pointer` (RFC 6901) in `value`, or undefined. */
export function resolve(value: unknown, pointer: string): unknown {
  if (pointer === "") {
    return value;
  }
  let current: unknown = value;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(current) && /^(0|[1-9][0-9]*)$/.test(token)) {
      current = current[Number(token)];
    } else if (typeof current === "object" && current !== null && !Array.isArray(current)) {
      current = Object.hasOwn(current, token) ? (current as Record<string, unknown>)[token] : undefined;
    } else {
      return undefined;
    }
  }
  return current;
}
