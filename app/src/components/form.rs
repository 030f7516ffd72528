//! Form helpers: labelled inputs with per-field messages, and the banner above a form.

use leptos::prelude::*;

use super::{error_text, field_error_text};
use crate::error::AppError;

/// The error of the last submission of an action, if it failed.
pub type LastError = Signal<Option<AppError>>;

/// `LastError` of an action's value signal (`action.value()`).
pub fn last_error<T, S>(value: S) -> LastError
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(|r| r.err()))
}

/// The message for one field, from the last failed submission.
#[component]
pub fn FieldMessage(error: LastError, #[prop(into)] field: String) -> impl IntoView {
    let testid = format!("error-{field}");
    move || {
        error.get().and_then(|e| e.fields().and_then(|f| f.get(&field).cloned())).map(|fe| {
            view! { <p class="field-error" data-testid=testid.clone() role="alert">{field_error_text(&fe)}</p> }
        })
    }
}

/// A labelled input with its error message.
#[component]
pub fn Field(
    #[prop(into)] name: String,
    #[prop(into)] label: Signal<String>,
    error: LastError,
    #[prop(into, default = "text".to_string())] kind: String,
    #[prop(into, optional)] value: String,
    #[prop(into, optional)] hint: Option<Signal<String>>,
    #[prop(optional)] required: bool,
    #[prop(into, optional)] autocomplete: Option<String>,
    #[prop(into, optional)] inputmode: Option<String>,
) -> impl IntoView {
    let id = format!("f-{name}");
    let invalid = {
        let name = name.clone();
        move || {
            error
                .get()
                .and_then(|e| e.fields().map(|f| f.contains_key(&name)))
                .unwrap_or(false)
        }
    };
    view! {
        <div class="field">
            <label for=id.clone()>{move || label.get()}</label>
            <input
                id=id
                name=name.clone()
                type=kind
                value=value
                required=required
                autocomplete=autocomplete
                inputmode=inputmode
                aria-invalid=move || if invalid() { "true" } else { "false" }
                data-testid=format!("input-{name}")
            />
            {hint.map(|h| view! { <small class="hint">{move || h.get()}</small> })}
            <FieldMessage error field=name.clone() />
        </div>
    }
}

/// The banner above a form: what went wrong with the last submission as a whole.
/// `not_found` replaces the generic "not found" text where the form says what was not
/// found (an unknown voucher code).
#[component]
pub fn ErrorBanner(
    error: LastError,
    #[prop(optional, into)] not_found: Option<Signal<String>>,
) -> impl IntoView {
    move || {
        error.get().map(|e| {
            let text = match (&e, not_found) {
                (AppError::NotFound, Some(t)) => t.get(),
                _ => error_text(&e),
            };
            view! { <div class="banner error" role="alert" data-testid="form-error">{text}</div> }
        })
    }
}
