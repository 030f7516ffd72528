-- The restock waitlist (`app/src/waitlist/`). Customers line up for a sold-out coupon;
-- when units come back, each is held for the next person in line, one each, for
-- COUPAN_WAITLIST_HOLD_SECS; only the holder can buy a held unit meanwhile. Every change
-- to a coupon's line or holds locks the coupon's row first (as purchases do), so the
-- database decides them one after the other, across replicas.
--
-- Units: `coupons.stock` is what the public can buy; `coupons.held` counts the units
-- held for people in the line, outside `stock`. A unit that comes back goes to the line
-- first (`coupon_return_units`), so whenever someone waits without a hold, `stock` is 0.

alter table coupons add column held integer not null default 0;
alter table coupons add constraint coupons_held check (held >= 0);

create table waitlist (
    coupon_id   uuid not null references coupons (id),
    customer_id uuid not null references users (id),
    -- The order of the line: a customer's position is their rank by `seq` among the
    -- coupon's entries (1-based, so it has no gaps as people leave or are served).
    seq         bigint generated always as identity,
    joined_at   timestamptz not null default now(),
    -- Set while a unit is held for the customer: theirs to buy until then. A hold that
    -- ran out is removed (and its unit passed on) by `waitlist_lapse`.
    hold_until  timestamptz,
    primary key (coupon_id, customer_id)
);
create index waitlist_line_idx on waitlist (coupon_id, seq);
create index waitlist_customer_idx on waitlist (customer_id);
create index waitlist_holds_idx on waitlist (hold_until) where hold_until is not null;

-- `coupons.held` = the coupon's waitlist rows with a hold, kept by these triggers so that
-- no statement can forget it (the purchase path reads it with the coupon's row lock and
-- looks at the waitlist only when it is not 0). One update per coupon per statement.
create or replace function waitlist_count_holds() returns trigger as $$
begin
    if tg_op = 'INSERT' then
        update coupons c set held = c.held + d.n
        from (select coupon_id, count(*)::int as n from new_rows
              where hold_until is not null group by coupon_id) d
        where c.id = d.coupon_id;
    elsif tg_op = 'DELETE' then
        update coupons c set held = c.held - d.n
        from (select coupon_id, count(*)::int as n from old_rows
              where hold_until is not null group by coupon_id) d
        where c.id = d.coupon_id;
    else
        update coupons c set held = c.held + d.n
        from (select coupon_id, sum(x.n)::int as n
              from (select coupon_id, 1 as n from new_rows where hold_until is not null
                    union all
                    select coupon_id, -1 as n from old_rows where hold_until is not null) x
              group by coupon_id having sum(x.n) <> 0) d
        where c.id = d.coupon_id;
    end if;
    return null;
end;
$$ language plpgsql;
create trigger waitlist_count_holds_insert after insert on waitlist
    referencing new table as new_rows
    for each statement execute function waitlist_count_holds();
create trigger waitlist_count_holds_update after update on waitlist
    referencing old table as old_rows new table as new_rows
    for each statement execute function waitlist_count_holds();
create trigger waitlist_count_holds_delete after delete on waitlist
    referencing old table as old_rows
    for each statement execute function waitlist_count_holds();

-- Units held for the waitlist, outside `stock` (the live stock stream reads this; its
-- `stock_left` is `stock`, what the public can buy, as in the coupon API).
create or replace function coupon_held_units(coupon uuid) returns integer as $$
    select c.held from coupons c where c.id = coupon
$$ language sql stable;

-- Gives the coupon's public units to the people waiting without a hold, in line order,
-- one unit each, held until now() + `p_hold`; returns whom and until when (the caller
-- appends a `RestockHeld` event for each). Locks the coupon's row first; each statement
-- after the lock sees every change committed before it.
create or replace function waitlist_serve(p_coupon uuid, p_hold interval)
returns table (customer_id uuid, hold_until timestamptz) as $$
#variable_conflict use_column
declare
    units integer;
    granted integer := 0;
    r record;
begin
    select c.stock into units from coupons c where c.id = p_coupon for no key update;
    if not found or units <= 0 then
        return;
    end if;
    for r in
        update waitlist w set hold_until = now() + p_hold
        from (select x.customer_id from waitlist x
              where x.coupon_id = p_coupon and x.hold_until is null
              order by x.seq limit units) n
        where w.coupon_id = p_coupon and w.customer_id = n.customer_id
        returning w.customer_id as who, w.hold_until as until
    loop
        granted := granted + 1;
        customer_id := r.who;
        hold_until := r.until;
        return next;
    end loop;
    if granted > 0 then
        update coupons c set stock = c.stock - granted where c.id = p_coupon;
    end if;
end;
$$ language plpgsql;

-- Units come back to the coupon (a cancel, a declined payment, an expired order, a hold
-- given up or run out): onto the stock, then to the people waiting, as far as they go.
create or replace function coupon_return_units(p_coupon uuid, p_units integer, p_hold interval)
returns table (customer_id uuid, hold_until timestamptz) as $$
begin
    update coupons set stock = stock + p_units where id = p_coupon;
    return query select * from waitlist_serve(p_coupon, p_hold);
end;
$$ language plpgsql;

-- Holds of the coupon that ran out: removed (their customers leave the line), and their
-- units passed to the next in line, or back on public sale when nobody is left.
create or replace function waitlist_lapse(p_coupon uuid, p_hold interval)
returns table (customer_id uuid, hold_until timestamptz) as $$
declare
    lapsed integer;
begin
    perform 1 from coupons c where c.id = p_coupon for no key update;
    delete from waitlist w where w.coupon_id = p_coupon and w.hold_until <= now();
    get diagnostics lapsed = row_count;
    if lapsed > 0 then
        return query select * from coupon_return_units(p_coupon, lapsed, p_hold);
    end if;
end;
$$ language plpgsql;
