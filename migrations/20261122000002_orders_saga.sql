-- The purchase saga: orders, the event log, payment work, vouchers, and the "my page"
-- read model kept by triggers.

-- ---------------------------------------------------------------------------------
-- Orders (write side). One row per purchase. Stock was decremented in the same
-- transaction that inserted the row.
create table orders (
    id              uuid primary key default gen_random_uuid(),
    customer_id     uuid not null references users (id),
    coupon_id       uuid not null references coupons (id),
    quantity        integer not null check (quantity between 1 and 1000),
    unit_price      bigint not null check (unit_price > 0),
    amount          bigint not null,
    status          text not null default 'ordered'
                    check (status in ('ordered', 'paid', 'payment_failed', 'cancelled')),
    -- 'voided' = cancelled before any money moved (an extension of the five contract values).
    payment_status  text not null default 'pending'
                    check (payment_status in ('pending', 'completed', 'failed', 'refund_pending', 'refunded', 'voided')),
    payment_key     text,
    idempotency_key text,
    request_id      text,
    ordered_at      timestamptz not null default now(),
    paid_at         timestamptz,
    cancelled_at    timestamptz,
    refunded_at     timestamptz,
    cancelled_by    text check (cancelled_by in ('customer', 'owner')),
    cancel_reason   text check (char_length(cancel_reason) <= 500),
    constraint orders_amount check (amount = unit_price * quantity),
    -- A retried purchase with the same key finds the first order instead of making another.
    constraint orders_customer_idempotency_key unique (customer_id, idempotency_key)
);
create index orders_customer_coupon_idx on orders (customer_id, coupon_id) where status in ('ordered', 'paid');
create index orders_coupon_idx on orders (coupon_id);

-- The status machines, enforced here so that no code path can skip a step:
--   order:   ordered -> paid | payment_failed | cancelled;  paid -> cancelled
--   payment: pending -> completed | failed | refund_pending | voided;
--            completed -> refund_pending;  refund_pending -> refunded | voided
-- A row may keep its status (an update of other columns).
create or replace function orders_check_transition() returns trigger as $$
begin
    if new.status <> old.status and not (
        (old.status = 'ordered' and new.status in ('paid', 'payment_failed', 'cancelled')) or
        (old.status = 'paid' and new.status = 'cancelled')) then
        raise exception 'order % cannot go from % to %', old.id, old.status, new.status
            using errcode = 'check_violation', constraint = 'orders_status_transition';
    end if;
    if new.payment_status <> old.payment_status and not (
        (old.payment_status = 'pending' and new.payment_status in ('completed', 'failed', 'refund_pending', 'voided')) or
        (old.payment_status = 'completed' and new.payment_status = 'refund_pending') or
        (old.payment_status = 'refund_pending' and new.payment_status in ('refunded', 'voided'))) then
        raise exception 'payment of order % cannot go from % to %', old.id, old.payment_status, new.payment_status
            using errcode = 'check_violation', constraint = 'orders_payment_status_transition';
    end if;
    return new;
end;
$$ language plpgsql;
create trigger orders_check_transition before update on orders
    for each row execute function orders_check_transition();

-- ---------------------------------------------------------------------------------
-- The event log: append-only. Every change of an order or its payment appends one row
-- in the same transaction. The order id is the correlation key (aggregate_id);
-- request_id ties the event to the HTTP request that caused it.
create table events (
    id             bigint generated always as identity primary key,
    aggregate_type text not null,
    aggregate_id   uuid not null,
    event_type     text not null,
    payload        jsonb not null,
    occurred_at    timestamptz not null default now(),
    request_id     text
);
create index events_aggregate_idx on events (aggregate_id, id);
-- One refund per payment, whatever the code does.
create unique index events_one_refund_per_order on events (aggregate_id) where event_type = 'PaymentRefunded';
create unique index events_one_placement_per_order on events (aggregate_id) where event_type = 'OrderPlaced';

create or replace function events_append_only() returns trigger as $$
begin
    raise exception 'events are append-only' using errcode = 'insufficient_privilege';
end;
$$ language plpgsql;
create trigger events_append_only before update or delete on events
    for each row execute function events_append_only();

-- ---------------------------------------------------------------------------------
-- Payment work: a row per order that needs the payment worker (charge, or refund after a
-- cancel). Workers claim rows with `for update skip locked`; the row is deleted when the
-- order's payment reached a final state.
create table payment_jobs (
    order_id   uuid primary key references orders (id),
    run_after  timestamptz not null default now(),
    attempts   integer not null default 0,
    last_error text,
    created_at timestamptz not null default now()
);
create index payment_jobs_run_after_idx on payment_jobs (run_after);

-- Wakes the workers (LISTEN payment_jobs) as soon as work is queued; they also poll.
create or replace function payment_jobs_notify() returns trigger as $$
begin
    perform pg_notify('payment_jobs', new.order_id::text);
    return new;
