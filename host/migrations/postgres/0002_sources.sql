-- The engine's state of each source, one row per source: where its cycle
-- stands (phase and the time of its next action), the cursor of the last
-- committed page, the cycle's running totals, consecutive failed bursts (the
-- back-off step), the last error, and the lease of the replica running it.
-- A page's entities, its cursor and its marks commit in one transaction.
CREATE TABLE source_state (
    source           TEXT    NOT NULL PRIMARY KEY,
    phase            TEXT    NOT NULL
        CHECK (phase IN ('resting', 'interstitial', 'bursting', 'backing off')),
    next_action_ms   BIGINT NOT NULL,
    cycle            BIGINT NOT NULL,
    cycle_started_ms BIGINT,
    cursor           TEXT,
    pages            BIGINT NOT NULL DEFAULT 0,
    entities         BIGINT NOT NULL DEFAULT 0,
    added            BIGINT NOT NULL DEFAULT 0,
    updated          BIGINT NOT NULL DEFAULT 0,
    removed          BIGINT NOT NULL DEFAULT 0,
    rejected         BIGINT NOT NULL DEFAULT 0,
    errors           BIGINT NOT NULL DEFAULT 0,
    failures         BIGINT NOT NULL DEFAULT 0,
    entities_before  BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_error_ms    BIGINT,
    last_sweep       TEXT,
    lease_owner      TEXT,
    lease_until_ms   BIGINT,
    configured_ms    BIGINT NOT NULL,
    -- How long after `configured_ms` the source's entities expire once no
    -- replica runs it (its own `expireAfter`, remembered).
    expire_after_ms  BIGINT NOT NULL
);

-- The refs each source returned in its current cycle. The sweep removes the
-- source's contributions that are not here, then clears them.
CREATE TABLE source_marks (
    source     TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    PRIMARY KEY (source, entity_ref)
);

-- One row per finished cycle (completed, failed or cancelled).
CREATE TABLE source_cycles (
    source     TEXT    NOT NULL,
    cycle      BIGINT NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms   BIGINT NOT NULL,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('completed', 'failed', 'cancelled')),
    pages      BIGINT NOT NULL,
    entities   BIGINT NOT NULL,
    added      BIGINT NOT NULL,
    updated    BIGINT NOT NULL,
    removed    BIGINT NOT NULL,
    rejected   BIGINT NOT NULL,
    errors     BIGINT NOT NULL,
    sweep      TEXT,
    PRIMARY KEY (source, cycle)
);

-- The latest errors of each source (older ones are pruned).
CREATE TABLE source_errors (
    source  TEXT    NOT NULL,
    at_ms   BIGINT NOT NULL,
    cycle   BIGINT NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX source_errors_by_source ON source_errors (source, at_ms);
