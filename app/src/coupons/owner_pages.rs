//! The owner's pages: "my coupons", register, edit. The server functions behind them check
//! the role and ownership; what these pages hide is only a convenience.

use chrono::Utc;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use super::pages::StatusBadge;
use super::{CreateCoupon, SetCouponOnSale, UpdateCoupon, get_my_coupon, my_coupons};
use crate::auth::use_auth;
use crate::components::form::{LastError, field_error_id, field_has_error, last_error};
use crate::components::{ErrorBanner, ErrorView, Field, FieldMessage, PageTitle, category_text};
use crate::domain::money::format_krw;
use crate::domain::{Category, CouponForm, Role};
use crate::error::AppError;
use crate::flash::use_flash;
use crate::i18n::*;
use crate::images::pages::PictureManager;
use crate::refill::Refill;

/// The form as it was typed before a failed post without JavaScript, else `form`.
fn refilled(kept: &Refill, form: CouponForm) -> CouponForm {
    if kept.is_empty() {
        return form;
    }
    // A field left empty was not kept: empty it is.
    let k = |name: &str| kept.or(name, String::new());
    CouponForm {
        name: k("name"),
        description: k("description"),
        price: k("price"),
        stock: k("stock"),
        sale_starts_at: k("sale_starts_at"),
        sale_ends_at: k("sale_ends_at"),
        valid_until: k("valid_until"),
        per_customer_limit: k("per_customer_limit"),
        category: k("category"),
        list_price: k("list_price"),
    }
}

/// Shows `children` to owners; others get the refusal the server would give.
#[component]
fn OwnerOnly(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let children = StoredValue::new(children);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(u)) if u.role == Role::Owner => children.read_value()().into_any(),
                    Ok(Some(_)) => view! { <Refusal error=AppError::Forbidden /> }.into_any(),
                    Ok(None) => view! { <Refusal error=AppError::Unauthorized /> }.into_any(),
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Refusal(error: AppError) -> impl IntoView {
    view! { <ErrorView error /> }
}

