-- My page's query ceiling: the query `GET /api/v1/mypage` runs (app/src/mypage/repo.rs
-- `for_customer`, called by `mypage::page` with the default limit 100 + 1 to know whether
-- there is a next page, and no cursor), run by pgbench in the benchmark's own seeded
-- database over the same 64 customers the wrk run rotates over: customer
-- `seed{k * step + 1}` (k = 0..63; `step` is passed with -D), whose id the seed derives as
-- md5('seed-c' || n). The app binds the customer id, the limit and two NULL cursor values;
-- here the id is computed from n in the statement (one md5 per query) and the NULL cursor
-- values are written as typed NULLs (a custom plan of the app's statement folds them the
-- same way).
\set k random(0, 63)
\set n :k * :step + 1
\set lim 101
select order_id, coupon_id, coupon_name, shop_name, quantity, unit_price, amount, status, payment_status,
       ordered_at as "ordered_at: DateTime<Utc>", cancelled_at as "cancelled_at: DateTime<Utc>",
       paid_at as "paid_at: DateTime<Utc>", refunded_at as "refunded_at: DateTime<Utc>", cancelled_by, cancel_reason,
       vouchers_issued, vouchers_redeemed, vouchers as "vouchers: Json<Vec<VoucherView>>",
       cancelled_quantity, refunded_amount
  from mypage where customer_id = md5('seed-c' || :n::bigint)::uuid
    and (null::timestamptz is null
         or ordered_at < null::timestamptz or (ordered_at = null::timestamptz and order_id > null::uuid))
  order by ordered_at desc, order_id
  limit :lim::bigint;
