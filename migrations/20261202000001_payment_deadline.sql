-- The payment deadline: an order still unpaid COUPAN_PAYMENT_DEADLINE_SECS after it was
-- placed becomes `expired` (its payment `voided`), its units go back, and an
-- `OrderExpired` event is written. Who expires it, and when: `server/src/payment/expire.rs`.

-- A new order status value.
alter table orders drop constraint orders_status_check;
alter table orders add constraint orders_status_check
    check (status in ('ordered', 'paid', 'payment_failed', 'cancelled', 'expired'));

-- The status machines of `app/src/domain/order.rs`, with two additions (the walk test
-- `server/tests/api/status_machine.rs` checks that both sides accept the same moves):
--   order:   ordered -> expired (not paid by the deadline)
--   payment: voided -> refund_pending | refunded (a charge that surfaced after the payment
--            was voided, e.g. one that landed at the gateway while the order expired, is
--            given back)
create or replace function orders_check_transition() returns trigger as $$
begin
    if new.status <> old.status and not (
        (old.status = 'ordered' and new.status in ('paid', 'payment_failed', 'cancelled', 'expired')) or
        (old.status = 'paid' and new.status = 'cancelled')) then
        raise exception 'order % cannot go from % to %', old.id, old.status, new.status
            using errcode = 'check_violation', constraint = 'orders_status_transition';
    end if;
    if new.payment_status <> old.payment_status and not (
        (old.payment_status = 'pending' and new.payment_status in ('completed', 'failed', 'refund_pending', 'voided')) or
        (old.payment_status = 'completed' and new.payment_status = 'refund_pending') or
        (old.payment_status = 'refund_pending' and new.payment_status in ('refunded', 'voided')) or
        (old.payment_status = 'voided' and new.payment_status in ('refund_pending', 'refunded'))) then
        raise exception 'payment of order % cannot go from % to %', old.id, old.payment_status, new.payment_status
            using errcode = 'check_violation', constraint = 'orders_payment_status_transition';
    end if;
    return new;
end;
$$ language plpgsql;

-- No index for the sweep (`server/src/payment/claim.rs`, `overdue`): it reads the payment
-- queue, which holds only orders with payment work left, and an index on `orders` would
-- cost every purchase of a flash sale an index entry.

-- The my-page projection with a branch for OrderExpired (the rest as in the
-- mypage_cancelled_by migration). Events about other aggregates than orders (a coupon's
-- waitlist holds) are passed over, as before.
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
                                                                then jsonb_set(x.v, '{redeemed_at}', to_jsonb(new.occurred_at))
                                                                else x.v end order by x.o), '[]')
                                 from jsonb_array_elements(vouchers) with ordinality as x(v, o)),
            vouchers_redeemed = vouchers_redeemed + 1,
            last_event_id     = new.id
        where order_id = new.aggregate_id;
    elsif (new.event_type, new.version) = ('OrderExpired', 1) then
        -- Statuses only: the units went back in the same transaction.
        update mypage set status = p->>'status', payment_status = p->>'payment_status', last_event_id = new.id
        where order_id = new.aggregate_id;
    else
        raise exception 'mypage_apply_event: no branch for % version %', new.event_type, new.version
            using errcode = 'feature_not_supported';
    end if;
    return new;
end;
$$ language plpgsql;