#[component]
pub fn MyCouponsPage() -> impl IntoView {
    let i18n = use_i18n();
    let toggle = ServerAction::<SetCouponOnSale>::new();
    use_flash().follow(toggle.value());
    let toggle_error = last_error(toggle.value());
    let coupons = Resource::new(move || toggle.version().get(), |_| my_coupons());
    view! {
        <PageTitle text=move || t_string!(i18n, my_coupons_title).to_string() />
        <section>
            <div class="title-row">
                <h1>{t!(i18n, my_coupons_title)}</h1>
                <a class="button primary" href="/owner/coupons/new" data-testid="new-coupon">{t!(i18n, nav_new_coupon)}</a>
            </div>
            <ErrorBanner error=toggle_error />
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match coupons.await {
                        Ok(list) if list.is_empty() => view! { <p class="empty">{t!(i18n, no_coupons_yet)}</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table stack" data-testid="my-coupons">
                                <thead><tr>
                                    <th scope="col">{t!(i18n, coupon_name)}</th><th scope="col">{t!(i18n, price)}</th>
                                    <th scope="col">{t!(i18n, stock_left)}</th><th scope="col">{t!(i18n, status)}</th>
                                    <th scope="col"><span class="sr-only">{t!(i18n, actions)}</span></th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|c| {
                                        let status = c.status_at(Utc::now());
                                        let edit = format!("/owner/coupons/{}/edit", c.id);
                                        let next = !c.on_sale;
                                        view! {
                                            <tr data-testid="my-coupon-row">
                                                <td class="card-title"><a href=format!("/coupons/{}", c.id)>{c.name.clone()}</a></td>
                                                <td data-label=move || t_string!(i18n, price).to_string()>{format_krw(c.price)}</td>
                                                <td data-label=move || t_string!(i18n, stock_left).to_string()>{c.stock_left}</td>
                                                <td data-label=move || t_string!(i18n, status).to_string()><StatusBadge status /></td>
                                                <td class="actions">
                                                    <a href=edit data-testid="edit-coupon">{t!(i18n, edit)}</a>
                                                    <ActionForm action=toggle attr:class="inline">
                                                        <input type="hidden" name="id" value=c.id.to_string() />
                                                        <input type="hidden" name="on_sale" value=next.to_string() />
                                                        <button type="submit" class="link" data-testid="toggle-sale">
                                                            {if next { t!(i18n, resume_sales).into_any() } else { t!(i18n, stop_sales).into_any() }}
                                                        </button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <Refusal error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The fields of the register and edit forms.
#[component]
fn CouponFields(initial: CouponForm, error: LastError) -> impl IntoView {
    let i18n = use_i18n();
    let optional = move || t_string!(i18n, optional).to_string();
    view! {
        <Field name="name" label=Signal::derive(move || t_string!(i18n, coupon_name).to_string()) error value=initial.name required=true />
        <div class="field">
            <label for="f-description">{t!(i18n, description)}</label>
            <textarea id="f-description" name="description" rows="4" data-testid="input-description"
                aria-describedby=move || field_has_error(error, "description").then(|| field_error_id("description"))>{initial.description}</textarea>
            <FieldMessage error field="description" />
        </div>
        <div class="row">
            <Field name="price" label=Signal::derive(move || t_string!(i18n, price_krw).to_string()) error value=initial.price required=true inputmode="numeric"
                hint=Signal::derive(move || t_string!(i18n, price_hint).to_string()) />
            <Field name="list_price" label=Signal::derive(move || t_string!(i18n, list_price_krw).to_string()) error value=initial.list_price inputmode="numeric"
                hint=Signal::derive(move || t_string!(i18n, list_price_hint).to_string()) />
        </div>
        <div class="row">
            <Field name="stock" label=Signal::derive(move || t_string!(i18n, stock).to_string()) error value=initial.stock required=true inputmode="numeric" />
            <div class="field">
                <label for="f-category">{t!(i18n, category)}</label>
                <select id="f-category" name="category" data-testid="input-category"
                    aria-describedby=move || field_has_error(error, "category").then(|| field_error_id("category"))>
                    {Category::ALL.into_iter().map(|c| {
                        let selected = initial.category == c.as_str()
                            || (initial.category.is_empty() && c == Category::default());
                        view! { <option value=c.as_str() selected=selected>{category_text(c)}</option> }
                    }).collect_view()}
                </select>
                <FieldMessage error field="category" />
            </div>
        </div>
        <div class="row">
            <Field name="sale_starts_at" kind="datetime-local" label=Signal::derive(move || t_string!(i18n, sale_starts_at).to_string())
                hint=Signal::derive(optional) error value=initial.sale_starts_at />
            <Field name="sale_ends_at" kind="datetime-local" label=Signal::derive(move || t_string!(i18n, sale_ends_at).to_string())
                hint=Signal::derive(optional) error value=initial.sale_ends_at />
        </div>
        <div class="row">
            <Field name="valid_until" kind="datetime-local" label=Signal::derive(move || t_string!(i18n, valid_until_kst).to_string())
                hint=Signal::derive(optional) error value=initial.valid_until />
            <Field name="per_customer_limit" label=Signal::derive(move || t_string!(i18n, per_customer_limit).to_string())
                hint=Signal::derive(optional) error value=initial.per_customer_limit inputmode="numeric" />
        </div>
    }
}

#[component]
pub fn NewCouponPage() -> impl IntoView {
    let i18n = use_i18n();
    let create = ServerAction::<CreateCoupon>::new();
    let error = last_error(create.value());
    let initial = StoredValue::new(refilled(
        &crate::refill::refill(CreateCoupon::PATH),
        CouponForm::default(),
    ));
    view! {
        <PageTitle text=move || t_string!(i18n, new_coupon_title).to_string() />
        <section class="card">
            <h1>{t!(i18n, new_coupon_title)}</h1>
            <OwnerOnly>
                <ActionForm action=create attr:data-testid="coupon-form">
                    <ErrorBanner error />
                    <CouponFields initial=initial.get_value() error />
                    <button type="submit" class="primary" data-testid="coupon-submit" data-pending=t_string!(i18n, saving).to_string()>
                        {t!(i18n, register_button)}
                    </button>
                </ActionForm>
            </OwnerOnly>
        </section>
    }
}

#[component]
pub fn EditCouponPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let update = ServerAction::<UpdateCoupon>::new();
    let error = last_error(update.value());
    let kept = StoredValue::new(crate::refill::refill(UpdateCoupon::PATH));
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| Uuid::parse_str(&id).ok())
    };
    let coupon = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_my_coupon(id).await,
            None => Err(AppError::NotFound),
        }
    });
    view! {
        <PageTitle text=move || t_string!(i18n, edit_coupon_title).to_string() />
        <section class="card">
            <h1>{t!(i18n, edit_coupon_title)}</h1>
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match coupon.await {
                        Ok(c) => {
                            let pictures = c.clone();
                            view! {
                            <ActionForm action=update attr:data-testid="coupon-form">
                                <ErrorBanner error />
                                <input type="hidden" name="id" value=c.id.to_string() />
                                <CouponFields initial=kept.with_value(|k| {
                                    // The kept fields are this coupon's (the hidden `id`).
                                    if k.get("id") == Some(c.id.to_string()) { refilled(k, c.to_form()) } else { c.to_form() }
                                }) error />
                                <button type="submit" class="primary" data-testid="coupon-submit" data-pending=t_string!(i18n, saving).to_string()>
                                    {t!(i18n, save_button)}
                                </button>
                            </ActionForm>
                            <PictureManager coupon=pictures />
                        }.into_any()
                        }
                        Err(e) => view! { <Refusal error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
