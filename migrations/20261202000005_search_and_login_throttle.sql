-- Catalogue search (`coupons::repo::search`): `%text%` ILIKE scans of coupon names and
-- descriptions and of shop names, served by trigram indexes instead of reading every row.
-- pg_trgm is one of PostgreSQL's contrib modules (Debian: postgresql-contrib; the official
-- postgres image has it) and a trusted extension: a role with CREATE on the database may
-- create it without being a superuser.
create extension if not exists pg_trgm;
create index coupons_name_trgm_idx on coupons using gin (name gin_trgm_ops);
create index coupons_description_trgm_idx on coupons using gin (description gin_trgm_ops);
create index shops_name_trgm_idx on shops using gin (name gin_trgm_ops);

-- Failed log-ins are counted per e-mail AND client address (`auth::accounts`): guesses
-- from one address lock that address out, not the account's owner everywhere. A row is
-- written before the password is checked (an attempt counts until it proves right), so
-- concurrent guesses cannot exceed the limit. Rows from before this column have no
-- address; they age out within the window.
alter table login_failures add column client_ip text;
create index login_failures_email_client_idx on login_failures (email, client_ip, failed_at);
