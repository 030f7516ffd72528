-- Coupan's database roles (issue 14 §5), for psql as a superuser, idempotent:
--
--   psql -v ON_ERROR_STOP=1 -v database=coupan \
--        -v migrator=coupan_migrator -v migrator_password=... \
--        -v app=coupan_app -v app_password=... -f scripts/db-roles.sql
--
-- * `migrator` (login): owns the database and everything the migrations create; it runs
--   the migrations (COUPAN_MIGRATE_DATABASE_URL, `server migrate`) and nothing else.
-- * `coupan_runtime` (no login): the app's privileges, granted by the migrations
--   (migrations/*_least_privilege.sql).
-- * `app` (login, member of coupan_runtime): what the app connects as (DATABASE_URL).
--
-- Neither login is a superuser or may create roles or databases. A database whose tables
-- were created by another role (migrated before these roles existed, e.g. by the
-- superuser) is handed over to the migrator. The same file runs for the embedded database
-- (scripts/lib.sh) and, as deploy/k8s/postgres-init.yaml, when the PostgreSQL of the
-- Kubernetes manifests is created (server/tests/api/deploy.rs checks they are the same).
\set ON_ERROR_STOP on
-- Quiet on a second run ("already a member", "no privileges were revoked").
set client_min_messages = warning;

select format('create role %I', :'migrator')
where not exists (select from pg_roles where rolname = :'migrator') \gexec
alter role :"migrator" with login nosuperuser nocreatedb nocreaterole noreplication
    nobypassrls password :'migrator_password';

select 'create role coupan_runtime'
where not exists (select from pg_roles where rolname = 'coupan_runtime') \gexec
alter role coupan_runtime with nologin nosuperuser nocreatedb nocreaterole noreplication
    nobypassrls;

select format('create role %I', :'app')
where not exists (select from pg_roles where rolname = :'app') \gexec
alter role :"app" with login inherit nosuperuser nocreatedb nocreaterole noreplication
    nobypassrls password :'app_password';
grant coupan_runtime to :"app";

alter database :"database" owner to :"migrator";
grant connect on database :"database" to coupan_runtime;

-- Hand over what other roles created in the app's schemas (objects of extensions stay
-- with their extension; identity and serial sequences follow their table).
\connect :"database"
set client_min_messages = warning;
select format('alter schema %I owner to %I', n.nspname, :'migrator')
from pg_namespace n
where n.nspname in ('public', 'tower_sessions')
  and n.nspowner not in (:'migrator'::regrole, 'pg_database_owner'::regrole) \gexec
select format('alter table %I.%I owner to %I', n.nspname, c.relname, :'migrator')
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname in ('public', 'tower_sessions')
  and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and c.relowner <> :'migrator'::regrole
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid
                    and d.deptype = 'e') \gexec
select format('alter sequence %I.%I owner to %I', n.nspname, c.relname, :'migrator')
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname in ('public', 'tower_sessions')
  and c.relkind = 'S'
  and c.relowner <> :'migrator'::regrole
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid
                    and d.deptype in ('a', 'i', 'e')) \gexec
select format('alter routine %s owner to %I', p.oid::regprocedure, :'migrator')
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname in ('public', 'tower_sessions')
  and p.proowner <> :'migrator'::regrole
  and not exists (select from pg_depend d
                  where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                    and d.deptype = 'e') \gexec
