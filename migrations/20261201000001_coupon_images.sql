-- Coupon pictures (issue 13): the files live in the object store (a local directory or
-- S3), this table says which coupon they show, in which order, and under which keys.

create table coupon_images (
    id         uuid primary key default gen_random_uuid(),
    -- Coupons are never deleted today; if they ever are, their pictures' rows go with
    -- them (the files must then be deleted from the store by the same code path).
    coupon_id  uuid not null references coupons (id) on delete cascade,
    -- 0 is the cover. At most five pictures per coupon: positions 0-4, each used once.
    -- The service keeps them dense (0..n-1) under the coupon's row lock.
    position   smallint not null check (position between 0 and 4),
    -- The stored full-size picture (the thumbnail is square, see the code's THUMB_SIDE).
    width      integer not null check (width > 0),
    height     integer not null check (height > 0),
    -- Object store keys: random per upload, so a picture's URL never shows other bytes
    -- (served with a year-long immutable cache header).
    full_key   text not null unique,
    thumb_key  text not null unique,
    created_at timestamptz not null default now(),
    -- Deferrable: "make cover" renumbers several rows in one statement, which passes
    -- through duplicate positions row by row; the check runs at the statement's end.
    constraint coupon_images_position_key unique (coupon_id, position) deferrable initially immediate
);
