-- Notifications (issue 12, section 2): rows written by triggers on `events` only, so
-- nothing that appends an event can forget to tell the people concerned; every insert and
-- every change of `read_at` sends `NOTIFY notifications` with the user's id (the live
-- streams read what is new from the table).

-- No foreign keys: rows follow the event log, whose own tests append events of made-up
-- orders; the triggers below only ever name the order's customer or its shop's owner.
create table notifications (
    id          bigint generated always as identity primary key,
    user_id     uuid not null,
    -- The kinds of `NotificationKind` (app/src/domain/live.rs).
    kind        text not null check (kind in (
                    'payment_completed', 'payment_failed', 'refunded', 'payment_voided',
                    'voucher_redeemed', 'restock_hold', 'order_expired',
                    'sold_out', 'order_cancelled')),
    order_id    uuid,
    coupon_id   uuid,
    -- As they were when it happened (like my page): the sentence needs no join.
    coupon_name text not null,
    amount      bigint,
    -- The event it tells of: one notification per event, kind and person, whatever runs twice.
    event_id    bigint not null,
    created_at  timestamptz not null default now(),
    read_at     timestamptz,
    constraint notifications_once unique (event_id, kind, user_id)
);
create index notifications_user_idx on notifications (user_id, id desc);
create index notifications_unread_idx on notifications (user_id) where read_at is null;

-- Wakes the listening processes: the payload is the user's id (notifications of one user
-- in one transaction make one notification; PostgreSQL folds identical ones).
create or replace function notifications_notify() returns trigger as $$
begin
    perform pg_notify('notifications', new.user_id::text);
    return null;
end;
$$ language plpgsql;
create trigger notifications_notify after insert or update of read_at on notifications
    for each row execute function notifications_notify();

-- The notification of one event about an order: one branch per (type, version) that tells
-- someone, read from the order's my-page row (written by `mypage_apply_event`, which runs
-- first: triggers of one kind run in name order). The reference is
-- `app::notifications::rules::for_event`; `server/tests/api/notifications.rs` checks the two
-- agree for every event type. Events of other types tell nobody. Order events name the
-- order's customer or its shop's owner; `RestockHeld` (about a coupon) names its customer.
create or replace function notifications_from_event() returns trigger as $$
declare
    p      jsonb := new.payload;
    m      record;
    kind   text;
    person uuid;
begin
    -- A unit of a sold-out coupon held for the next in its waitlist: told to that customer,
    -- with the coupon's name and price (the one unit they may buy).
    if new.aggregate_type = 'coupon' then
        if (new.event_type, new.version) = ('RestockHeld', 1) then
            insert into notifications (user_id, kind, order_id, coupon_id, coupon_name, amount, event_id)
            select (p->>'customer_id')::uuid, 'restock_hold', null, c.id, c.name, c.price, new.id
            from coupons c where c.id = new.aggregate_id;
        end if;
        return null;
    end if;
    if new.aggregate_type <> 'order' then
        return null;
    end if;
    kind := case
        -- A charge that lands on a cancelled order is refunded next: `refunded` tells that.
        when (new.event_type, new.version) = ('PaymentCompleted', 1) and p->>'status' = 'paid' then 'payment_completed'
        when (new.event_type, new.version) = ('PaymentFailed', 1) then 'payment_failed'
        when (new.event_type, new.version) = ('PaymentRefunded', 1) then 'refunded'
        -- An expired order's payment is void from its expiry on (`order_expired` told it);
        -- the worker's last turn, finding no charge, voids it again: nothing new to tell.
        when (new.event_type, new.version) = ('PaymentVoided', 1) and p->>'status' <> 'expired' then 'payment_voided'
        when (new.event_type, new.version) = ('VoucherRedeemed', 1) then 'voucher_redeemed'
        when (new.event_type, new.version) = ('OrderExpired', 1) then 'order_expired'
        -- The shop is told when its customer cancels (not of its own refunds).
        when (new.event_type, new.version) = ('OrderCancelled', 1) and p->>'by' = 'customer' then 'order_cancelled'
    end;
    if kind is null then
        return null;
    end if;
    select customer_id, coupon_id, shop_id, coupon_name, amount into m
    from mypage where order_id = new.aggregate_id;
    if not found then
        return null;
    end if;
    if kind = 'order_cancelled' then
        select owner_id into person from shops where id = m.shop_id;
    else
        person := m.customer_id;
    end if;
    if person is not null then
        insert into notifications (user_id, kind, order_id, coupon_id, coupon_name, amount, event_id)
        values (person, kind, new.aggregate_id, m.coupon_id, m.coupon_name, m.amount, new.id);
    end if;
    return null;
end;
$$ language plpgsql;
create trigger notifications_from_event after insert on events
    for each row execute function notifications_from_event();

-- `sold_out`, to the shop's owner, once per sell-out: a purchase took the last unit when,
-- in one transaction, the coupon's stock went from above 0 to 0 and then a statement
-- appended `OrderPlaced` events of that coupon (the purchase batch takes its stock before
-- it appends its events, see `app/src/orders/admission.rs`); the last of those orders took
-- the last unit. The stock reaching 0 otherwise (the owner's edit, units held for the
-- waitlist) tells nobody, nor does an order that takes no stock (a held unit bought).
-- The transaction remembers which coupons ran out in the setting `coupan.sold_out`
-- (`set_config(..., true)`: gone at commit or rollback).
create or replace function coupons_remember_sell_out() returns trigger as $$
begin
    perform set_config('coupan.sold_out',
                       coalesce(current_setting('coupan.sold_out', true), '') || new.id::text || ',', true);
    return null;
end;
$$ language plpgsql;
create trigger coupons_remember_sell_out after update on coupons
    for each row when (old.stock > 0 and new.stock = 0)
    execute function coupons_remember_sell_out();

create or replace function notifications_sold_out() returns trigger as $$
declare
    ran_out text := coalesce(current_setting('coupan.sold_out', true), '');
begin
    if ran_out = '' then
        return null;
    end if;
    insert into notifications (user_id, kind, order_id, coupon_id, coupon_name, amount, event_id)
    select s.owner_id, 'sold_out', last.aggregate_id, c.id, c.name, last.amount, last.id
    from (select distinct on ((payload->>'coupon_id')::uuid)
                 (payload->>'coupon_id')::uuid as coupon_id, aggregate_id, id, (payload->>'amount')::bigint as amount
          from placed
          where aggregate_type = 'order' and (event_type, version) = ('OrderPlaced', 1)
          order by (payload->>'coupon_id')::uuid, id desc) last
    join coupons c on c.id = last.coupon_id
    join shops s on s.id = c.shop_id
    where c.stock = 0 and position(c.id::text || ',' in ran_out) > 0;
    return null;
end;
$$ language plpgsql;
create trigger notifications_sold_out after insert on events
    referencing new table as placed
    for each statement execute function notifications_sold_out();
