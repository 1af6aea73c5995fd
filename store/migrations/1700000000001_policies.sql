-- Up Migration

-- Path policies: named sets of {path_pattern, permissions} rules.
CREATE TABLE policies (
  id         text        PRIMARY KEY,
  name       text        NOT NULL UNIQUE,
  rules      jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A policy applies to every token of each identity it is bound to.
CREATE TABLE policy_bindings (
  policy_id   text        NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
  identity_id text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (policy_id, identity_id)
);
CREATE INDEX policy_bindings_identity ON policy_bindings (identity_id);

-- Identities seen by minting a token; a deleted identity's tokens stop authenticating.
CREATE TABLE identities (
  identity_id text        PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz
);

CREATE INDEX tokens_identity ON tokens (identity_id);

-- Down Migration
DROP INDEX tokens_identity;
DROP TABLE identities;
DROP TABLE policy_bindings;
DROP TABLE policies;
