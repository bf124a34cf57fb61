// `weir-guest/http`: outbound HTTP over `wasi:http`. A separate entry point,
// so that only a source that imports it is built with `wasi:http` (and with
// the StarlingMonkey engine; see the README's "Outbound HTTP").

export { get, post, request } from "./client.js";
export { HttpError, Response, type HeadersInit, type HttpFailure, type RequestInit } from "./message.js";
