-- Partial cancellation, refunds after the use-by date, voucher expiry reminders (issue 13,
-- section 3). A customer cancels k of an order's unredeemed units; each cancellation of a
-- paid order owes one refund (a row of `refunds`), which the payment worker gives back at
-- the gateway with its own idempotency key (`server/src/payment/`). Before a voucher's
-- use-by date a unit is refunded in full; after it, at 90% for 5 years from the purchase
-- (the Korean FTC standard terms for mobile vouchers): `app/src/domain/refund.rs` decides.

-- Units of the order cancelled so far (their vouchers are void, their stock came back).
alter table orders
    add column cancelled_quantity integer not null default 0,
    add constraint orders_cancelled_quantity check (cancelled_quantity between 0 and quantity);

-- A voucher of a cancelled unit: void, never redeemed (the redemption refuses it).
alter table vouchers
    add column cancelled_at timestamptz,
    add constraint vouchers_redeemed_or_cancelled check (redeemed_at is null or cancelled_at is null);

-- One refund owed per cancellation of a paid order. `id` is the gateway call's idempotency
-- key, so a retried call refunds once; `refunded_at` is set when the gateway gave it back.
create table refunds (
    id          uuid primary key,
    order_id    uuid not null references orders (id),
    quantity    integer not null check (quantity > 0),
    amount      bigint not null check (amount > 0),
    -- After the use-by date (90% of the units' price).
    late        boolean not null,
    created_at  timestamptz not null default now(),
    refunded_at timestamptz
);
create index refunds_order_idx on refunds (order_id);

-- Money given back never adds up to more than was paid: whatever the code does, and
-- however many cancels of one order run at once. The order's row is locked first, so the
-- refunds of one order are summed one transaction after the other (each statement of the
-- function sees the rows committed before it got the lock).
create or replace function refunds_within_paid() returns trigger as $$
declare
    paid  bigint;
    total bigint;
begin
    select amount into paid from orders where id = new.order_id for update;
    select coalesce(sum(amount), 0) into total from refunds where order_id = new.order_id and id <> new.id;
    if total + new.amount > paid then
        raise exception 'refunds of order % would add up to % of % paid', new.order_id, total + new.amount, paid
            using errcode = 'check_violation', constraint = 'refunds_within_paid';
    end if;
    return new;
end;
$$ language plpgsql;
create trigger refunds_within_paid before insert or update of amount, order_id on refunds
    for each row execute function refunds_within_paid();

-- Reminders before a voucher's use-by date (30 and 7 days): at most one per order and
-- threshold, whatever runs twice (the sweep of several processes).
create table voucher_reminders (
    order_id   uuid not null references orders (id),
    days       integer not null check (days in (30, 7)),
    created_at timestamptz not null default now(),
    primary key (order_id, days)
);
-- The sweep looks for usable vouchers whose use-by date is near.
create index vouchers_usable_until_idx on vouchers (valid_until)
    where redeemed_at is null and cancelled_at is null and valid_until is not null;

-- My page: units cancelled and money refunded (or being refunded) per order; each voucher
-- of the `vouchers` array gains its `status` ('active' | 'redeemed' | 'cancelled', the
-- `VoucherView` of app/src/domain/order.rs).
alter table mypage
    add column cancelled_quantity integer not null default 0,
    add column refunded_amount    bigint not null default 0;

-- Rows written before: a used voucher is redeemed, an unused one of a cancelled order void.
update mypage m set vouchers = (
    select coalesce(jsonb_agg(x.v || jsonb_build_object('status',
               case when x.v->>'redeemed_at' is not null then 'redeemed'
                    when m.status = 'cancelled' then 'cancelled'
                    else 'active' end) order by x.o), '[]')
    from jsonb_array_elements(m.vouchers) with ordinality as x(v, o));

-- The projection of the payment_deadline migration with two more branches:
--   PaymentCompleted each voucher is 'active'; VoucherRedeemed makes it 'redeemed'
--   UnitsCancelled   cancelled_quantity and refunded_amount grow; its vouchers 'cancelled'
--   VoucherExpiring  nothing on the row (a reminder; the notification trigger tells it)
create or replace function mypage_apply_event() returns trigger as $$
declare
    p jsonb := new.payload;
begin
    if new.aggregate_type <> 'order' then
        return new;
    end if;
    if (new.event_type, new.version) = ('OrderPlaced', 1) then
        -- Names and prices as they were at purchase time.
        insert into mypage (order_id, customer_id, coupon_id, shop_id, coupon_name, shop_name, quantity,
                            unit_price, amount, status, payment_status, ordered_at, last_event_id)
        values (new.aggregate_id, (p->>'customer_id')::uuid, (p->>'coupon_id')::uuid, (p->>'shop_id')::uuid,
                p->>'coupon_name', p->>'shop_name', (p->>'quantity')::int, (p->>'unit_price')::bigint,
                (p->>'amount')::bigint, p->>'status', p->>'payment_status', new.occurred_at, new.id);
    elsif (new.event_type, new.version) = ('PaymentCompleted', 1) then
        -- The voucher codes issued (none for a charge that completed after a cancel).
        update mypage set
            status          = p->>'status',
            payment_status  = p->>'payment_status',
            paid_at         = new.occurred_at,
            vouchers        = (select coalesce(jsonb_agg(jsonb_build_object('code', c, 'redeemed_at', null, 'status', 'active') order by o), '[]')
                               from jsonb_array_elements_text(p->'vouchers') with ordinality as v(c, o)),
            vouchers_issued = jsonb_array_length(p->'vouchers'),
            last_event_id   = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('PaymentFailed', 1) then
        update mypage set status = p->>'status', payment_status = p->>'payment_status', last_event_id = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('OrderCancelled', 1) then
        -- Who cancelled ('customer' | 'owner') and the owner's reason, for my page.
        update mypage set status = p->>'status', payment_status = p->>'payment_status',
                          cancelled_at = new.occurred_at, cancelled_by = p->>'by',
                          cancel_reason = p->>'reason', last_event_id = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('PaymentRefunded', 1) then
        update mypage set status = p->>'status', payment_status = p->>'payment_status',
                          refunded_at = new.occurred_at, last_event_id = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('PaymentVoided', 1) then
        update mypage set status = p->>'status', payment_status = p->>'payment_status', last_event_id = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('VoucherRedeemed', 1) then
        -- Redeemed at the event's time (the redemption's transaction wrote both).
        update mypage set
            vouchers          = (select coalesce(jsonb_agg(case when x.v->>'code' = p->>'code'
                                                                then jsonb_set(x.v, '{redeemed_at}', to_jsonb(new.occurred_at)) || '{"status": "redeemed"}'
                                                                else x.v end order by x.o), '[]')
                                 from jsonb_array_elements(vouchers) with ordinality as x(v, o)),
            vouchers_redeemed = vouchers_redeemed + 1,
            last_event_id     = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('OrderExpired', 1) then
        -- Statuses only: the units went back in the same transaction.
        update mypage set status = p->>'status', payment_status = p->>'payment_status', last_event_id = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('UnitsCancelled', 1) then
        -- Units cancelled (the order's status moves with OrderCancelled, when none remain).
        update mypage set
            cancelled_quantity = cancelled_quantity + (p->>'quantity')::int,
            refunded_amount    = refunded_amount + (p->>'refund')::bigint,
            vouchers           = (select coalesce(jsonb_agg(case when p->'vouchers' ? (x.v->>'code')
                                                                 then x.v || '{"status": "cancelled"}'
                                                                 else x.v end order by x.o), '[]')
                                  from jsonb_array_elements(vouchers) with ordinality as x(v, o)),
            last_event_id      = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('VoucherExpiring', 1) then
        update mypage set last_event_id = new.id where order_id = new.aggregate_id;
    else
        raise exception 'mypage_apply_event: no branch for % version %', new.event_type, new.version
            using errcode = 'feature_not_supported';
    end if;
    return new;
end;
$$ language plpgsql;

-- A new notification kind: the reminder before a voucher's use-by date.
alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (kind in (
    'payment_completed', 'payment_failed', 'refunded', 'payment_voided',
    'voucher_redeemed', 'restock_hold', 'order_expired',
    'sold_out', 'order_cancelled', 'voucher_expiring'));

-- The notifications migration's function with one more kind: `voucher_expiring` (to the
-- customer, from VoucherExpiring), whose amount is what stays refundable after the use-by
-- date (payload.refundable), not the order's amount.
create or replace function notifications_from_event() returns trigger as $$
declare
    p      jsonb := new.payload;
    m      record;
    kind   text;
    person uuid;
    told   bigint;
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
        when (new.event_type, new.version) = ('VoucherExpiring', 1) then 'voucher_expiring'
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
    told := case when kind = 'voucher_expiring' then (p->>'refundable')::bigint else m.amount end;
    if person is not null then
        insert into notifications (user_id, kind, order_id, coupon_id, coupon_name, amount, event_id)
        values (person, kind, new.aggregate_id, m.coupon_id, m.coupon_name, told, new.id);
    end if;
    return null;
end;
$$ language plpgsql;
