-- The event contract: `app/src/events/mod.rs` (one Rust enum, one payload struct per event
-- type) is the only writer of `events`; the my-page projection below reads exactly the
-- fields of those payloads.

-- The version of the payload's shape. Rows written before versions were recorded have the
-- shape the Rust payloads call version 1; the writer names the version of every new row.
alter table events add column version smallint not null default 1;

-- Applies one event to the order's my-page row: one branch per (event type, version) of
-- the Rust enum, and the reference fold in `app/src/events/fold.rs` does the same
-- (`server/tests/api/readmodel.rs` compares the two, and every field each branch reads
-- with the payload's fields). A type or version without a branch is refused, so an event
-- added in Rust but not here fails that test instead of being skipped silently. Keep the
-- branches of old versions: rows of them stay in the log. An event before the order's
-- OrderPlaced finds no row and changes nothing.
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
            vouchers        = (select coalesce(jsonb_agg(jsonb_build_object('code', c, 'redeemed_at', null) order by o), '[]')
                               from jsonb_array_elements_text(p->'vouchers') with ordinality as v(c, o)),
            vouchers_issued = jsonb_array_length(p->'vouchers'),
            last_event_id   = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('PaymentFailed', 1) then
        update mypage set status = p->>'status', payment_status = p->>'payment_status', last_event_id = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('OrderCancelled', 1) then
        update mypage set status = p->>'status', payment_status = p->>'payment_status',
                          cancelled_at = new.occurred_at, last_event_id = new.id
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
                                                                then jsonb_set(x.v, '{redeemed_at}', to_jsonb(new.occurred_at))
                                                                else x.v end order by x.o), '[]')
                                 from jsonb_array_elements(vouchers) with ordinality as x(v, o)),
            vouchers_redeemed = vouchers_redeemed + 1,
            last_event_id     = new.id
        where order_id = new.aggregate_id;
    else
        raise exception 'mypage_apply_event: no branch for % version %', new.event_type, new.version
            using errcode = 'feature_not_supported';
    end if;
    return new;
end;
$$ language plpgsql;

-- Corrections to comments of earlier migrations (their text cannot change: the checksums
-- of applied migrations must stay):
-- * foundation: the purchase no longer runs `update ... where stock >= $qty`; the
--   admission batch locks the coupon row (`for no key update`), decides every purchase
--   against the stock it read, and takes the units with one `update` (see
--   `app/src/orders/admission.rs`); `check (stock >= 0)` still guards the column.
-- * orders_saga: "VoucherRedeemed marks payload.code redeemed at payload.redeemed_at":
--   the payload has no `redeemed_at`; the event's `occurred_at` is used.
