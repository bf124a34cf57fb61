// Outbound HTTP through `wasi:http`, the only network a source gets, and only
// to the hosts the operator granted it (`[sources.NAME.outbound]`). A small
// blocking client: one call sends a request and returns the whole response.

import { handle } from "wasi:http/outgoing-handler@0.2.12";
import {
  Fields,
  httpErrorCode,
  IncomingBody,
  OutgoingBody,
  OutgoingRequest,
  type ErrorCode,
  type IncomingResponse,
  type Method,
  type OutputStream,
} from "wasi:http/types@0.2.12";
import { encodeUtf8 } from "../utf8.js";
import { errorFromCode, headerPairs, HttpError, Response, splitUrl, type RequestInit } from "./message.js";

/** Bytes per write; `wasi:io` takes at most 4096 at a time. */
const WRITE_CHUNK = 4096;
/** Bytes asked for per read. */
const READ_CHUNK = BigInt(64 * 1024);

/** GET `url`. */
export function get(url: string, init: Omit<RequestInit, "method" | "body"> = {}): Response {
  return request(url, { ...init, method: "GET" });
}

/** POST `body` to `url`. */
export function post(
  url: string,
  body: string | Uint8Array,
  init: Omit<RequestInit, "method" | "body"> = {},
): Response {
  return request(url, { ...init, method: "POST", body });
}

/**
 * Send a request and read the whole response. Throws `HttpError` when no
 * response came: `denied` (the host was not granted), `timeout`,
 * `invalid-url` or `failed`. Any status is a response; check `status`.
 */
export function request(url: string, init: RequestInit = {}): Response {
  const parts = splitUrl(url);
  const body = typeof init.body === "string" ? encodeUtf8(init.body) : init.body;
  const headers = headerPairs(init.headers);
  if (body !== undefined && !headers.some(([name]) => name.toLowerCase() === "content-length")) {
    headers.push(["content-length", String(body.length)]);
  }
  const outgoing = new OutgoingRequest(toFields(url, headers));
  const set = (what: string, apply: () => void): void => {
    try {
      apply();
    } catch {
      throw new HttpError("invalid-url", `${url}: the ${what} was refused`);
    }
  };
  set("method", () => {
    outgoing.setMethod(toMethod(init.method ?? "GET"));
  });
  set("scheme", () => {
    outgoing.setScheme({ tag: parts.scheme === "https" ? "HTTPS" : "HTTP" });
  });
  set("host", () => {
    outgoing.setAuthority(parts.authority);
  });
  set("path", () => {
    outgoing.setPathWithQuery(parts.pathWithQuery);
  });
  const outgoingBody = outgoing.body();
  const future = call(url, () => handle(outgoing, undefined));
  writeBody(url, outgoingBody, body);
  const pollable = future.subscribe();
  pollable.block();
  dispose(pollable);
  const outcome = future.get();
  dispose(future);
  if (isNone(outcome) || outcome.tag === "err") {
    throw new HttpError("failed", `${url}: no response`);
  }
  if (outcome.val.tag === "err") {
    throw errorFromCode(url, outcome.val.val);
  }
  return readResponse(url, outcome.val.val);
}

function toFields(url: string, headers: readonly (readonly [string, string])[]): Fields {
  const fields = new Fields();
  for (const [name, value] of headers) {
    try {
      fields.append(name, encodeUtf8(value));
    } catch {
      throw new HttpError("invalid-url", `${url}: header ${JSON.stringify(name)} cannot be sent`);
    }
  }
  return fields;
}

const STANDARD_METHODS = new Set(["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"]);

function toMethod(method: string): Method {
  const lower = method.toLowerCase();
  return STANDARD_METHODS.has(lower) ? ({ tag: lower } as Method) : { tag: "other", val: method.toUpperCase() };
}

function writeBody(url: string, body: OutgoingBody, bytes: Uint8Array | undefined): void {
  if (bytes !== undefined && bytes.length > 0) {
    const stream: OutputStream = body.write();
    for (let offset = 0; offset < bytes.length; offset += WRITE_CHUNK) {
      const chunk = bytes.subarray(offset, offset + WRITE_CHUNK);
      call(
        url,
        () => {
          stream.blockingWriteAndFlush(chunk);
        },
        "writing the body",
      );
    }
    dispose(stream);
  }
  call(url, () => {
    OutgoingBody.finish(body, undefined);
  });
}

function readResponse(url: string, response: IncomingResponse): Response {
  const status = response.status();
  const fieldsOfResponse = response.headers();
  const headers = fieldsOfResponse
    .entries()
    .map(([name, value]): [string, string] => [name.toLowerCase(), String.fromCharCode(...value)]);
  dispose(fieldsOfResponse);
  const incoming = response.consume();
  const body = readBody(url, incoming);
  dispose(response);
  return new Response(url, status, headers, body);
}

function readBody(url: string, incoming: IncomingBody): Uint8Array {
  const stream = incoming.stream();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    let chunk: Uint8Array;
    try {
      chunk = stream.blockingRead(READ_CHUNK);
    } catch (error) {
      if (streamClosed(error)) {
        break;
      }
      throw streamError(url, error);
    }
    chunks.push(chunk);
    length += chunk.length;
  }
  dispose(stream);
  dispose(IncomingBody.finish(incoming));
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/** Run a `wasi:http` call, turning the error code it throws into an `HttpError`. */
function call<T>(url: string, body: () => T, doing?: string): T {
  try {
    return body();
  } catch (error) {
    const code = payload(error) as ErrorCode | undefined;
    if (code !== undefined) {
      throw errorFromCode(url, code);
    }
    throw new HttpError("failed", `${url}: ${doing ?? "sending the request"}: ${String(error)}`);
  }
}

/** True when a read failed because the body ended. */
function streamClosed(error: unknown): boolean {
  return (payload(error) as { tag: string } | undefined)?.tag === "closed";
}

function streamError(url: string, error: unknown): HttpError {
  const failure = payload(error) as { tag: string; val?: unknown } | undefined;
  if (failure?.tag === "last-operation-failed") {
    const code = httpErrorCode(failure.val as Parameters<typeof httpErrorCode>[0]);
    if (!isNone(code)) {
      return errorFromCode(url, code);
    }
  }
  return new HttpError("failed", `${url}: reading the body: ${String(error)}`);
}

/** The WIT error value a binding threw (both engines put it in `payload`). */
function payload(error: unknown): unknown {
  return typeof error === "object" && error !== null && "payload" in error ? error.payload : undefined;
}

/** A WIT `none`: StarlingMonkey gives `undefined`, QuickJS `null`. */
function isNone(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

/** Drop a `wasi:http` resource now: a child must go before its parent is finished. */
function dispose(resource: object): void {
  const key = typeof Symbol.dispose === "symbol" ? Symbol.dispose : Symbol.for("dispose");
  const drop = (resource as Partial<Record<symbol, () => void>>)[key];
  drop?.call(resource);
}
