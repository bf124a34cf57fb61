// The public API of `weir-guest`: write a Weir data source in TypeScript or
// JavaScript, and export it with `exportSource` (and `exportPush`).

export { ANNOTATION_LOCATION, ANNOTATION_ORIGIN_LOCATION, Entity, EntityBuilder, type JsonValue } from "./entity.js";
export { entityJson } from "./entity_json.js";
export { SourceError, type ErrorKind } from "./errors.js";
export { config, log, secrets } from "./host.js";
export { Page } from "./page.js";
export { exportPush, PushEvent, PushOutcome, type Push, type PushExport } from "./push.js";
export { Config, Secrets } from "./settings.js";
export { exportSource, type Source, type SourceExport } from "./source.js";
export { decodeUtf8, encodeUtf8 } from "./utf8.js";
