-- Foundation: accounts, shops, coupons, browser sessions, login throttling.
--
-- Invariants live here as constraints, so no code path can break them:
-- an e-mail belongs to one account, an owner has exactly one shop, a coupon's
-- stock never goes below zero, its sale window is never inverted.

-- Sets `updated_at` on every update of a row (attach with `select trigger_updated_at('t')`).
create or replace function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

create or replace function trigger_updated_at(tablename regclass) returns void as $$
begin
    execute format(
        'create trigger set_updated_at before update on %s
         for each row when (old is distinct from new) execute function set_updated_at();',
        tablename);
end;
$$ language plpgsql;

create table users (
    id            uuid primary key default gen_random_uuid(),
    -- Stored normalised (trimmed, lower-case) by the `Email` domain type.
    email         text not null,
    password_hash text not null,
    name          text not null check (char_length(name) between 1 and 50),
    role          text not null check (role in ('owner', 'customer')),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint users_email_key unique (email)
);
select trigger_updated_at('users');

-- One shop per owner for now; coupons belong to the shop, not to the person.
create table shops (
    id         uuid primary key default gen_random_uuid(),
    owner_id   uuid not null references users (id),
    name       text not null check (char_length(name) between 1 and 80),
    created_at timestamptz not null default now(),
    constraint shops_owner_id_key unique (owner_id)
);

create table coupons (
    id                 uuid primary key default gen_random_uuid(),
    shop_id            uuid not null references shops (id),
    name               text not null check (char_length(name) between 1 and 100),
    description        text not null default '' check (char_length(description) <= 2000),
    -- Whole Korean won.
    price              bigint not null check (price between 1 and 10000000),
    -- Units left to sell. The purchase path decrements it with `where stock >= $qty`;
    -- this check is the last line of defence against overselling.
    stock              integer not null check (stock >= 0),
    sale_starts_at     timestamptz,
    sale_ends_at       timestamptz,
    valid_until        timestamptz,
    per_customer_limit integer check (per_customer_limit between 1 and 1000),
    -- The owner's switch: false = sales stopped.
    on_sale            boolean not null default true,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint coupons_sale_window check (
        sale_starts_at is null or sale_ends_at is null or sale_ends_at > sale_starts_at)
);
select trigger_updated_at('coupons');
create index coupons_shop_id_idx on coupons (shop_id, created_at desc);
create index coupons_created_at_idx on coupons (created_at desc);

-- Failed logins per e-mail (whether or not the account exists), used to throttle
-- password guessing. Rows older than the window are pruned on each failure.
create table login_failures (
    email     text not null,
    failed_at timestamptz not null default now()
);
create index login_failures_email_idx on login_failures (email, failed_at);

-- tower-sessions' PostgreSQL store (the same definition its `migrate()` creates),
-- kept here so that several app replicas never race to create it.
create schema if not exists tower_sessions;
create table if not exists tower_sessions.session (
    id          text primary key not null,
    data        bytea not null,
    expiry_date timestamptz not null
);
