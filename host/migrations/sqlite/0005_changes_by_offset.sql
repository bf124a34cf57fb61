-- The change log keyed by its offset: the row id is the offset, so a new
-- event is appended at the end of the table's B-tree and no separate index
-- of offsets is kept (one B-tree fewer written per event). The ref stays
-- unique: the log is compacted to the latest event of each ref.
CREATE TABLE changes_by_offset (
    event_offset INTEGER NOT NULL PRIMARY KEY,
    entity_ref   TEXT    NOT NULL UNIQUE,
    change       TEXT    NOT NULL CHECK (change IN ('added', 'updated', 'removed')),
    kind         TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL
);
INSERT INTO changes_by_offset (event_offset, entity_ref, change, kind, at_ms)
    SELECT event_offset, entity_ref, change, kind, at_ms FROM changes;
DROP TABLE changes;
ALTER TABLE changes_by_offset RENAME TO changes;
CREATE INDEX changes_by_kind ON changes (kind, event_offset);
CREATE INDEX changes_tombstones ON changes (at_ms) WHERE change = 'removed';
