// HTTP requests and responses as the SDK's client sees them, URL splitting,
// and `HttpError`, whose kind (transient or fatal) follows its reason.

import { SourceError } from "../errors.js";
import { decodeUtf8 } from "../utf8.js";

/** Why a request got no response. */
export type HttpFailure =
  /** The host refused it: the host was not granted to this source, or it resolved to a private address. */
  | "denied"
  /** No answer within the source's request timeout. */
  | "timeout"
  /** The URL could not be used. */
  | "invalid-url"
  /** Anything else: DNS, connection, TLS, protocol. */
  | "failed";

const PREFIX: Record<HttpFailure, string> = {
  denied: "request denied by the host",
  timeout: "request timed out",
  "invalid-url": "invalid URL",
  failed: "request failed",
};

/**
 * A request that got no response. A refused request or a bad URL will not get
 * better by retrying (fatal); a timeout or a dropped connection might
 * (transient). Uncaught, it stops the burst with that kind.
 */
export class HttpError extends SourceError {
  readonly reason: HttpFailure;

  constructor(reason: HttpFailure, detail: string) {
    super(reason === "denied" || reason === "invalid-url" ? "fatal" : "transient", `${PREFIX[reason]}: ${detail}`);
    this.name = "HttpError";
    this.reason = reason;
  }
}

/** Header values as a record or as name-value pairs. */
export type HeadersInit = Readonly<Record<string, string>> | readonly (readonly [string, string])[];

/** What to send. */
export interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  /** Text is sent as UTF-8. */
  body?: string | Uint8Array;
}

/** A whole HTTP response. */
export class Response {
  /** The URL that was requested. */
  readonly url: string;
  readonly status: number;
  /** Header names in lower case, in the order received. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;

  constructor(url: string, status: number, headers: readonly (readonly [string, string])[], body: Uint8Array) {
    this.url = url;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** True for a 2xx status. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The first value of a header (name in any case). */
  header(name: string): string | undefined {
    const wanted = name.toLowerCase();
    return this.headers.find(([key]) => key === wanted)?.[1];
  }

  /** The body as UTF-8 text. */
  text(): string {
    return decodeUtf8(this.body);
  }

  /** The body parsed as JSON, or a fatal error naming the URL when it is not JSON. */
  json(): unknown {
    try {
      return JSON.parse(this.text()) as unknown;
    } catch (error) {
      throw SourceError.fatal(`${this.url}: the response is not JSON: ${String(error)}`);
    }
  }
}

/** A URL's parts as `wasi:http` takes them. */
export interface UrlParts {
  scheme: "http" | "https";
  authority: string;
  /** Path and query; `/` when the URL has none. */
  pathWithQuery: string;
}

/** `scheme://authority/path?query#fragment` into its parts (the fragment is dropped). */
export function splitUrl(url: string): UrlParts {
  const separator = url.indexOf("://");
  if (separator < 0) {
    throw new HttpError("invalid-url", `${url}: expected http:// or https://`);
  }
  const scheme = url.slice(0, separator).toLowerCase();
  if (scheme !== "http" && scheme !== "https") {
    throw new HttpError("invalid-url", `${url}: expected http or https`);
  }
  const rest = url.slice(separator + 3).split("#")[0] ?? "";
  const pathStart = rest.search(/[/?]/);
  const authority = pathStart < 0 ? rest : rest.slice(0, pathStart);
  const path = pathStart < 0 ? "" : rest.slice(pathStart);
  if (authority === "") {
    throw new HttpError("invalid-url", `${url}: no host`);
  }
  const pathWithQuery = path === "" ? "/" : path.startsWith("?") ? `/${path}` : path;
  return { scheme, authority, pathWithQuery };
}

/** `wasi:http` error codes that mean the answer did not come in time. */
const TIMEOUTS = new Set([
  "DNS-timeout",
  "connection-timeout",
  "connection-read-timeout",
  "connection-write-timeout",
  "HTTP-response-timeout",
]);

/** The `HttpError` for a `wasi:http` error code (its `tag`, and its payload if any). */
export function errorFromCode(url: string, code: { tag: string; val?: unknown }): HttpError {
  if (code.tag === "HTTP-request-denied") {
    return new HttpError("denied", url);
  }
  const detail = code.val === undefined || code.val === null ? code.tag : `${code.tag} ${JSON.stringify(code.val)}`;
  return new HttpError(TIMEOUTS.has(code.tag) ? "timeout" : "failed", `${url}: ${detail}`);
}

/** Header pairs from either form of `HeadersInit`. */
export function headerPairs(headers: HeadersInit | undefined): (readonly [string, string])[] {
  if (headers === undefined) {
    return [];
  }
  return Array.isArray(headers) ? [...(headers as readonly (readonly [string, string])[])] : Object.entries(headers);
}
