-- Categories and list prices of coupons (issue 13, sections 2 and 2b).
--
-- `category`: a fixed list, the same as `domain::Category::ALL` (server/tests/api/
-- catalogue.rs stores each of those and is refused another); existing coupons become 'other'.
-- `list_price`: the face value (정가) a coupon is sold below; optional, never below the
-- price (a "discount" that is really a mark-up is refused here as in the domain type).
alter table coupons
    add column category text not null default 'other'
        constraint coupons_category check (
            category in ('cafe', 'food', 'beauty', 'leisure', 'shopping', 'education', 'other')),
    add column list_price bigint
        constraint coupons_list_price check (list_price is null or list_price >= price);

-- The catalogue filtered by category, newest first.
create index coupons_category_idx on coupons (category, created_at desc);
