-- My page tells "refunded by the shop" (with the shop's reason) apart from "cancelled by
-- you": the read model keeps who cancelled and why, from OrderCancelled (payload.by =
-- 'customer' | 'owner', payload.reason = the owner's text or null).
alter table mypage
    add column cancelled_by  text,
    add column cancel_reason text;

-- Rows of orders cancelled before this migration.
update mypage m
   set cancelled_by = e.payload->>'by', cancel_reason = e.payload->>'reason'
  from events e
 where e.aggregate_id = m.order_id and e.event_type = 'OrderCancelled';

-- The projection of the event_contract migration; its OrderCancelled branch now also reads
-- `by` and `reason` (the reference fold in app/src/events/fold.rs does the same).
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
    else
        raise exception 'mypage_apply_event: no branch for % version %', new.event_type, new.version
            using errcode = 'feature_not_supported';
    end if;
    return new;
end;
$$ language plpgsql;
