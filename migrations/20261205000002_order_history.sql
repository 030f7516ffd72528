-- Full order history (issue 13, section 5): owners page backwards through every order of
-- their shop with a cursor (ordered_at, order_id), as customers do on my page. This index
-- serves the owner's pages and export in that order (`mypage_customer_idx` has the same
-- shape for customers); it replaces `mypage_shop_idx`, whose columns are its prefix.
create index mypage_shop_order_idx on mypage (shop_id, ordered_at desc, order_id);
drop index mypage_shop_idx;
