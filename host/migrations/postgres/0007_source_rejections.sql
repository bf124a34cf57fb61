-- The entities each source sent that were not taken in (invalid, out of its
-- scope, too big, claimed under another source's location): the latest
-- rejection of each ref (or, for an entity with no usable ref, of each
-- reason) per source, with the cycle it came in. `GET /api/rejections`
-- answers "why is my entity missing?" from it. Rows of cycles before the
-- previous one are pruned, and at most a bounded number is kept per source.
CREATE TABLE source_rejections (
    source     TEXT    NOT NULL,
    entity_key TEXT    NOT NULL,
    entity_ref TEXT,
    reason     TEXT    NOT NULL,
    cycle      BIGINT  NOT NULL,
    at_ms      BIGINT  NOT NULL,
    PRIMARY KEY (source, entity_key)
);
CREATE INDEX source_rejections_by_time ON source_rejections (source, at_ms);
