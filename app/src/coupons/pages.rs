//! The public catalogue and the coupon detail page. Both follow the stock of the coupons
//! they show (one live stream per page): the stock, the sold-out badge and the buy box
//! change without a reload.

use chrono::Utc;
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

use super::{get_coupon, list_coupons};
use crate::components::live::{LiveStockFigure, use_live_stock};
use crate::components::{ErrorView, PageTitle, category_text, error_text};
use crate::domain::coupon::discount_percent;
use crate::domain::live::live_status;
use crate::domain::money::format_krw;
use crate::domain::time::display;
use crate::domain::{Category, Coupon, CouponStatus, SaleBadges, SaleState, Sort};
use crate::i18n::*;
use crate::images::pages::{CardThumb, Gallery};
use crate::waitlist::pages::{WaitlistBox, WaitlistData};

/// The badge for a coupon's status (nothing while it is simply on sale).
#[component]
pub fn StatusBadge(status: CouponStatus) -> impl IntoView {
    let i18n = use_i18n();
    let (class, text) = match status {
        CouponStatus::Available => ("badge ok", t_string!(i18n, on_sale)),
        CouponStatus::SoldOut => ("badge sold-out", t_string!(i18n, sold_out)),
        CouponStatus::NotStarted => ("badge muted", t_string!(i18n, not_started)),
        CouponStatus::Ended => ("badge muted", t_string!(i18n, sale_ended)),
        CouponStatus::Stopped => ("badge muted", t_string!(i18n, sales_stopped)),
    };
    let testid = match status {
        CouponStatus::SoldOut => "badge-sold-out",
        _ => "badge-status",
    };
    view! { <span class=class data-testid=testid>{text}</span> }
}

/// The badges of a coupon on the catalogue and its page: while it can be bought, "ending
/// soon" and "few left" (thresholds in `domain::coupon`) instead of a plain "on sale";
/// otherwise its status. They follow the live stock.
#[component]
fn SaleBadge(
    status: Signal<CouponStatus>,
    stock: Signal<i32>,
    sale_ends_at: Option<chrono::DateTime<Utc>>,
) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        let status = status.get();
        if status != CouponStatus::Available {
            return view! { <StatusBadge status /> }.into_any();
        }
        let badges = SaleBadges::of(sale_ends_at, stock.get(), Utc::now());
        view! {
            {badges.ending_soon.then(|| view! {
                <span class="badge hot" data-testid="badge-ending-soon">{t_string!(i18n, badge_ending_soon)}</span>
            })}
            {badges.few_left.map(|n| view! {
                <span class="badge hot" data-testid="badge-few-left" data-left=n>{t_string!(i18n, badge_few_left, n = n).to_string()}</span>
            })}
        }
        .into_any()
    }
}

/// The price as Korean shoppers expect it: the list price struck through, the discount in
/// percent, then the sale price (just the price without a list price above it).
#[component]
fn PriceTag(price: i64, list_price: Option<i64>, #[prop(optional)] big: bool) -> impl IntoView {
    let i18n = use_i18n();
    let discount = discount_percent(price, list_price).zip(list_price);
    view! {
        <div class="price" class:big=big>
            {discount.map(|(percent, list)| view! {
                <del class="list-price" data-testid="coupon-list-price">
                    <span class="sr-only">{t_string!(i18n, list_price)} " "</span>{format_krw(list)}
                </del>
                " "
                <span class="discount" data-testid="coupon-discount">
                    <span class="sr-only">{t_string!(i18n, discount)} " "</span>{format!("{percent}%")}
                </span>
                " "
            })}
            <span class="sale-price" data-testid="coupon-price">{format_krw(price)}</span>
        </div>
    }
}

/// A coupon's stock and status as they change (the page's live stream), starting from
/// the values the page was served with.
struct LiveCoupon {
    stock: Signal<i32>,
    status: Signal<CouponStatus>,
}

fn live_coupon(state: SaleState) -> LiveCoupon {
    let live = use_live_stock(state.id);
    LiveCoupon {
        stock: Signal::derive(move || live.get().map_or(state.stock_left, |l| l.stock_left)),
        status: Signal::derive(move || live_status(state, live.get(), Utc::now())),
    }
}

