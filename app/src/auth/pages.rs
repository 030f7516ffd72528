//! The log-in and sign-up pages. Both are plain forms (`ActionForm`): they work before
//! hydration and without JavaScript, and show a pending state once hydrated.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;

use super::{ChangePassword, Login, Signup, safe_next, use_auth};
use crate::components::form::{field_error_id, field_has_error, last_error};
use crate::components::{ErrorBanner, ErrorView, Field, FieldMessage, PageTitle};
use crate::i18n::*;
use crate::refill::refill;

/// The page to come back to (`?next=`), if it is one of this site's.
fn next_param() -> Option<String> {
    use_query_map()
        .read_untracked()
        .get("next")
        .filter(|n| safe_next(n).is_some())
}

/// `base` with `?next=` carried over, so switching between log-in and sign-up keeps it.
fn with_next(base: &str, next: &Option<String>) -> String {
    match next {
        Some(n) => format!(
            "{base}?next={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => base.to_string(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let login = ServerAction::<Login>::new();
    let error = last_error(login.value());
    let next = next_param();
    let signup_href = with_next("/signup", &next);
    let next = next.unwrap_or_default();
    let kept = refill(Login::PATH);
    view! {
        <PageTitle text=move || t_string!(i18n, login_title).to_string() />
        <section class="card narrow">
            <h1>{t!(i18n, login_title)}</h1>
            <ActionForm action=login attr:data-testid="login-form">
                <ErrorBanner error />
                <input type="hidden" name="next" value=next />
                <Field name="email" kind="email" label=Signal::derive(move || t_string!(i18n, email).to_string()) error required=true autocomplete="email"
                    value=kept.or("email", String::new()) />
                <Field name="password" kind="password" label=Signal::derive(move || t_string!(i18n, password).to_string()) error required=true autocomplete="current-password" />
                <button type="submit" class="primary" data-testid="login-submit" data-pending=t_string!(i18n, loading).to_string()>
                    {t!(i18n, login_button)}
                </button>
            </ActionForm>
            <p class="muted">{t!(i18n, no_account)} " " <a href=signup_href data-testid="signup-link">{t!(i18n, nav_signup)}</a></p>
        </section>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let i18n = use_i18n();
    let signup = ServerAction::<Signup>::new();
    let error = last_error(signup.value());
    let next = next_param();
    let login_href = with_next("/login", &next);
    let next = next.unwrap_or_default();
    let kept = refill(Signup::PATH);
    // After a failed post without JavaScript: the role that was chosen; else `?role=owner`.
    let initial_role = kept
        .get("role")
        .or_else(|| use_query_map().read_untracked().get("role"))
        .filter(|r| r == "owner")
        .unwrap_or_else(|| "customer".into());
    view! {
        <PageTitle text=move || t_string!(i18n, signup_title).to_string() />
        <section class="card narrow">
            <h1>{t!(i18n, signup_title)}</h1>
            <ActionForm action=signup attr:data-testid="signup-form">
                <ErrorBanner error />
                <input type="hidden" name="next" value=next />
                <fieldset class="field role-choice" aria-describedby=move || field_has_error(error, "role").then(|| field_error_id("role"))>
                    <legend>{t!(i18n, role)}</legend>
                    <label>
                        <input type="radio" name="role" value="customer" data-testid="role-customer"
                            checked=initial_role == "customer" />
                        {t!(i18n, role_customer)}
                    </label>
                    <label>
                        <input type="radio" name="role" value="owner" data-testid="role-owner"
                            checked=initial_role == "owner" />
                        {t!(i18n, role_owner)}
                    </label>
                    <FieldMessage error field="role" />
                </fieldset>
                <Field name="email" kind="email" label=Signal::derive(move || t_string!(i18n, email).to_string()) error required=true autocomplete="email"
                    value=kept.or("email", String::new()) />
                <Field name="password" kind="password" label=Signal::derive(move || t_string!(i18n, password).to_string())
                    hint=Signal::derive(move || t_string!(i18n, password_hint).to_string()) error required=true autocomplete="new-password" />
                <Field name="name" label=Signal::derive(move || t_string!(i18n, display_name).to_string()) error required=true autocomplete="name"
                    value=kept.or("name", String::new()) />
                // Shown only while "owner" is picked: a CSS rule (`.shop-field`, `:has`), so it
                // works without JavaScript; a browser without `:has` shows it to everyone.
                <div class="shop-field" data-testid="shop-field">
                    <Field name="shop_name" label=Signal::derive(move || t_string!(i18n, shop_name).to_string())
                        hint=Signal::derive(move || t_string!(i18n, shop_name_hint).to_string()) error autocomplete="organization"
                        value=kept.or("shop_name", String::new()) />
                </div>
                <button type="submit" class="primary" data-testid="signup-submit" data-pending=t_string!(i18n, saving).to_string()>
                    {t!(i18n, signup_button)}
                </button>
            </ActionForm>
            <p class="muted">{t!(i18n, have_account)} " " <a href=login_href data-testid="login-link">{t!(i18n, nav_login)}</a></p>
        </section>
    }
}

/// The account page (`/account`): the signed-in user's details and the password change
/// form (a plain form: it works without JavaScript). Changing the password signs the
/// user out everywhere else.
#[component]
pub fn AccountPage() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    let change = ServerAction::<ChangePassword>::new();
    crate::flash::use_flash().follow(change.value());
    let error = last_error(change.value());
    view! {
        <PageTitle text=move || t_string!(i18n, account_title).to_string() />
        <section class="card narrow">
            <h1>{t!(i18n, account_title)}</h1>
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => view! {
                            <p class="muted" data-testid="account-email">{user.email.clone()}</p>
                            <h2>{t!(i18n, change_password_title)}</h2>
                            <p class="muted">{t!(i18n, password_change_note)}</p>
                            <ActionForm action=change attr:data-testid="password-form">
                                <ErrorBanner error />
                                <Field name="current_password" kind="password" label=Signal::derive(move || t_string!(i18n, current_password).to_string())
                                    error required=true autocomplete="current-password" />
                                <Field name="new_password" kind="password" label=Signal::derive(move || t_string!(i18n, new_password).to_string())
                                    hint=Signal::derive(move || t_string!(i18n, password_hint).to_string()) error required=true autocomplete="new-password" />
                                <button type="submit" class="primary" data-testid="password-submit" data-pending=t_string!(i18n, saving).to_string()>
                                    {t!(i18n, change_password_button)}
                                </button>
                            </ActionForm>
                        }.into_any(),
                        Ok(None) => view! { <ErrorView error=crate::error::AppError::Unauthorized /> }.into_any(),
                        Err(e) => view! { <ErrorView error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
