-- (b) The app's own purchase statements on its own schema, as app/src/orders/service.rs
-- `place` ran them when this file was written (one HTTP purchase = this transaction):
--   repo::find_by_idempotency_key (outside the transaction), then BEGIN,
--   repo::take_stock, repo::insert, events::append_order_event (OrderPlaced, which fires
--   the my-page trigger), repo::enqueue_payment (fires the NOTIFY trigger), repo::get,
--   COMMIT. (No per-customer limit on the coupon, so live_quantity is skipped as in the app.)
-- If the purchase path changes (e.g. batched admission), this stays the "one row, one
-- transaction per order" reference on the real schema; update it to mirror new statements.
\set cid random(1, 256)
\set k random(1, 1000000000000000)
SELECT id FROM orders WHERE customer_id = md5('ceiling-c' || :cid::int)::uuid AND idempotency_key = 'pg-' || :client_id::int || '-' || :k::bigint;
BEGIN;
UPDATE coupons c SET stock = c.stock - 1
  FROM shops s
  WHERE c.id = '00000000-0000-0000-0000-00000000c001' AND s.id = c.shop_id AND c.stock >= 1 AND c.on_sale
    AND (c.sale_starts_at IS NULL OR c.sale_starts_at <= now())
    AND (c.sale_ends_at IS NULL OR c.sale_ends_at > now())
  RETURNING c.price, c.name, c.shop_id, s.name AS shop_name, c.per_customer_limit;
INSERT INTO orders (customer_id, coupon_id, quantity, unit_price, amount, idempotency_key, request_id)
  VALUES (md5('ceiling-c' || :cid::int)::uuid, '00000000-0000-0000-0000-00000000c001', 1, 9900, 9900::bigint * 1,
          'pg-' || :client_id::int || '-' || :k::bigint, 'pgbench')
  RETURNING id AS order_id \gset
INSERT INTO events (aggregate_type, aggregate_id, event_type, payload, request_id)
  VALUES ('order', :order_id::uuid, 'OrderPlaced',
          jsonb_build_object('customer_id', md5('ceiling-c' || :cid::int)::uuid, 'coupon_id', '00000000-0000-0000-0000-00000000c001',
                             'shop_id', '00000000-0000-0000-0000-00000000b001', 'coupon_name', 'Ceiling coupon',
                             'shop_name', 'Ceiling shop', 'quantity', 1, 'unit_price', 9900, 'amount', 9900,
                             'status', 'ordered', 'payment_status', 'pending'),
          'pgbench');
INSERT INTO payment_jobs (order_id) VALUES (:order_id::uuid) ON CONFLICT (order_id) DO NOTHING;
SELECT o.id, o.customer_id, o.coupon_id, o.quantity, o.unit_price, o.amount, o.status, o.payment_status,
       o.payment_key, o.request_id, o.ordered_at, o.paid_at, o.cancelled_at, o.refunded_at,
       c.shop_id, s.owner_id AS shop_owner_id, c.valid_until
  FROM orders o JOIN coupons c ON c.id = o.coupon_id JOIN shops s ON s.id = c.shop_id
  WHERE o.id = :order_id::uuid;
COMMIT;
