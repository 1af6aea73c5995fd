-- Up Migration

-- The CA that verifies a target database's TLS certificate, as PEM in the engine's config: the API never
-- reads a file a connection_url names (sslrootcert and friends are refused).
ALTER TABLE engines ADD COLUMN ca_certificate text;

-- Down Migration

ALTER TABLE engines DROP COLUMN ca_certificate;
