//! Pure, wasm-safe domain types. Each newtype validates once, on construction; the same
//! parse runs in the browser (instant feedback) and on the server (the truth).

pub mod coupon;
pub mod fields;
pub mod history;
pub mod live;
pub mod money;
pub mod order;
pub mod refund;
pub mod time;
pub mod user;

pub use coupon::{
    Category, Coupon, CouponForm, CouponImage, CouponInput, CouponPatch, CouponStatus, Listing,
    MAX_IMAGES, SaleBadges, SaleState, Search, Sort, ValidCoupon,
};
pub use fields::{FieldError, FieldErrors};
pub use live::{LiveStock, Notification, NotificationKind, NotificationPage, Unread};
pub use money::Krw;
pub use order::{
    BuyAllowance, BuyInput, CancelledBy, ForbiddenMove, MyPageRow, OrderState, OrderStatus,
    OrderView, PaymentStatus, VoucherView,
};
pub use refund::{RefundQuote, VoucherStatus};
pub use user::{DisplayName, Email, Password, Role, ShopName, SignupInput, UserView, ValidSignup};
