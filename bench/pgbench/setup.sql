-- Tables and rows for the pgbench ceiling, in the benchmark's own database
-- `coupan_ceiling` (the app's migrations are applied to it first, so (b) runs on the
-- app's real schema, triggers included). Loaded by the bench driver before pgbench runs.

-- (a) The textbook single-row design: one stock row, an order row and an event row.
create table ceiling_stock (
    id integer primary key,
    n  integer not null check (n >= 0)
);
create table ceiling_orders (
    id         bigint generated always as identity primary key,
    stock_id   integer not null,
    customer   integer not null,
    quantity   integer not null,
    created_at timestamptz not null default now()
);
create table ceiling_events (
    id          bigint generated always as identity primary key,
    kind        text not null,
    payload     jsonb not null,
    occurred_at timestamptz not null default now()
);
insert into ceiling_stock (id, n) values (1, 1000000000);

-- (b) The app's schema: an owner with a shop, a coupon that never sells out during the run,
-- and 256 customers (ids derived from their number so the script can name them).
insert into users (id, email, password_hash, name, role)
values ('00000000-0000-0000-0000-00000000a001', 'owner@ceiling.bench', 'x', 'Ceiling owner', 'owner');
insert into shops (id, owner_id, name)
values ('00000000-0000-0000-0000-00000000b001', '00000000-0000-0000-0000-00000000a001', 'Ceiling shop');
insert into coupons (id, shop_id, name, price, stock)
values ('00000000-0000-0000-0000-00000000c001', '00000000-0000-0000-0000-00000000b001', 'Ceiling coupon', 9900, 1000000000);
-- (c) The app's batch transaction buys a coupon of its own, so each script's counts stand apart.
insert into coupons (id, shop_id, name, price, stock)
values ('00000000-0000-0000-0000-00000000c002', '00000000-0000-0000-0000-00000000b001', 'Ceiling batch coupon', 9900, 1000000000);
insert into users (id, email, password_hash, name, role)
select md5('ceiling-c' || g)::uuid, 'c' || g || '@ceiling.bench', 'x', 'C' || g, 'customer'
from generate_series(1, 256) g;
analyze;
