-- The deliveries of pushed events each source has applied, by the id their
-- sender gave them (GitHub's X-GitHub-Delivery), so that a delivery sent
-- again within the source's replay window is acknowledged and not applied
-- twice. Rows older than the longest window are purged.
CREATE TABLE push_deliveries (
    source TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (source, delivery)
);
CREATE INDEX push_deliveries_by_time ON push_deliveries (received_ms);
