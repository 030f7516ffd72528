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

/// The id of a field's error message: its input names it in `aria-describedby`.
pub fn field_error_id(field: &str) -> String {
    format!("f-{field}-error")
}

/// Whether the last failed submission has a message for `field`.
pub fn field_has_error(error: LastError, field: &str) -> bool {
    error
        .get()
        .and_then(|e| e.fields().map(|f| f.contains_key(field)))
        .unwrap_or(false)
}

/// The message for one field, from the last failed submission.
#[component]
pub fn FieldMessage(error: LastError, #[prop(into)] field: String) -> impl IntoView {
    let testid = format!("error-{field}");
    let id = field_error_id(&field);
    move || {
        error.get().and_then(|e| e.fields().and_then(|f| f.get(&field).cloned())).map(|fe| {
            view! { <p class="field-error" id=id.clone() data-testid=testid.clone() role="alert">{field_error_text(&fe)}</p> }
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
        move || field_has_error(error, &name)
    };
    // The hint and, after a failed submit, the error message describe the input.
    let hint_id = hint.map(|_| format!("f-{name}-hint"));
    let described_by = {
        let (hint_id, error_id) = (hint_id.clone(), field_error_id(&name));
        let invalid = invalid.clone();
        move || {
            let ids: Vec<&str> = hint_id
                .as_deref()
                .into_iter()
                .chain(invalid().then_some(error_id.as_str()))
                .collect();
            (!ids.is_empty()).then(|| ids.join(" "))
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
                aria-describedby=described_by
                data-testid=format!("input-{name}")
            />
            {hint.map(|h| view! { <small class="hint" id=hint_id>{move || h.get()}</small> })}
            <FieldMessage error field=name.clone() />
        </div>
    }
}

/// The banner above a form: what went wrong with the last submission as a whole.
/// `not_found` replaces the generic "not found" text where the form says what was not
/// found (an unknown voucher code). Once hydrated, a failed submit moves the focus here,
/// so keyboard and screen-reader users start from the message (the fields it points to
/// follow it in the tab order).
#[component]
pub fn ErrorBanner(
    error: LastError,
    #[prop(optional, into)] not_found: Option<Signal<String>>,
) -> impl IntoView {
    let banner = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if error.get().is_some()
            && let Some(el) = banner.get()
        {
            let _ = el.focus();
        }
    });
    move || {
        error.get().map(|e| {
            let text = match (&e, not_found) {
                (AppError::NotFound, Some(t)) => t.get(),
                _ => error_text(&e),
            };
            // `autofocus`: a page that comes back with the error (a form post) starts here too.
            view! { <div class="banner error" role="alert" tabindex="-1" autofocus node_ref=banner data-testid="form-error">{text}</div> }
        })
    }
}