/// A card's stock and badges, live (an island: the rest of the card is plain HTML).
#[island]
fn CardMeta(s: SaleState) -> impl IntoView {
    let i18n = use_i18n();
    let LiveCoupon { stock, status } = live_coupon(s);
    view! {
        <div class="meta">
            <span>{t_string!(i18n, stock_left)} ": " <span data-testid="coupon-stock">{stock}</span></span>
            <span class="badges"><SaleBadge status stock sale_ends_at=s.sale_ends_at /></span>
        </div>
    }
}

#[component]
fn CouponCard(coupon: Coupon) -> impl IntoView {
    let status = coupon.status_at(Utc::now());
    let href = format!("/coupons/{}", coupon.id);
    // One link per card, named by the coupon; CSS stretches its hit area over the card.
    view! {
        <li class="coupon-card" data-testid="coupon-card" data-coupon-id=coupon.id.to_string() data-category=coupon.category.as_str()
            class:sold-out=status == CouponStatus::SoldOut>
            <CardThumb coupon=coupon.clone() />
            <h2 class="coupon-title"><a href=href class="coupon-name card-link" data-testid="coupon-name">{coupon.name.clone()}</a></h2>
            <div class="shop" data-testid="coupon-shop">{coupon.shop_name.clone()}</div>
            <PriceTag price=coupon.price list_price=coupon.list_price />
            <CardMeta s=coupon.sale_state() />
        </li>
    }
}

/// The catalogue's view as its URL carries it: `/?q=&category=&sort=&page=`. Every link
/// and form of the page builds on it, so a link reproduces what was shown.
#[derive(Clone, Debug, Default, PartialEq)]
struct CatalogueView {
    q: String,
    /// The URL's text (checked by the server: an unknown one is a 422 on the page).
    category: String,
    sort: String,
    page: u32,
}

/// `/` with the view's parameters, leaving out the defaults (an empty search, every
/// category, newest first, page 1).
fn catalogue_href(q: &str, category: Option<Category>, sort: Sort, page: u32) -> String {
    let mut params = Vec::new();
    if !q.is_empty() {
        params.push(format!("q={}", urlencode(q)));
    }
    if let Some(c) = category {
        params.push(format!("category={}", c.as_str()));
    }
    if sort != Sort::default() {
        params.push(format!("sort={}", sort.as_str()));
    }
    if page > 1 {
        params.push(format!("page={page}"));
    }
    if params.is_empty() {
        "/".to_string()
    } else {
        format!("/?{}", params.join("&"))
    }
}

impl CatalogueView {
    fn category(&self) -> Option<Category> {
        Category::parse(&self.category).ok()
    }

    fn sort(&self) -> Sort {
        Sort::parse(&self.sort).unwrap_or_default()
    }

    fn with_page(&self, page: u32) -> String {
        catalogue_href(&self.q, self.category(), self.sort(), page)
    }
}

