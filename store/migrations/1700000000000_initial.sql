-- Up Migration

-- Facts about this store, such as which master key sealed it.
CREATE TABLE store_meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);

-- Versioned key/value secrets, sealed with AES-256-GCM; only ciphertext is stored.
CREATE TABLE secrets (
  path        text        NOT NULL,
  version     integer     NOT NULL,
  state       text        NOT NULL CHECK (state IN ('current', 'pending', 'previous', 'retired')),
  secret_type text        NOT NULL,
  key_id      text        NOT NULL,
  ciphertext  bytea       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz,
  PRIMARY KEY (path, version)
);
CREATE UNIQUE INDEX secrets_one_current ON secrets (path) WHERE state = 'current' AND deleted_at IS NULL;

CREATE TABLE engines (
  name                  text        PRIMARY KEY,
  plugin                text        NOT NULL,
  connection_url        text        NOT NULL,
  root_credentials_path text        NOT NULL,
  credentials_cache_ttl integer     NOT NULL,
  default_ttl           integer     NOT NULL,
  max_ttl               integer     NOT NULL,
  connection_status     text        NOT NULL,
  last_error            text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE roles (
  engine                text        NOT NULL REFERENCES engines (name) ON DELETE CASCADE,
  name                  text        NOT NULL,
  creation_statements   jsonb       NOT NULL,
  revocation_statements jsonb       NOT NULL,
  renew_statements      jsonb       NOT NULL,
  default_ttl           integer     NOT NULL,
  max_ttl               integer     NOT NULL,
  username_template     text        NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (engine, name)
);

-- A projection of each lease workflow's state, written by the workflow's activities, for listing.
CREATE TABLE leases (
  lease_id       text        PRIMARY KEY,
  engine         text        NOT NULL,
  role           text        NOT NULL,
  username       text        NOT NULL,
  state          text        NOT NULL,
  issued_at      timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  max_expires_at timestamptz NOT NULL,
  revoked_at     timestamptz,
  identity_id    text        NOT NULL,
  metadata       jsonb       NOT NULL DEFAULT '{}',
  last_error     text,
  forced         boolean     NOT NULL DEFAULT false,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leases_engine_role_state ON leases (engine, role, state);
CREATE INDEX leases_state ON leases (state);

-- Tokens are stored only as SHA-256 hashes.
CREATE TABLE tokens (
  token_id    text        PRIMARY KEY,
  token_hash  text        NOT NULL UNIQUE,
  identity_id text        NOT NULL,
  scopes      text[]      NOT NULL,
  policies    text[]      NOT NULL DEFAULT '{}',
  expires_at  timestamptz,
  revoked_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Hash-chained: each entry's hash covers its content and the previous entry's hash.
CREATE TABLE audit_log (
  id          bigserial   PRIMARY KEY,
  timestamp   timestamptz NOT NULL DEFAULT now(),
  identity_id text        NOT NULL,
  action      text        NOT NULL,
  path        text        NOT NULL,
  result      text        NOT NULL,
  extra_data  jsonb       NOT NULL DEFAULT '{}',
  prev_hash   text        NOT NULL,
  hash        text        NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, timestamp);
CREATE INDEX audit_log_identity ON audit_log (identity_id, timestamp);

-- Down Migration
DROP TABLE audit_log;
DROP TABLE tokens;
DROP TABLE leases;
DROP TABLE roles;
DROP TABLE engines;
DROP TABLE secrets;
DROP TABLE store_meta;
