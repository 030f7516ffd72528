//! Pieces shared by every page: the layout, form helpers, error and loading views.

pub mod form;
pub mod layout;

pub use form::{ErrorBanner, Field, FieldMessage};
pub use layout::Layout;

use crate::domain::FieldError;
use crate::error::{AppError, Conflict};
use crate::i18n::*;

/// The localised text of a field error.
pub fn field_error_text(e: &FieldError) -> String {
    let i18n = use_i18n();
    match e {
        FieldError::Required => t_string!(i18n, err_required).to_string(),
        FieldError::TooShort { min } => t_string!(i18n, err_too_short, min = *min).to_string(),
        FieldError::TooLong { max } => t_string!(i18n, err_too_long, max = *max).to_string(),
        FieldError::Invalid => t_string!(i18n, err_invalid).to_string(),
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
        AppError::Conflict(Conflict::EmailTaken) => t_string!(i18n, err_email_taken).to_string(),
        AppError::TooManyRequests { retry_after_secs } => {
            t_string!(i18n, err_too_many, secs = *retry_after_secs).to_string()
        }
        AppError::Network => t_string!(i18n, err_network).to_string(),
        AppError::Internal => t_string!(i18n, err_generic).to_string(),
    }
}
