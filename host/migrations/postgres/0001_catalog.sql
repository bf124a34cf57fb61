-- Each source's contribution to each entity: the last valid body it sent,
-- its canonical hash (hex), the SHA-256 of its text exactly as sent
-- (`raw_hash`: a page whose text has not changed skips parsing and
-- validation), and the error of a later invalid version, if any.
CREATE TABLE source_entities (
    source        TEXT   NOT NULL,
    entity_ref    TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    hash          TEXT   NOT NULL,
    raw_hash      TEXT   NOT NULL,
    location_key  TEXT,
    plugin_build  TEXT   NOT NULL,
    priority      BIGINT NOT NULL,
    error         TEXT,
    first_seen_ms BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    PRIMARY KEY (source, entity_ref)
);
CREATE INDEX source_entities_by_ref ON source_entities (entity_ref);
CREATE INDEX source_entities_by_raw_hash ON source_entities (source, raw_hash);

-- The merged catalog: one row per entity ref. When the entity is exactly
-- one source's contribution (the common case), `body` and `provenance` are
-- NULL and `sole_source` names that source: the body is read from its
-- record, and the provenance follows from it, so it is not stored twice.
CREATE TABLE entities (
    entity_ref   TEXT    NOT NULL PRIMARY KEY,
    kind         TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    body         TEXT,
    hash         TEXT    NOT NULL,
    provenance   TEXT,
    sole_source  TEXT,
    updated_ms   BIGINT  NOT NULL,
    event_offset BIGINT  NOT NULL,
    CHECK ((body IS NULL) = (sole_source IS NOT NULL))
);
CREATE INDEX entities_by_kind ON entities (kind, namespace);

-- The compacted change log: the latest event of each ref. Bodies are not
-- copied here; readers join `entities` (a removal has none).
CREATE TABLE changes (
    entity_ref   TEXT   NOT NULL PRIMARY KEY,
    event_offset BIGINT NOT NULL UNIQUE,
    change       TEXT   NOT NULL CHECK (change IN ('added', 'updated', 'removed')),
    kind         TEXT   NOT NULL,
    at_ms        BIGINT NOT NULL
);

-- The last offset handed out. Writers take its row lock last in their
-- transaction and hold it to commit, so offsets become visible in order: a
-- reader that has seen offset N never later finds an event below N appear.
CREATE TABLE log_head (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last_offset BIGINT  NOT NULL
);
INSERT INTO log_head (id, last_offset) VALUES (1, 0);
