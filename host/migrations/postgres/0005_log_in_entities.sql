-- The compacted change log folded into the catalog. The latest event of a
-- live entity is its row in `entities`: its offset, and whether it was added
-- or updated. The latest event of a removed ref is its tombstone in
-- `removals`. So an entity's change costs one row, not two. Readers merge
-- the two tables in offset order.
ALTER TABLE entities ADD COLUMN last_change TEXT NOT NULL DEFAULT 'added'
    CHECK (last_change IN ('added', 'updated'));
UPDATE entities e SET last_change = 'updated'
    FROM changes c WHERE c.entity_ref = e.entity_ref AND c.change = 'updated';
CREATE INDEX entities_by_offset ON entities (event_offset);
-- The events of some kinds in offset order (`GET /api/events?kind=`), and a
-- listing by kind. It replaces the index by kind and namespace: one index
-- per entity fewer to write.
DROP INDEX entities_by_kind;
CREATE INDEX entities_by_kind ON entities (kind, event_offset);

-- A ref has at most one tombstone: it is deleted when the ref is added again.
CREATE TABLE removals (
    event_offset BIGINT NOT NULL PRIMARY KEY,
    entity_ref   TEXT   NOT NULL UNIQUE,
    kind         TEXT   NOT NULL,
    at_ms        BIGINT NOT NULL
);
INSERT INTO removals (event_offset, entity_ref, kind, at_ms)
    SELECT event_offset, entity_ref, kind, at_ms FROM changes WHERE change = 'removed';
-- Tombstones by age, for the purge.
CREATE INDEX removals_by_age ON removals (at_ms);

DROP TABLE changes;
