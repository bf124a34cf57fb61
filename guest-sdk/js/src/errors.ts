// Errors a source returns, and how any thrown value becomes the contract's
// `source-error` at the component boundary.

/** What the host does after an error: retry later, or stop the cycle. */
export type ErrorKind = "transient" | "fatal";

/**
 * Why a call failed; the kind tells the host what to do next.
 *
 * - `SourceError.transient(message)`: retrying later may help (a timeout, a
 *   rate limit, an upstream 5xx). The host backs off and retries the burst
 *   from the last stored cursor.
 * - `SourceError.fatal(message)`: retrying will not help (bad credentials,
 *   bad config). The cycle stops until the next one starts or an operator acts.
 *
 * Anything else thrown from a source (a `TypeError`, a string) becomes a fatal
 * error with its message.
 */
export class SourceError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = "SourceError";
    this.kind = kind;
  }

  /** Retrying later may help. */
  static transient(message: string): SourceError {
    return new SourceError("transient", message);
  }

  /** Retrying will not help. */
  static fatal(message: string): SourceError {
    return new SourceError("fatal", message);
  }
}

/** The contract's `source-error` variant, as the component boundary carries it. */
export interface WitSourceError {
  tag: ErrorKind;
  val: string;
}

/**
 * Thrown across the component boundary. Both JavaScript engines turn an
 * exception with an own `payload` property into the `err` case of the
 * function's `result`.
 */
export class BoundaryError extends Error {
  readonly payload: WitSourceError;

  constructor(payload: WitSourceError) {
    super(payload.val);
    this.name = "BoundaryError";
    this.payload = payload;
  }
}

/** The `source-error` for anything a source threw. */
export function toWitError(error: unknown): WitSourceError {
  if (error instanceof SourceError) {
    return { tag: error.kind, val: error.message };
  }
  return { tag: "fatal", val: describe(error) };
}

/** Run `body`, turning anything it throws into a `BoundaryError`. */
export function atBoundary<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    throw new BoundaryError(toWitError(error));
  }
}

/** A thrown value as one line: `TypeError: x is undefined`, or the value itself. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.name === "Error" ? error.message : `${error.name}: ${error.message}`;
  }
  if (typeof error === "string") {
    return error;
  }
  return `uncaught value ${safeJson(error)}`;
}

function safeJson(value: unknown): string {
  try {
    const text: unknown = JSON.stringify(value);
    return typeof text === "string" ? text : String(value);
  } catch {
    return String(value);
  }
}
