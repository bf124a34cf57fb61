-- The merged entities and the compacted change log, keyed by their ref
-- alone. Both are looked up and written by ref only, and their rows are
-- small, so they are stored as B-trees of the ref itself (WITHOUT ROWID)
-- rather than as a table of rowids plus an index of refs: one B-tree entry
-- per row instead of two, on every entity a page adds or changes.

CREATE TABLE entities_by_ref (
    entity_ref   TEXT    NOT NULL PRIMARY KEY,
    kind         TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    body         TEXT,
    hash         TEXT    NOT NULL,
    provenance   TEXT,
    sole_source  TEXT,
    updated_ms   INTEGER NOT NULL,
    event_offset INTEGER NOT NULL,
    CHECK ((body IS NULL) = (sole_source IS NOT NULL))
) WITHOUT ROWID;
INSERT INTO entities_by_ref
    (entity_ref, kind, namespace, name, body, hash, provenance, sole_source, updated_ms, event_offset)
    SELECT entity_ref, kind, namespace, name, body, hash, provenance, sole_source, updated_ms, event_offset
    FROM entities;
DROP TABLE entities;
ALTER TABLE entities_by_ref RENAME TO entities;
CREATE INDEX entities_by_kind ON entities (kind, namespace);

CREATE TABLE changes_by_ref (
    entity_ref   TEXT    NOT NULL PRIMARY KEY,
    event_offset INTEGER NOT NULL UNIQUE,
    change       TEXT    NOT NULL CHECK (change IN ('added', 'updated', 'removed')),
    kind         TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO changes_by_ref (entity_ref, event_offset, change, kind, at_ms)
    SELECT entity_ref, event_offset, change, kind, at_ms FROM changes;
DROP TABLE changes;
ALTER TABLE changes_by_ref RENAME TO changes;
CREATE INDEX changes_by_kind ON changes (kind, event_offset);
CREATE INDEX changes_tombstones ON changes (at_ms) WHERE change = 'removed';
