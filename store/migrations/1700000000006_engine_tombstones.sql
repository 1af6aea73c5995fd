-- Up Migration

-- A deleted engine stays as a tombstone while its leases are revoked: hidden from the API and refused to
-- issuing, still reachable for revocations. The row goes once no lease of it is unfinished.
ALTER TABLE engines ADD COLUMN deleted_at timestamptz;

-- Down Migration

ALTER TABLE engines DROP COLUMN deleted_at;
