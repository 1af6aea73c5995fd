-- What the product's own role needs in its store, and no more. Run as the store's owner after every
-- migration (`npm run migrate` as the owner), with psql:
--
--   psql "$OWNER_DATABASE_URL" -v app_role=scaivault_app -f store/least-privilege.sql
--
-- The API and the worker then run with DATABASE_URL naming scaivault_app, a role with LOGIN and nothing
-- else (no SUPERUSER, CREATEDB, CREATEROLE or ownership). Their start-up migration check only reads.
-- audit_log takes INSERT and SELECT alone: the product can append evidence but never rewrite it, and as
-- it owns no table it cannot switch off the table's append-only triggers either.

GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM :"app_role";
-- The migration bookkeeping is the owner's to write.
REVOKE INSERT, UPDATE, DELETE ON scaivault_migrations FROM :"app_role";
