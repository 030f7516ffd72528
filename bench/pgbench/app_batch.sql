-- (c) The app's own batch admission transaction: app/src/orders/admission.rs `decide`
-- (the queue task of a coupon decides whatever purchases queued up, at most
-- `AdmissionSettings::batch_max`, in one transaction). One pgbench transaction = one batch
-- of 64 purchases of quantity 1 by 64 different customers, the largest batch a flash sale
-- with 64 customers can queue (each has one purchase in flight). The statements are the
-- app's, in its order, with its SQL text; the app's bind parameters are pgbench variables:
--   repo::find_by_idempotency_keys, coupons::repo::lock_and_get (the coupon has no
--   waitlist hold and no per-customer limit, so waitlist::holders and
--   repo::live_quantities are skipped as in the app), repo::place_batch (the orders, the
--   stock update that fires the live-stock NOTIFY trigger, the payment jobs that fire the
--   payment_jobs NOTIFY trigger), events::append_all (OrderPlaced v1, fires the my-page and
--   notification triggers once per row), COMMIT.
-- The arrays the app builds in Rust (new order ids, customers, keys, event payloads) are
-- built by one query before BEGIN (one extra round trip per batch, outside the
-- transaction; the app's decision loop in between costs no SQL).
\set off random(0, 255)
\set k random(1, 1000000000000000)
SELECT array_agg(t.id ORDER BY t.g)::text AS ids,
       array_agg(t.cust ORDER BY t.g)::text AS customers,
       array_agg(t.key ORDER BY t.g)::text AS keys,
       array_agg(1 ORDER BY t.g)::text AS quantities,
       array_agg('pgbench'::text ORDER BY t.g)::text AS request_ids,
       array_agg('OrderPlaced'::text ORDER BY t.g)::text AS types,
       array_agg(1::int2 ORDER BY t.g)::text AS versions,
       array_agg('order'::text ORDER BY t.g)::text AS aggregates,
       array_agg(jsonb_build_object('customer_id', t.cust, 'coupon_id', '00000000-0000-0000-0000-00000000c002',
                                    'shop_id', '00000000-0000-0000-0000-00000000b001', 'coupon_name', 'Ceiling batch coupon',
                                    'shop_name', 'Ceiling shop', 'quantity', 1, 'unit_price', 9900, 'amount', 9900,
                                    'status', 'ordered', 'payment_status', 'pending') ORDER BY t.g)::text AS payloads
  FROM (SELECT g, gen_random_uuid() AS id, md5('ceiling-c' || ((:off::int + g) % 256 + 1))::uuid AS cust,
               'pgc-' || :client_id::int || '-' || :k::bigint || '-' || g AS key
          FROM generate_series(0, 63) g) t \gset
BEGIN;
select o.id, o.customer_id, o.idempotency_key as "idempotency_key!"
  from orders o join unnest(:customers::uuid[], :keys::text[]) as k(customer_id, key)
    on o.customer_id = k.customer_id and o.idempotency_key = k.key;
select c.id, c.name, c.description, c.price, c.stock as stock_left, c.shop_id, s.name as shop_name,
       c.sale_starts_at, c.sale_ends_at, c.valid_until, c.per_customer_limit, c.on_sale,
       c.created_at, c.category, c.list_price, c.held,
       coalesce((select json_agg(json_build_object('id', i.id, 'full_key', i.full_key, 'thumb_key', i.thumb_key,
                                                   'width', i.width, 'height', i.height) order by i.position)
                 from coupon_images i where i.coupon_id = c.id), '[]') as images
  from coupons c join shops s on s.id = c.shop_id
  where c.id = '00000000-0000-0000-0000-00000000c002'::uuid
  for no key update of c;
with placed as (
    insert into orders (id, customer_id, coupon_id, quantity, unit_price, amount, idempotency_key, request_id,
                        status, payment_status)
    select t.id, t.customer_id, '00000000-0000-0000-0000-00000000c002'::uuid, t.quantity, 9900::bigint, 9900::bigint * t.quantity,
           t.key, t.request_id, 'ordered', 'pending'
    from unnest(:ids::uuid[], :customers::uuid[], :quantities::int[], :keys::text[], :request_ids::text[])
         as t(id, customer_id, quantity, key, request_id)
    on conflict on constraint orders_customer_idempotency_key do nothing
    returning id, quantity, ordered_at
), taken as (
    update coupons set stock = stock - t.units
    from (select coalesce(sum(quantity), 0)::int as units from placed where id <> all('{}'::uuid[])) t
    where coupons.id = '00000000-0000-0000-0000-00000000c002'::uuid and t.units > 0
), queued as (
    insert into payment_jobs (order_id) select id from placed on conflict (order_id) do nothing
)
select id, ordered_at from placed;
insert into events (aggregate_type, aggregate_id, event_type, version, payload, request_id)
  select t.aggregate_type, t.id, t.event_type, t.version, t.payload, t.request_id
  from unnest(:ids::uuid[], :types::text[], :versions::int2[], :payloads::jsonb[], :request_ids::text[], :aggregates::text[])
       with ordinality as t(id, event_type, version, payload, request_id, aggregate_type, n)
  order by t.n;
COMMIT;
