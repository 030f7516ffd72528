-- (a) Single-row ceiling: decrement one stock row, insert an order and an event, in one
-- transaction. Every client waits for the row lock of the one before it.
\set cid random(1, 256)
BEGIN;
UPDATE ceiling_stock SET n = n - 1 WHERE id = 1 AND n > 0;
INSERT INTO ceiling_orders (stock_id, customer, quantity) VALUES (1, :cid::int, 1);
INSERT INTO ceiling_events (kind, payload) VALUES ('OrderPlaced', jsonb_build_object('customer', :cid::int, 'quantity', 1));
COMMIT;
