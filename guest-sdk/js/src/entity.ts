// Entities as a source hands them to the host: JSON text plus an optional
// location key, with a builder for Backstage's envelope.

/** Where the entity was read from, as Backstage's catalog records it. */
export const ANNOTATION_LOCATION = "backstage.io/managed-by-location";
/** Where the entity was first discovered, as Backstage's catalog records it. */
export const ANNOTATION_ORIGIN_LOCATION = "backstage.io/managed-by-origin-location";

/** A JSON value, as `JSON.stringify` writes it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * One entity, already serialised to JSON. Its fields are those of the
 * contract's `entity` record, so a page hands entities over without copying.
 */
export class Entity {
  /** The entity as the JSON text of one object. */
  readonly json: string;
  /** Which location owns the entity, for conflicts between sources (Backstage's `locationKey`). */
  readonly locationKey: string | undefined;

  private constructor(json: string, locationKey: string | undefined) {
    this.json = json;
    this.locationKey = locationKey;
  }

  /** Start an entity of `kind` named `name` (`apiVersion` `backstage.io/v1alpha1`). */
  static builder(kind: string, name: string): EntityBuilder {
    return new EntityBuilder(kind, name);
  }

  /**
   * An entity from JSON text the source wrote itself, with no serialisation
   * step. The caller guarantees it is the JSON text of one object; the host
   * checks it and refuses the page otherwise.
   */
  static fromJsonText(json: string, locationKey?: string): Entity {
    if (typeof json !== "string") {
      throw new TypeError(`Entity.fromJsonText takes a string, not ${typeof json}`);
    }
    return new Entity(json, locationKey);
  }

  /** An entity from a plain object (`apiVersion`, `kind`, `metadata`, `spec`). */
  static fromValue(value: { [key: string]: JsonValue | undefined }, locationKey?: string): Entity {
    return new Entity(JSON.stringify(value), locationKey);
  }

  /** The same entity with the location key that decides conflicts between sources. */
  withLocationKey(key: string): Entity {
    return new Entity(this.json, key);
  }
}

type JsonObject = { [key: string]: JsonValue };

/**
 * Builds an entity field by field; `build` serialises it. Each method returns
 * the builder. `annotation`, `label`, `tag` and `link` collect into
 * `metadata.annotations`, `labels`, `tags` and `links`, which replace a
 * `metadataField` of the same name.
 */
export class EntityBuilder {
  private apiVersionText = "backstage.io/v1alpha1";
  private readonly kind: string;
  private readonly metadata: JsonObject;
  private readonly specFields: JsonObject = {};
  private annotations: Record<string, string> | undefined;
  private labels: Record<string, string> | undefined;
  private tags: string[] | undefined;
  private links: { url: string; title: string }[] | undefined;
  private key: string | undefined;

  constructor(kind: string, name: string) {
    this.kind = kind;
    this.metadata = { name };
  }

  apiVersion(apiVersion: string): this {
    this.apiVersionText = apiVersion;
    return this;
  }

  namespace(namespace: string): this {
    this.metadata.namespace = namespace;
    return this;
  }

  title(title: string): this {
    this.metadata.title = title;
    return this;
  }

  description(description: string): this {
    this.metadata.description = description;
    return this;
  }

  /** Set any `metadata` field. */
  metadataField(key: string, value: JsonValue): this {
    this.metadata[key] = value;
    return this;
  }

  annotation(key: string, value: string): this {
    (this.annotations ??= {})[key] = value;
    return this;
  }

  label(key: string, value: string): this {
    (this.labels ??= {})[key] = value;
    return this;
  }

  tag(tag: string): this {
    (this.tags ??= []).push(tag);
    return this;
  }

  link(url: string, title: string): this {
    (this.links ??= []).push({ url, title });
    return this;
  }

  /**
   * Set both `backstage.io/managed-by-location` and
   * `backstage.io/managed-by-origin-location` to `location` (for example
   * `url:https://github.com/org/repo`), as Backstage's providers do.
   */
  managedBy(location: string): this {
    const annotations = (this.annotations ??= {});
    annotations[ANNOTATION_LOCATION] = location;
    annotations[ANNOTATION_ORIGIN_LOCATION] = location;
    return this;
  }

  /** Set one `spec` field. */
  spec(key: string, value: JsonValue): this {
    this.specFields[key] = value;
    return this;
  }

  locationKey(key: string): this {
    this.key = key;
    return this;
  }

  build(): Entity {
    const metadata = this.metadata;
    if (this.labels !== undefined) metadata.labels = this.labels;
    if (this.tags !== undefined) metadata.tags = this.tags;
    if (this.annotations !== undefined) metadata.annotations = this.annotations;
    if (this.links !== undefined) metadata.links = this.links;
    const json = JSON.stringify({ apiVersion: this.apiVersionText, kind: this.kind, metadata, spec: this.specFields });
    return Entity.fromJsonText(json, this.key);
  }
}
