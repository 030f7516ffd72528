-- Least privilege (issue 14 §5). Two roles use the database:
--   * the migrator, which runs these migrations and therefore owns every table, function
--     and schema they create (`server migrate` / COUPAN_MIGRATE_DATABASE_URL);
--   * the app, a login role that is a member of the group role `coupan_runtime` and has
--     only the privileges below (DATABASE_URL).
-- An owner can alter, truncate and drop its tables and disable their triggers; the app owns
-- nothing, so it can do none of that. The app's role is provisioned outside the migrations
-- (scripts/db-roles.sql, as a superuser); where the migrator may create roles (the tests run
-- the migrations as a superuser), the group role is created here when it is missing.
do $$
begin
    if not exists (select from pg_roles where rolname = 'coupan_runtime') then
        create role coupan_runtime nologin;
    end if;
end
$$;

-- Only the owner creates objects in the app's schemas (PostgreSQL 15 already refuses
-- CREATE in `public` to everyone else; older versions allowed it). Without the right to
-- do so (the migrator does not own `public` everywhere) this only warns.
revoke create on schema public from public;

grant usage on schema public, tower_sessions to coupan_runtime;

-- Rows, not tables: select, insert, update and delete. No TRUNCATE, REFERENCES or TRIGGER,
-- no DDL (which needs ownership).
grant select, insert, update, delete on all tables in schema public, tower_sessions
    to coupan_runtime;
grant usage, select on all sequences in schema public, tower_sessions to coupan_runtime;

-- The event log is append-only: the trigger `events_append_only` refuses UPDATE and
-- DELETE for any role that may run them, and the app's role may not even try. The
-- migrations' bookkeeping is read by the readiness check, written by the migrator only.
revoke update, delete on events from coupan_runtime;
do $$
begin
    -- Absent when the files are applied without sqlx (scripts/sqlx-prepare.sh).
    if to_regclass('_sqlx_migrations') is not null then
        revoke insert, update, delete on _sqlx_migrations from coupan_runtime;
    end if;
end
$$;

-- Tables and sequences that later migrations create (as the same migrator) get the same
-- row privileges without a grant of their own. A later append-only table must revoke
-- UPDATE and DELETE itself, as events does above.
alter default privileges in schema public, tower_sessions
    grant select, insert, update, delete on tables to coupan_runtime;
alter default privileges in schema public, tower_sessions
    grant usage, select on sequences to coupan_runtime;
