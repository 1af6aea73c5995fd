-- Up Migration

-- How generated values look (`sp_db_passwords` ships built in: the guide's step 7 uses it unmade).
CREATE TABLE secret_policies (
  id            text        PRIMARY KEY,
  name          text        NOT NULL UNIQUE,
  length        integer     NOT NULL CHECK (length BETWEEN 8 AND 256),
  charset       text        NOT NULL,
  min_digits    integer     NOT NULL DEFAULT 0,
  min_lowercase integer     NOT NULL DEFAULT 0,
  min_uppercase integer     NOT NULL DEFAULT 0,
  min_symbols   integer     NOT NULL DEFAULT 0,
  builtin       boolean     NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO secret_policies (id, name, length, charset, builtin)
VALUES ('sp_db_passwords', 'db-passwords', 32, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', true);

CREATE TABLE rotation_policies (
  id                   text        PRIMARY KEY,
  name                 text        NOT NULL UNIQUE,
  interval_seconds     integer     NOT NULL,
  grace_period_seconds integer     NOT NULL,
  auto_generate        boolean     NOT NULL,
  secret_policy_id     text        NOT NULL REFERENCES secret_policies (id),
  created_at           timestamptz NOT NULL DEFAULT now()
);

-- A secret rotates under at most one policy, on a Temporal schedule of its own.
CREATE TABLE rotation_assignments (
  secret_path text        PRIMARY KEY,
  policy_id   text        NOT NULL REFERENCES rotation_policies (id) ON DELETE CASCADE,
  schedule_id text        NOT NULL,
  assigned_at timestamptz NOT NULL DEFAULT now()
);

-- One row per rotation. `pending` waits for confirmation; `confirmed` is the grace period (the previous
-- version still readable); the rest are final. At most one rotation of a path is in progress.
CREATE TABLE rotations (
  rotation_id      text        PRIMARY KEY,
  secret_path      text        NOT NULL,
  policy_id        text,
  workflow_id      text        NOT NULL,
  trigger          text        NOT NULL CHECK (trigger IN ('schedule', 'manual', 'rotate_root')),
  state            text        NOT NULL CHECK (state IN ('pending', 'confirmed', 'completed', 'expired', 'failed')),
  new_version      integer,
  previous_version integer,
  requested_by     text        NOT NULL,
  confirmed_by     text,
  started_at       timestamptz NOT NULL DEFAULT now(),
  confirm_deadline timestamptz,
  confirmed_at     timestamptz,
  grace_ends_at    timestamptz,
  finished_at      timestamptz,
  last_error       text
);
CREATE UNIQUE INDEX rotations_one_in_progress ON rotations (secret_path) WHERE state IN ('pending', 'confirmed');
CREATE INDEX rotations_path_started ON rotations (secret_path, started_at DESC);

-- Webhook receivers; the signing secret is sealed with the secret-store keyring, never stored in plaintext.
CREATE TABLE webhooks (
  id             text        PRIMARY KEY,
  url            text        NOT NULL,
  events         text[]      NOT NULL,
  path_pattern   text,
  key_id         text        NOT NULL,
  sealed_secret  bytea       NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per event sent to one webhook; the attempts are Temporal activity retries.
CREATE TABLE webhook_deliveries (
  id              text        PRIMARY KEY,
  webhook_id      text        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id        text        NOT NULL,
  event_type      text        NOT NULL,
  secret_path     text        NOT NULL,
  rotation_id     text,
  status          text        NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  failed_attempts integer     NOT NULL DEFAULT 0,
  response_code   integer,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

-- Down Migration
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE rotations;
DROP TABLE rotation_assignments;
DROP TABLE rotation_policies;
DROP TABLE secret_policies;