#[component]
pub fn CataloguePage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let view_of = move || {
        let q = query.read();
        CatalogueView {
            q: q.get("q").unwrap_or_default(),
            category: q.get("category").unwrap_or_default(),
            sort: q.get("sort").unwrap_or_default(),
            page: q
                .get("page")
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(1)
                .max(1),
        }
    };
    let current = Memo::new(move |_| view_of());
    let coupons = Resource::new(
        move || current.get(),
        |v| {
            let some = |s: String| Some(s).filter(|s| !s.is_empty());
            list_coupons(v.q, String::new(), v.page, some(v.category), some(v.sort))
        },
    );
    let q = move || current.read().q.clone();
    let category = move || current.read().category.clone();
    let sort = move || current.read().sort.clone();
    view! {
        <PageTitle text=move || t_string!(i18n, tagline).to_string() />
        <section>
            <h1 class="tagline">{t_string!(i18n, tagline)}</h1>
            <Form method="GET" action="/" attr:class="search" attr:role="search">
                <input type="search" name="q" value=q data-testid="search-input"
                    placeholder=move || t_string!(i18n, search_placeholder).to_string()
                    aria-label=move || t_string!(i18n, search_placeholder).to_string() />
                {move || (!category().is_empty()).then(|| view! { <input type="hidden" name="category" value=category() /> })}
                {move || (!sort().is_empty()).then(|| view! { <input type="hidden" name="sort" value=sort() /> })}
                <button type="submit" data-testid="search-submit">{t_string!(i18n, search_button)}</button>
            </Form>
            <div class="browse">
                <nav class="chips" aria-label=move || t_string!(i18n, categories_nav).to_string() data-testid="category-chips">
                    {move || {
                        let v = current.get();
                        let chosen = v.category();
                        let chip = |c: Option<Category>| {
                            let href = catalogue_href(&v.q, c, v.sort(), 1);
                            let active = chosen == c;
                            let (name, testid) = match c {
                                Some(c) => (category_text(c), format!("chip-{}", c.as_str())),
                                None => (t_string!(i18n, category_all).to_string(), "chip-all".to_string()),
                            };
                            view! {
                                <a class="chip" class:active=active href=href data-testid=testid
                                    aria-current=active.then_some("page")>{name}</a>
                            }
                        };
                        std::iter::once(None)
                            .chain(Category::ALL.into_iter().map(Some))
                            .map(chip)
                            .collect_view()
                    }}
                </nav>
                <Form method="GET" action="/" attr:class="sort" attr:data-testid="sort-form">
                    {move || (!q().is_empty()).then(|| view! { <input type="hidden" name="q" value=q() /> })}
                    {move || (!category().is_empty()).then(|| view! { <input type="hidden" name="category" value=category() /> })}
                    <label for="f-sort">{t_string!(i18n, sort_label)}</label>
                    <select id="f-sort" name="sort" data-testid="sort-select">
                        {move || {
                            let chosen = current.read().sort();
                            Sort::ALL.into_iter().map(|s| {
                                let text = match s {
                                    Sort::Newest => t_string!(i18n, sort_newest),
                                    Sort::PriceAsc => t_string!(i18n, sort_price_asc),
                                    Sort::PriceDesc => t_string!(i18n, sort_price_desc),
                                    Sort::EndingSoon => t_string!(i18n, sort_ending_soon),
                                    Sort::Popular => t_string!(i18n, sort_popular),
                                };
                                view! { <option value=s.as_str() selected=s == chosen>{text}</option> }
                            }).collect_view()
                        }}
                    </select>
                    <button type="submit" data-testid="sort-submit">{t_string!(i18n, sort_apply)}</button>
                </Form>
            </div>
            <Transition fallback=move || view! { <p class="loading" data-testid="loading">{t_string!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    let v = current.get_untracked();
                    match coupons.await {
                        Ok(p) if p.items.is_empty() => view! { <p class="empty" data-testid="no-results">{t_string!(i18n, no_results)}</p> }.into_any(),
                        Ok(p) => {
                            let has_prev = p.page > 1;
                            let has_next = (p.page as i64) * (p.per_page as i64) < p.total;
                            let current = p.page;
                            let (total, pages) = (p.total, page_count(p.total, p.per_page));
                            view! {
                                <ul class="coupon-grid" data-testid="coupon-list">
                                    {p.items.into_iter().map(|coupon| view! { <CouponCard coupon /> }).collect_view()}
                                </ul>
                                <nav class="pager" aria-label=move || t_string!(i18n, pages_nav).to_string() data-testid="pager">
                                    {has_prev.then(|| view! { <a href=v.with_page(current - 1)>{t_string!(i18n, previous_page)}</a> })}
                                    <span class="pager-status">
                                        <span data-testid="pager-page">{t!(i18n, page_of, n = move || current, pages = move || pages)}</span>
                                        " · "
                                        <span data-testid="catalogue-total">{t!(i18n, total_coupons, n = move || total)}</span>
                                    </span>
                                    {has_next.then(|| view! { <a href=v.with_page(current + 1) data-testid="next-page">{t_string!(i18n, next_page)}</a> })}
                                </nav>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="banner error" role="alert">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// How many pages `total` items fill (at least one: an empty catalogue is page 1 of 1).
fn page_count(total: i64, per_page: u32) -> i64 {
    let per_page = i64::from(per_page.max(1));
    ((total + per_page - 1) / per_page).max(1)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn CouponDetailPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let auth = crate::auth::use_auth();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| Uuid::parse_str(&id).ok())
    };
    let coupon = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_coupon(id).await,
            None => Err(crate::error::AppError::NotFound),
        }
    });
    let allowance = Resource::new(id, |id| async move {
        match id {
            Some(id) => crate::orders::my_buy_allowance(id).await,
            None => Ok(None),
        }
    });
    let waitlist_entry = Resource::new(id, |id| async move {
        match id {
            Some(id) => crate::waitlist::my_waitlist_entry(id).await,
            None => Ok(None),
        }
    });
    view! {
        <Transition fallback=move || view! { <p class="loading">{t_string!(i18n, loading)}</p> }>
            {move || Suspend::new(async move {
                match coupon.await {
                    Ok(c) => {
                        let role = auth.user.await.ok().flatten().map(|u| u.role);
                        let allowance = allowance.await.ok().flatten();
                        let entry = waitlist_entry.await;
                        let title = c.name.clone();
                        let window = match (c.sale_starts_at, c.sale_ends_at) {
                            (None, None) => None,
                            (s, e) => Some(format!("{} ~ {}", s.map(display).unwrap_or_default(), e.map(display).unwrap_or_default())),
                        };
                        view! {
                            <PageTitle text=move || title.clone() />
                            <article class="card coupon-detail" data-testid="coupon-detail">
                                <Gallery name=c.name.clone() images=c.images.clone() />
                                <h1 data-testid="coupon-name">{c.name.clone()}</h1>
                                <div class="shop">{c.shop_name.clone()}</div>
                                <PriceTag price=c.price list_price=c.list_price big=true />
                                <span class="badges"><LiveBadges s=c.sale_state() /></span>
                                <p class="description">{c.description.clone()}</p>
                                <dl>
                                    <dt>{t!(i18n, category)}</dt>
                                    <dd data-testid="coupon-category"><a href=catalogue_href("", Some(c.category), Sort::default(), 1)>{category_text(c.category)}</a></dd>
                                    <dt>{t!(i18n, stock_left)}</dt><dd data-testid="coupon-stock"><LiveStockFigure coupon_id=c.id served=c.stock_left /></dd>
                                    <dt>{t!(i18n, sale_window)}</dt>
                                    <dd>{match window { Some(w) => w.into_any(), None => t!(i18n, always).into_any() }}</dd>
                                    <dt>{t!(i18n, valid_until)}</dt>
                                    <dd>{match c.valid_until { Some(v) => display(v).into_any(), None => t!(i18n, no_limit).into_any() }}</dd>
                                    <dt>{t!(i18n, per_customer_limit)}</dt>
                                    <dd>{match c.per_customer_limit { Some(l) => l.to_string().into_any(), None => t!(i18n, no_limit).into_any() }}</dd>
                                </dl>
                                <BuyArea s=c.sale_state() price=c.price allowance role entry />
                                <a href="/">{t!(i18n, back_to_catalogue)}</a>
                            </article>
                        }.into_any()
                    }
                    Err(e) => view! {
                        <PageTitle text=move || t_string!(i18n, not_found_title).to_string() />
                        <ErrorView error=e />
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The coupon page's badges, following the live stock (an island).
#[island]
fn LiveBadges(s: SaleState) -> impl IntoView {
    let LiveCoupon { stock, status } = live_coupon(s);
    view! { <SaleBadge status stock sale_ends_at=s.sale_ends_at /> }
}

/// The coupon page's buy box and waitlist box: which one shows follows the live stock, and
/// both talk to the server without a reload (an island).
#[island]
fn BuyArea(
    s: SaleState,
    price: i64,
    allowance: Option<crate::domain::BuyAllowance>,
    role: Option<crate::domain::Role>,
    /// The customer's place in line when the page was rendered.
    entry: crate::waitlist::pages::EntryState,
) -> impl IntoView {
    let LiveCoupon { status, .. } = live_coupon(s);
    let coupon_id = s.id;
    let waitlist = WaitlistData::new(
        coupon_id,
        role == Some(crate::domain::Role::Customer),
        entry,
    );
    view! {
        {move || (status.get() == CouponStatus::Available).then(|| view! { <BuyBox coupon_id price allowance role /> })}
        <WaitlistBox coupon_id data=waitlist sold_out=Signal::derive(move || status.get() == CouponStatus::SoldOut) role />
    }
}

/// The buy form: customers only (the server checks again). The idempotency key rendered
/// into the form makes a double click or a resent form one order. On phones it is a bar
/// stuck to the bottom of the screen; once hydrated it has a -/+ stepper (up to what the
/// server says this customer may still buy) and the running total. Without JavaScript the
/// number field alone sets the quantity.
#[component]
fn BuyBox(
    coupon_id: Uuid,
    price: i64,
    allowance: Option<crate::domain::BuyAllowance>,
    role: Option<crate::domain::Role>,
) -> impl IntoView {
    use crate::components::form::{LastError, field_has_error};
    use crate::components::{ErrorBanner, FieldMessage};
    use crate::domain::Role;
    use crate::domain::order::MAX_QUANTITY;
    use crate::error::AppError;
    use crate::orders::BuyCoupon;
    use leptos::form::ActionForm;

    let i18n = use_i18n();
    let buy = ServerAction::<BuyCoupon>::new();
    // A shed purchase (503, the queue is full) is not an error to show: the box counts
    // down and sends the same purchase again (same idempotency key, so never twice).
    let busy =
        |r: &Option<Result<_, AppError>>| matches!(r, Some(Err(AppError::Unavailable { .. })));
    let error: LastError = Signal::derive(move || {
        let v = buy.value().get();
        if busy(&v) {
            None
        } else {
            v.and_then(|r| r.err())
        }
    });
    let retry_in = RwSignal::new(None::<u64>);
    let quantity = NodeRef::<leptos::html::Input>::new();
    // The key the page was rendered with (hydration keeps the server's value in the DOM).
    let key_input = NodeRef::<leptos::html::Input>::new();
    let key = crate::orders::new_idempotency_key(coupon_id);
    Effect::new(move |_| {
        if let Some(Err(AppError::Unavailable { retry_after_secs })) = buy.value().get() {
            retry_in.set(Some(retry_after_secs.clamp(1, 30)));
        }
    });
    Effect::new(move |_| {
        let Some(n) = retry_in.get() else { return };
        set_timeout(
            move || {
                if n > 1 {
                    retry_in.set(Some(n - 1));
                    return;
                }
                retry_in.set(None);
                let quantity = quantity
                    .get_untracked()
                    .map(|i| i.value())
                    .unwrap_or_else(|| "1".into());
                let Some(idempotency_key) = key_input.get_untracked().map(|i| i.value()) else {
                    return;
                };
                buy.dispatch(BuyCoupon {
                    coupon_id,
                    quantity,
                    idempotency_key,
                });
            },
            std::time::Duration::from_secs(1),
        );
    });
    let waiting = move || buy.pending().get() || retry_in.get().is_some();
    // `allowance`: what this customer may still buy; `None` for everyone else (decided on
    // the server). Made by the page (see `WaitlistData`).
    // The quantity as typed or stepped; the stepper and the total appear once hydrated
    // (false on the server), taking over what was typed before.
    let qty = RwSignal::new(1i64);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(input) = quantity.get() {
            if let Ok(n) = input.value().trim().parse::<i64>() {
                qty.set(n);
            }
            hydrated.set(true);
        }
    });
    let quantity_invalid = move || field_has_error(error, "quantity");
    match role {
                        Some(Role::Customer) => {
                            let max = allowance.map_or(MAX_QUANTITY, |a| a.may_buy);
                            let none_left = max < 1;
                            let step = move |delta: i64| {
                                let next = (qty.get_untracked() + delta).clamp(1, max.max(1));
                                qty.set(next);
                                if let Some(input) = quantity.get_untracked() {
                                    input.set_value(&next.to_string());
                                }
                            };
                            let left = allowance.and_then(|a| a.limit.map(|limit| (limit, a.left_under_limit().unwrap_or(0))));
                            view! {
                            <ActionForm action=buy attr:class="buy" attr:data-testid="buy-form">
                                <ErrorBanner error />
                                {move || retry_in.get().map(|secs| view! {
                                    <p class="busy" role="status" data-testid="buy-busy">{t_string!(i18n, buy_busy, secs).to_string()}</p>
                                })}
                                <input type="hidden" name="coupon_id" value=coupon_id.to_string() />
                                <input type="hidden" name="idempotency_key" value=key node_ref=key_input />
                                {left.map(|(limit, n)| view! {
                                    <p class="allowance" data-testid="buy-allowance" data-left=n>
                                        {if n > 0 {
                                            t_string!(i18n, may_buy_more, n = n, limit = limit).to_string().into_any()
                                        } else {
                                            t_string!(i18n, limit_reached, limit = limit).to_string().into_any()
                                        }}
                                    </p>
                                })}
                                <div class="buy-row">
                                    <div class="stepper">
                                        <label for="f-quantity">{t_string!(i18n, quantity)}</label>
                                        <button type="button" class="step" class:hidden=move || !hydrated.get() data-testid="qty-minus"
                                            aria-controls="f-quantity" aria-label=move || t_string!(i18n, quantity_decrease).to_string()
                                            disabled=move || { none_left || qty.get() <= 1 } on:click=move |_| step(-1)>"−"</button>
                                        <input id="f-quantity" name="quantity" type="number" min="1" max=max.max(1) value="1"
                                            inputmode="numeric" data-testid="input-quantity" node_ref=quantity disabled=none_left
                                            aria-invalid=move || if quantity_invalid() { "true" } else { "false" }
                                            aria-describedby=move || quantity_invalid().then_some("f-quantity-error")
                                            on:input=move |ev| {
                                                if let Ok(n) = event_target_value(&ev).trim().parse::<i64>() {
                                                    qty.set(n);
                                                }
                                            } />
                                        <button type="button" class="step" class:hidden=move || !hydrated.get() data-testid="qty-plus"
                                            aria-controls="f-quantity" aria-label=move || t_string!(i18n, quantity_increase).to_string()
                                            disabled=move || { none_left || qty.get() >= max } on:click=move |_| step(1)>"+"</button>
                                    </div>
                                    <output class="buy-total" for="f-quantity" data-testid="buy-total" class:hidden=move || !hydrated.get()>
                                        <span class="buy-total-label">{t_string!(i18n, buy_total)}</span>
                                        " "
                                        <strong data-testid="buy-total-amount">{move || format_krw(price * qty.get().clamp(1, MAX_QUANTITY))}</strong>
                                    </output>
                                    <button type="submit" class="primary" data-testid="buy-submit" disabled=move || none_left || waiting()>
                                        {move || if waiting() { t_string!(i18n, buying).to_string() } else { t_string!(i18n, buy_button).to_string() }}
                                    </button>
                                </div>
                                <FieldMessage error field="quantity" />
                            </ActionForm>
                            }.into_any()
                        }
                        Some(_) => ().into_any(),
                        None => view! {
                            <div class="buy">
                                <a class="button" href=format!("/login?next=%2Fcoupons%2F{coupon_id}") data-testid="login-to-buy">{t_string!(i18n, login_to_buy)}</a>
                            </div>
                        }.into_any(),
                    }
}

#[cfg(test)]
mod tests {
    use super::page_count;

    #[test]
    fn catalogue_links_carry_the_view_without_defaults() {
        use super::{Category, Sort, catalogue_href};
        assert_eq!(catalogue_href("", None, Sort::Newest, 1), "/");
        assert_eq!(
            catalogue_href("라떼 1", Some(Category::Cafe), Sort::PriceAsc, 2),
            "/?q=%EB%9D%BC%EB%96%BC%201&category=cafe&sort=price_asc&page=2"
        );
    }

    #[test]
    fn page_count_rounds_up_and_is_at_least_one() {
        assert_eq!(page_count(0, 20), 1);
        assert_eq!(page_count(20, 20), 1);
        assert_eq!(page_count(21, 20), 2);
        assert_eq!(page_count(45, 20), 3);
        assert_eq!(page_count(5, 0), 5, "a zero page size counts as one");
    }
}
