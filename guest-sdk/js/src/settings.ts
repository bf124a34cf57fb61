// Reading the values the operator set for a source: config (`config.get`,
// `require`, `getOr` with parsing) and secrets (`secrets.get`, `require`).

import { SourceError } from "./errors.js";

/** Looks a key up in the host; engines give `null` or `undefined` for none. */
export type Lookup = (key: string) => string | null | undefined;

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The source's secrets (tokens, passwords), kept apart from config so the host never prints them. */
export class Secrets {
  protected readonly label: string;
  private readonly lookup: Lookup;

  constructor(label: string, lookup: Lookup) {
    this.label = label;
    this.lookup = lookup;
  }

  /** The value for `key`, or `undefined` when it is not set. */
  get(key: string): string | undefined {
    return this.lookup(key) ?? undefined;
  }

  /** The value for `key`, or a fatal error naming the key when it is not set. */
  require(key: string): string {
    const value = this.get(key);
    if (value === undefined) {
      throw SourceError.fatal(`${this.label} \`${key}\` is required but not set`);
    }
    return value;
  }
}

/** The source's configuration values, as the operator set them. */
export class Config extends Secrets {
  /**
   * The value for `key`, or `fallback` when it is not set. A number or
   * boolean `fallback` parses the value as one; a value that does not parse
   * is a fatal error naming the key and the value.
   */
  getOr(key: string, fallback: string): string;
  getOr(key: string, fallback: number): number;
  getOr(key: string, fallback: boolean): boolean;
  getOr(key: string, fallback: string | number | boolean): string | number | boolean {
    const text = this.get(key);
    if (text === undefined) {
      return fallback;
    }
    switch (typeof fallback) {
      case "number":
        return this.parseNumber(key, text);
      case "boolean":
        return this.parseBoolean(key, text);
      default:
        return text;
    }
  }

  private parseNumber(key: string, text: string): number {
    const trimmed = text.trim();
    if (!NUMBER.test(trimmed)) {
      throw this.cannotUse(key, text, "expected a number");
    }
    return Number(trimmed);
  }

  private parseBoolean(key: string, text: string): boolean {
    switch (text.trim()) {
      case "true":
        return true;
      case "false":
        return false;
      default:
        throw this.cannotUse(key, text, "expected true or false");
    }
  }

  private cannotUse(key: string, text: string, expected: string): SourceError {
    return SourceError.fatal(`${this.label} \`${key}\`: cannot use ${JSON.stringify(text)}: ${expected}`);
  }
}
