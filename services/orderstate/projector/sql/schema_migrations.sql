-- Named queries of the migration runner (orderstate.projector.migrate): its own bookkeeping
-- table, not the migrations themselves (those are the numbered files in migrations/).

-- name: migrations_lock
-- Concurrent runners (a Helm hook and a laptop) wait for each other; transaction-scoped, so
-- it also works through PgBouncer in transaction mode.
SELECT pg_advisory_xact_lock($1);

-- name: migrations_create_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrations_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: migrations_applied
SELECT version, checksum FROM schema_migrations;

-- name: migrations_record
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);
