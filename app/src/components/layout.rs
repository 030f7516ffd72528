//! The page frame: header with navigation (a menu on phones), the signed-in user, and the
//! language switch.

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::live::use_notification_feed;
use crate::auth::use_auth;
use crate::domain::Role;
use crate::flash::FlashBanner;
use crate::i18n::*;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    view! {
        <header class="site-header">
            <a href="/" class="brand" data-testid="brand">{t_string!(i18n, app_name)}</a>
            // On phones the links fold into this disclosure (no script needed to open it);
            // on wider screens CSS shows them in line and hides the summary.
            <details class="menu" data-testid="menu">
                <summary class="menu-button" data-testid="menu-button">
                    <span class="menu-icon" aria-hidden="true"></span>
                    {t_string!(i18n, menu)}
                </summary>
                <nav aria-label=move || t_string!(i18n, nav_main).to_string() data-testid="main-nav">
                    <a href="/">{t_string!(i18n, nav_catalogue)}</a>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match auth.user.await {
                                Ok(Some(user)) => {
                                    let owner_links = (user.role == Role::Owner).then(|| view! {
                                        <a href="/owner/dashboard" data-testid="nav-dashboard">{t_string!(i18n, nav_dashboard)}</a>
                                        <a href="/owner/coupons" data-testid="nav-my-coupons">{t_string!(i18n, nav_my_coupons)}</a>
                                    });
                                    let customer_links = (user.role == Role::Customer).then(|| view! {
                                        <a href="/mypage" data-testid="nav-mypage">{t_string!(i18n, nav_mypage)}</a>
                                    });
                                    let name = user.name.clone();
                                    view! {
                                        {owner_links}
                                        {customer_links}
                                        <span class="who" data-testid="current-user"><a href="/account" data-testid="nav-account" title=move || t_string!(i18n, nav_account).to_string()>{t!(i18n, welcome, name = move || name.clone())}</a></span>
                                        <ActionForm action=auth.logout attr:class="inline">
                                            <button type="submit" class="link" data-testid="logout">{t_string!(i18n, nav_logout)}</button>
                                        </ActionForm>
                                    }.into_any()
                                }
                                _ => view! {
                                    <a href="/login" data-testid="nav-login">{t_string!(i18n, nav_login)}</a>
                                    <a href="/signup" data-testid="nav-signup">{t_string!(i18n, nav_signup)}</a>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                </nav>
            </details>
            // Outside the phone menu: the count stays in sight.
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => {
                            let served = Some(user.unread_notifications);
                            view! { <Bell served /> }.into_any()
                        }
                        _ => ().into_any(),
                    }
                })}
            </Transition>
            <LanguageSwitch />
        </header>
        <main class="page"><FlashBanner />{children()}</main>
    }
}

/// The link to the notifications page with the unread count, live (an island).
#[island]
fn Bell(served: Option<i64>) -> impl IntoView {
    let i18n = use_i18n();
    let feed = use_notification_feed();
    let count = move || feed.unread.get().or(served).unwrap_or(0);
    view! {
        <a href="/notifications" class="bell" data-testid="nav-bell"
            aria-label=move || t_string!(i18n, bell_label, n = count()).to_string()>
            // A drawn bell on a phone, where the word takes too much room (an emoji bell
            // needs a font that not every device has).
            <svg class="bell-icon" aria-hidden="true" viewBox="0 0 24 24" width="20" height="20">
                <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6v-5a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z" />
            </svg>
            <span class="bell-label" aria-hidden="true">{t_string!(i18n, nav_notifications)}</span>
            <span class="bell-count" class:zero=move || count() == 0 data-testid="bell-count">{count}</span>
        </a>
    }
}

/// Plain links to `/lang/{locale}`: the server stores the choice in a cookie and sends the
/// visitor back, so the switch works with and without JavaScript and survives reloads.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let current = move || i18n.get_locale();
    view! {
        <div class="lang-switch" role="group" aria-label=move || t_string!(i18n, language).to_string()>
            <a href="/lang/ko" rel="external" data-testid="lang-ko" class:active=move || current() == Locale::ko>"한국어"</a>
            <a href="/lang/en" rel="external" data-testid="lang-en" class:active=move || current() == Locale::en>"English"</a>
        </div>
    }
}
