-- Up Migration

-- Bounds on every statement the product runs on an engine's database, below the activities' 30 s: a role
-- statement that never ends (pg_sleep, a lock held elsewhere) is cancelled by the database itself.
ALTER TABLE engines ADD COLUMN statement_timeout integer NOT NULL DEFAULT 10;
ALTER TABLE engines ADD COLUMN lock_timeout integer NOT NULL DEFAULT 5;

-- Down Migration

ALTER TABLE engines DROP COLUMN lock_timeout;
ALTER TABLE engines DROP COLUMN statement_timeout;
