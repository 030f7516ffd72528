//! Pieces shared by every page: the layout, form helpers, error and loading views.

pub mod form;
pub mod layout;
pub mod live;
pub mod page;

pub use form::{ErrorBanner, Field, FieldMessage};

/// The nodes of a `query_selector_all` answer, as `T` (browser only; nodes of another
/// type, and the error of a bad selector, give nothing).
#[cfg(feature = "hydrate")]
pub fn each<T: wasm_bindgen::JsCast>(
    found: Result<web_sys::NodeList, wasm_bindgen::JsValue>,
) -> impl Iterator<Item = T> {
    let list = found.ok();
    let len = list.as_ref().map_or(0, |l| l.length());
    (0..len).filter_map(move |i| wasm_bindgen::JsCast::dyn_into::<T>(list.as_ref()?.item(i)?).ok())
}
pub use layout::Layout;
pub use page::{ErrorView, PageTitle};

use crate::domain::FieldError;
use crate::error::{AppError, Conflict, ImageRefusal};
use crate::i18n::*;

/// The localised text of a field error.
pub fn field_error_text(e: &FieldError) -> String {
    let i18n = use_i18n();
    match e {
        FieldError::Required => t_string!(i18n, err_required).to_string(),
        FieldError::TooShort { min } => t_string!(i18n, err_too_short, min = *min).to_string(),
        FieldError::TooLong { max } => t_string!(i18n, err_too_long, max = *max).to_string(),
        FieldError::Invalid => t_string!(i18n, err_invalid).to_string(),
        FieldError::NotANumber => t_string!(i18n, err_not_a_number).to_string(),
        FieldError::OutOfRange { min, max } => {
            t_string!(i18n, err_out_of_range, min = *min, max = *max).to_string()
        }
        FieldError::EndBeforeStart => t_string!(i18n, err_end_before_start).to_string(),
        FieldError::BeforeSaleEnd => t_string!(i18n, err_before_sale_end).to_string(),
        FieldError::Taken => t_string!(i18n, err_taken).to_string(),
    }
}

/// The localised text of an error as a whole (the banner above a form, an error page).
pub fn error_text(e: &AppError) -> String {
    let i18n = use_i18n();
    match e {
        AppError::Validation(_) | AppError::BadRequest(_) => {
            t_string!(i18n, err_fix_fields).to_string()
        }
        AppError::Unauthorized | AppError::InvalidToken => {
            t_string!(i18n, err_unauthorized).to_string()
        }
        AppError::InvalidCredentials => t_string!(i18n, err_invalid_credentials).to_string(),
        AppError::Forbidden => t_string!(i18n, err_forbidden).to_string(),
        AppError::NotFound => t_string!(i18n, err_not_found).to_string(),
        AppError::Conflict(c) => match c {
            Conflict::EmailTaken => t_string!(i18n, err_email_taken),
            Conflict::OutOfStock => t_string!(i18n, err_out_of_stock),
            Conflict::NotOnSale => t_string!(i18n, err_not_on_sale),
            Conflict::SaleNotStarted => t_string!(i18n, err_sale_not_started),
            Conflict::SaleEnded => t_string!(i18n, err_sale_ended),
            Conflict::LimitExceeded => t_string!(i18n, err_limit_exceeded),
            Conflict::AlreadyCancelled => t_string!(i18n, err_already_cancelled),
            Conflict::NotCancellable => t_string!(i18n, err_not_cancellable),
            Conflict::VoucherRedeemed => t_string!(i18n, err_voucher_redeemed),
            Conflict::VoucherAlreadyRedeemed => t_string!(i18n, err_voucher_already_redeemed),
            Conflict::VoucherCancelled => t_string!(i18n, err_voucher_cancelled),
            Conflict::VoucherUnpaid => t_string!(i18n, err_voucher_unpaid),
            Conflict::VoucherExpired => t_string!(i18n, err_voucher_expired),
            Conflict::VoucherOtherShop => t_string!(i18n, err_voucher_other_shop),
            Conflict::NotSoldOut => t_string!(i18n, err_not_sold_out),
            Conflict::TooManyImages => t_string!(i18n, err_too_many_images),
            Conflict::PartialCancelUnpaid => t_string!(i18n, err_partial_cancel_unpaid),
            Conflict::RefundPeriodOver => t_string!(i18n, err_refund_period_over),
        }
        .to_string(),
        AppError::Image(r) => match r {
            ImageRefusal::Unsupported => t_string!(i18n, err_unsupported_image),
            ImageRefusal::TooManyPixels => t_string!(i18n, err_image_too_large),
            ImageRefusal::FileTooLarge => t_string!(i18n, err_file_too_large),
        }
        .to_string(),
        AppError::IdempotencyKeyReused => t_string!(i18n, err_idempotency).to_string(),
        AppError::TooManyRequests { retry_after_secs } => {
            t_string!(i18n, err_too_many, secs = *retry_after_secs).to_string()
        }
        AppError::Unavailable { retry_after_secs } => {
            t_string!(i18n, err_busy, secs = *retry_after_secs).to_string()
        }
        AppError::Network => t_string!(i18n, err_network).to_string(),
        AppError::Internal => t_string!(i18n, err_generic).to_string(),
    }
}

/// The localised label of an order status.
pub fn order_status_text(s: crate::domain::OrderStatus) -> String {
    use crate::domain::OrderStatus::*;
    let i18n = use_i18n();
    match s {
        Ordered => t_string!(i18n, status_ordered),
        Paid => t_string!(i18n, status_paid),
        PaymentFailed => t_string!(i18n, status_payment_failed),
        Cancelled => t_string!(i18n, status_cancelled),
        Expired => t_string!(i18n, status_expired),
    }
    .to_string()
}

/// The localised name of a coupon category.
pub fn category_text(c: crate::domain::Category) -> String {
    use crate::domain::Category::*;
    let i18n = use_i18n();
    match c {
        Cafe => t_string!(i18n, category_cafe),
        Food => t_string!(i18n, category_food),
        Beauty => t_string!(i18n, category_beauty),
        Leisure => t_string!(i18n, category_leisure),
        Shopping => t_string!(i18n, category_shopping),
        Education => t_string!(i18n, category_education),
        Other => t_string!(i18n, category_other),
    }
    .to_string()
}

/// The localised label of a payment status.
pub fn payment_status_text(s: crate::domain::PaymentStatus) -> String {
    use crate::domain::PaymentStatus::*;
    let i18n = use_i18n();
    match s {
        Pending => t_string!(i18n, pay_pending),
        Completed => t_string!(i18n, pay_completed),
        Failed => t_string!(i18n, pay_failed),
        RefundPending => t_string!(i18n, pay_refund_pending),
        Refunded => t_string!(i18n, pay_refunded),
        Voided => t_string!(i18n, pay_voided),
    }
    .to_string()
}
