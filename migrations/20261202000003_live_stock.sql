-- Live stock (issue 12, section 1): every transaction that changes what a coupon's live
-- stream shows sends one `NOTIFY coupon_live` with the coupon's state as that transaction
-- leaves it. PostgreSQL delivers notifications at commit, in commit order, to every
-- listening process (one per app replica, `app/src/live/hub.rs`), which fans them out to
-- its streams.

-- `held`: the units held for the restock waitlist (`coupons.held`, kept by the waitlist's
-- triggers; `coupon_held_units` reads it), outside `stock`, which is what the public can buy.

-- The version of what the live stream shows of a coupon. Taken from one sequence whenever
-- the stock, the on-sale switch or the held units change: the coupon's row lock orders the
-- transactions that change it, so a later commit always carries a higher version, and a
-- stream can tell a stale value (read before a change it was already told of) from a new one.
create sequence coupon_live_seq;
alter table coupons add column live_seq bigint not null default 0;

create or replace function coupons_live_version() returns trigger as $$
begin
    new.live_seq := nextval('coupon_live_seq');
    return new;
end;
$$ language plpgsql;
-- A hold given, bought, given up or run out changes `held`, so it reaches the streams too.
create trigger coupons_live_version before update on coupons
    for each row when (old.stock is distinct from new.stock or old.on_sale is distinct from new.on_sale
                       or old.held is distinct from new.held)
    execute function coupons_live_version();

-- The stream's state of one coupon, as JSON: the fields of `LiveStock` (app/src/domain/live.rs)
-- and the version `seq`.
create or replace function coupon_live_state(c coupons) returns json as $$
    select json_build_object('coupon_id', c.id, 'stock_left', c.stock, 'held', c.held,
                             'on_sale', c.on_sale, 'seq', c.live_seq);
$$ language sql stable;

create or replace function coupons_live_notify() returns trigger as $$
begin
    perform pg_notify('coupon_live', coupon_live_state(new)::text);
    return null;
end;
$$ language plpgsql;
-- One notification per changing statement and coupon: the purchase batch changes the stock
-- with one update, so a batch of 128 purchases sends one.
create trigger coupons_live_notify after update on coupons
    for each row when (old.live_seq is distinct from new.live_seq)
    execute function coupons_live_notify();

-- For changes the coupon row does not see (the waitlist's holds): a new version and its
-- notification, in the caller's transaction.
create or replace function coupon_live_touch(coupon uuid) returns void as $$
    update coupons set live_seq = nextval('coupon_live_seq') where id = coupon;
$$ language sql;
