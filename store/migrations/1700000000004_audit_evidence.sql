-- Up Migration

-- Entries are chained with an HMAC under a key derived from the master key (its id in key_id); entries
-- written before this migration carry no key id and keep their unkeyed hashes, as a prefix of the chain.
ALTER TABLE audit_log ADD COLUMN key_id text;

-- What an entry records, named once (a lease or rotation id and its event): an activity retried after its
-- entry committed finds the key taken and writes nothing.
ALTER TABLE audit_log ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX audit_log_idempotency_key ON audit_log (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Append-only, even for the table's owner: only a superuser who switches triggers off can change history,
-- and the chain and its checkpoints in Temporal show what they did.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Down Migration

DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP TRIGGER audit_log_no_update_or_delete ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP INDEX audit_log_idempotency_key;
ALTER TABLE audit_log DROP COLUMN idempotency_key;
ALTER TABLE audit_log DROP COLUMN key_id;
