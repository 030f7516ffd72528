//! Form helpers: labelled inputs with per-field messages, the banner above a form, and
//! (in the browser) the loading state of the pages' plain forms ([`guard_plain_forms`]).

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

/// The loading state of the pages' plain forms (browser only; installed once per page by
/// the wasm's `hydrate`). A page is HTML: its forms post to their server functions and the
/// answer is a new page, so nothing of the page's own code runs while one is on its way.
/// On submit this marks the form `aria-busy`, disables its submit button (after the
/// browser has read the form, or the button's own name and value would be lost), shows the
/// button's `data-pending` text if it has one, and drops a second submit of the same form
/// (a double click would post twice: two coupons, two cancellations). An island's own
/// forms are left to it (`ActionForm` with its own pending state). A page
/// shown again from the back/forward cache gets its forms back as they were.
#[cfg(feature = "hydrate")]
pub fn guard_plain_forms() {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{HtmlButtonElement, HtmlFormElement, PageTransitionEvent, SubmitEvent};

    use super::each;

    let on_submit = Closure::<dyn FnMut(SubmitEvent)>::new(|e: SubmitEvent| {
        let Some(form) = e
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
        else {
            return;
        };
        // An island's own form (the nearest island boundary is the island, not the
        // server-rendered children it wraps, such as the i18n provider's whole page).
        let in_island = form
            .closest("leptos-island, leptos-children")
            .ok()
            .flatten()
            .is_some_and(|b| b.tag_name().eq_ignore_ascii_case("leptos-island"));
        if e.default_prevented() || in_island {
            return;
        }
        if form.get_attribute("aria-busy").as_deref() == Some("true") {
            e.prevent_default();
            return;
        }
        let _ = form.set_attribute("aria-busy", "true");
        let button = e
            .submitter()
            .and_then(|b| b.dyn_into::<HtmlButtonElement>().ok())
            .or_else(|| each(form.query_selector_all("button[type=submit]")).next());
        if let Some(button) = button {
            if let Some(text) = button.get_attribute("data-pending") {
                let _ =
                    button.set_attribute("data-idle", &button.text_content().unwrap_or_default());
                button.set_text_content(Some(&text));
            }
            set_timeout(move || button.set_disabled(true), std::time::Duration::ZERO);
        }
    });
    let on_pageshow = Closure::<dyn FnMut(PageTransitionEvent)>::new(|e: PageTransitionEvent| {
        if !e.persisted() {
            return;
        }
        let busy = document().query_selector_all("form[aria-busy=true]");
        for form in each::<HtmlFormElement>(busy) {
            let _ = form.remove_attribute("aria-busy");
            for b in each::<HtmlButtonElement>(form.query_selector_all("button[type=submit]")) {
                b.set_disabled(false);
                if let Some(idle) = b.get_attribute("data-idle") {
                    b.set_text_content(Some(&idle));
                }
            }
        }
    });
    let _ =
        document().add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
    let _ =
        window().add_event_listener_with_callback("pageshow", on_pageshow.as_ref().unchecked_ref());
    // For the page's lifetime.
    on_submit.forget();
    on_pageshow.forget();
}
