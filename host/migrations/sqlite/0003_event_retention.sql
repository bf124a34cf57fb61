-- The event log's retention. `changes` keeps one row per ref (its latest
-- event); removal rows (tombstones) older than the configured retention are
-- deleted. `purged_through` is the highest offset of a deleted tombstone: a
-- consumer that stopped below it may have missed a removal, so it must
-- re-bootstrap from the entities (HTTP 410 Gone); at or above it, nothing
-- it needs is missing.
CREATE TABLE log_retention (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    purged_through INTEGER NOT NULL,
    purged_ms      INTEGER
);
INSERT INTO log_retention (id, purged_through) VALUES (1, 0);

-- The events of some kinds in offset order (`GET /api/events?kind=`).
CREATE INDEX changes_by_kind ON changes (kind, event_offset);

-- Tombstones by age, for the purge.
CREATE INDEX changes_tombstones ON changes (at_ms) WHERE change = 'removed';