end;
$$ language plpgsql;
create trigger payment_jobs_notify after insert or update of run_after on payment_jobs
    for each row execute function payment_jobs_notify();

-- ---------------------------------------------------------------------------------
-- Vouchers: one per paid unit. The code is random and unguessable; it is valid once.
create table vouchers (
    code        text primary key,
    order_id    uuid not null references orders (id),
    shop_id     uuid not null references shops (id),
    valid_until timestamptz,
    issued_at   timestamptz not null default now(),
    redeemed_at timestamptz
);
create index vouchers_order_idx on vouchers (order_id);

-- ---------------------------------------------------------------------------------
-- "My page": the read model. One row per order, written ONLY by the trigger below from
-- the events; pages and the API read this table alone (no joins with the write side).
create table mypage (
    order_id           uuid primary key,
    customer_id        uuid not null,
    coupon_id          uuid not null,
    shop_id            uuid not null,
    coupon_name        text not null,
    shop_name          text not null,
    quantity           integer not null,
    unit_price         bigint not null,
    amount             bigint not null,
    status             text not null,
    payment_status     text not null,
    ordered_at         timestamptz not null,
    cancelled_at       timestamptz,
    paid_at            timestamptz,
    refunded_at        timestamptz,
    vouchers_issued    integer not null default 0,
    vouchers_redeemed  integer not null default 0,
    -- [{"code": "...", "redeemed_at": null | time}], in issue order.
    vouchers           jsonb not null default '[]',
    last_event_id      bigint not null
);
create index mypage_customer_idx on mypage (customer_id, ordered_at desc, order_id);
create index mypage_shop_idx on mypage (shop_id, ordered_at desc);

-- Applies one event to the order's my-page row. Every event that changes a status
-- carries the order's `status` and `payment_status` after the change, so the row is a
-- plain fold of the events:
--   OrderPlaced       creates the row (names and prices as they were at purchase time)
--   PaymentCompleted  paid_at, vouchers issued (payload.vouchers = codes)
--   PaymentFailed     statuses only (stock came back in the same transaction)
--   OrderCancelled    cancelled_at
--   PaymentRefunded   refunded_at
--   PaymentVoided     statuses only (cancelled before any charge)
--   VoucherRedeemed   marks payload.code redeemed at payload.redeemed_at
create or replace function mypage_apply_event() returns trigger as $$
declare
    p jsonb := new.payload;
begin
    if new.aggregate_type <> 'order' then
        return new;
    end if;
    if new.event_type = 'OrderPlaced' then
        insert into mypage (order_id, customer_id, coupon_id, shop_id, coupon_name, shop_name, quantity,
                            unit_price, amount, status, payment_status, ordered_at, last_event_id)
        values (new.aggregate_id, (p->>'customer_id')::uuid, (p->>'coupon_id')::uuid, (p->>'shop_id')::uuid,
                p->>'coupon_name', p->>'shop_name', (p->>'quantity')::int, (p->>'unit_price')::bigint,
                (p->>'amount')::bigint, p->>'status', p->>'payment_status', new.occurred_at, new.id);
        return new;
    end if;

    update mypage set
        status         = coalesce(p->>'status', status),
        payment_status = coalesce(p->>'payment_status', payment_status),
        paid_at        = case when new.event_type = 'PaymentCompleted' then new.occurred_at else paid_at end,
        cancelled_at   = case when new.event_type = 'OrderCancelled' then new.occurred_at else cancelled_at end,
        refunded_at    = case when new.event_type = 'PaymentRefunded' then new.occurred_at else refunded_at end,
        vouchers       = case
            when new.event_type = 'PaymentCompleted' then
                (select coalesce(jsonb_agg(jsonb_build_object('code', c, 'redeemed_at', null) order by o), '[]')
                 from jsonb_array_elements_text(coalesce(p->'vouchers', '[]')) with ordinality as v(c, o))
            when new.event_type = 'VoucherRedeemed' then
                (select coalesce(jsonb_agg(case when v->>'code' = p->>'code'
                                                then jsonb_set(v, '{redeemed_at}', to_jsonb(new.occurred_at))
                                                else v end order by o), '[]')
                 from jsonb_array_elements(vouchers) with ordinality as x(v, o))
            else vouchers end,
        vouchers_issued = case when new.event_type = 'PaymentCompleted'
                               then jsonb_array_length(coalesce(p->'vouchers', '[]')) else vouchers_issued end,
        vouchers_redeemed = case when new.event_type = 'VoucherRedeemed' then vouchers_redeemed + 1 else vouchers_redeemed end,
        last_event_id  = new.id
    where order_id = new.aggregate_id;
    return new;
end;
$$ language plpgsql;
create trigger mypage_apply_event after insert on events
    for each row execute function mypage_apply_event();
