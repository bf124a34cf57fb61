-- The compacted change log folded into the catalog. The latest event of a
-- live entity is its row in `entities`: its offset, and whether it was added
-- or updated. The latest event of a removed ref is its tombstone in
-- `removals`. So an entity's change costs one row, not two: writing a
-- separate log row (and its indexes) for every change took about a fifth of
-- a first ingest (`weir bench store`). Readers merge the two tables in
-- offset order.
ALTER TABLE entities ADD COLUMN last_change TEXT NOT NULL DEFAULT 'added'
    CHECK (last_change IN ('added', 'updated'));
UPDATE entities SET last_change = 'updated'
    WHERE entity_ref IN (SELECT entity_ref FROM changes WHERE change = 'updated');
CREATE INDEX entities_by_offset ON entities (event_offset);
-- The events of some kinds in offset order (`GET /api/events?kind=`), and a
-- listing by kind. It replaces the index by kind and namespace: one index
-- per entity fewer to write.
DROP INDEX entities_by_kind;
CREATE INDEX entities_by_kind ON entities (kind, event_offset);

-- The row id is the offset, so a tombstone is appended at the end of the
-- table. A ref has at most one: it is deleted when the ref is added again.
CREATE TABLE removals (
    event_offset INTEGER NOT NULL PRIMARY KEY,
    entity_ref   TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL
);
INSERT INTO removals (event_offset, entity_ref, kind, at_ms)
    SELECT event_offset, entity_ref, kind, at_ms FROM changes WHERE change = 'removed';
-- Tombstones by age, for the purge.
CREATE INDEX removals_by_age ON removals (at_ms);

DROP TABLE changes;
