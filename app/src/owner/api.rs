//! `GET /api/v1/owner/dashboard`, `GET /api/v1/owner/orders` and
//! `GET /api/v1/owner/orders.csv` (owner).
//!
//! The orders take `status=`, `from=`, `to=` (KST days, `YYYY-MM-DD`), and page
//! backwards with `before=<cursor>&limit=` (`domain::history`), answering
//! `{"items": [...], "next": cursor | null}`. The CSV export has every order matching
//! the filters, as UTF-8 with a byte-order mark (spreadsheet programs then read Korean);
//! a browser downloads it with its session cookie, an API client with its token.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use sqlx::PgPool;
use tower_sessions::Session;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::repo;
use crate::api::doc;
use crate::auth::guards::{Principal, require_owner};
use crate::auth::tokens::BearerAuth;
use crate::domain::history::{OrderFilter, OwnerOrder, OwnerOrderPage, PageRequest};
use crate::domain::order::Dashboard;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard))
        .routes(routes!(orders))
        .routes(routes!(orders_csv))
}

#[utoipa::path(
    get,
    path = "/owner/dashboard",
    tag = "owners",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboard", body = Dashboard),
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unavailable,
    )
)]
async fn dashboard(
    State(pool): State<PgPool>,
    auth: BearerAuth,
) -> Result<Json<Dashboard>, AppError> {
    let owner = require_owner(auth.0)?;
    Ok(Json(repo::dashboard(&pool, owner).await?))
}

/// The filters and the page as text, so that a bad value is a 422 naming its field.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OrdersQuery {
    /// An order status; absent or empty: all.
    #[serde(default)]
    status: String,
    /// The first day (KST, `YYYY-MM-DD`).
    #[serde(default)]
    from: String,
    /// The last day (KST, `YYYY-MM-DD`).
    #[serde(default)]
    to: String,
    /// The `next` cursor of the previous page.
    before: Option<String>,
    /// 1 to 100.
    limit: Option<String>,
}

/// The query, or our 400 (never the library's text).
fn read_query(query: Result<Query<OrdersQuery>, QueryRejection>) -> Result<OrdersQuery, AppError> {
    query
        .map(|Query(q)| q)
        .map_err(|_| AppError::BadRequest("the query string could not be read".into()))
}

impl OrdersQuery {
    fn filter(&self) -> Result<OrderFilter, crate::domain::FieldErrors> {
        OrderFilter::parse(&self.status, &self.from, &self.to)
    }
}

/// The shop's orders, newest first, filtered, a page at a time.
#[utoipa::path(
    get,
    path = "/owner/orders",
    operation_id = "owner_orders",
    tag = "owners",
    security(("bearer" = [])),
    params(OrdersQuery),
    responses(
        (status = 200, description = "A page of the shop's orders; `next` pages further back", body = OwnerOrderPage),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn orders(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    query: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<Json<OwnerOrderPage>, AppError> {
    let owner = require_owner(auth.0)?;
    let q = read_query(query)?;
    let request = PageRequest::parse(q.before.as_deref(), q.limit.as_deref());
    let (filter, request) = super::both(q.filter(), request)?;
    Ok(Json(
        super::orders_page(&pool, owner, &filter, request).await?,
    ))
}

/// The caller: the bearer token's owner, else the browser session's.
async fn token_or_session(
    auth: BearerAuth,
    session: &Session,
    state: &AppState,
) -> Result<Principal, AppError> {
    let caller = match auth.0 {
        Some(p) => Some(p),
        None => crate::auth::sessions::session_principal(session, state).await?,
    };
    require_owner(caller)
}

/// Orders read per query while the export is written.
const CSV_CHUNK: i64 = 1000;

/// Every order matching the filters, as CSV (UTF-8 with a byte-order mark); a browser may
/// use its session cookie instead of a token.
#[utoipa::path(
    get,
    path = "/owner/orders.csv",
    tag = "owners",
    security(("bearer" = [])),
    params(OrdersQuery),
    responses(
        (status = 200, description = "The orders as CSV", content_type = "text/csv", body = String),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn orders_csv(
    State(state): State<AppState>,
    auth: BearerAuth,
    session: Session,
    query: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let owner = token_or_session(auth, &session, &state).await?;
    let q = read_query(query)?;
    let filter = q.filter().map_err(AppError::Validation)?;
    let mut conn = state.pool.acquire().await?;
    let shop = repo::shop_of(&mut conn, owner.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut csv = String::from("\u{feff}");
    csv.push_str(CSV_HEADER);
    let mut before = None;
    loop {
        let rows = repo::orders(&mut conn, shop, &filter, before, CSV_CHUNK).await?;
        for o in &rows {
            csv_row(&mut csv, o);
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == CSV_CHUNK => before = Some(last.cursor()),
            _ => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
        ],
        csv,
    ))
}

const CSV_HEADER: &str = "order_id,ordered_at,coupon_name,quantity,unit_price,amount,status,payment_status,paid_at,cancelled_at,refunded_at,vouchers_redeemed\r\n";

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; text
/// that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A time in KST, RFC 3339 (`2026-12-05T10:30:00+09:00`); empty for none.
fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&crate::domain::time::kst())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    })
    .unwrap_or_default()
}

fn csv_row(out: &mut String, o: &OwnerOrder) {
    let fields = [
        o.order_id.to_string(),
        time(Some(o.ordered_at)),
        field(&o.coupon_name),
        o.quantity.to_string(),
        o.unit_price.to_string(),
        o.amount.to_string(),
        o.status.as_str().to_string(),
        o.payment_status.as_str().to_string(),
        time(o.paid_at),
        time(o.cancelled_at),
        time(o.refunded_at),
        o.vouchers_redeemed.to_string(),
    ];
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("아메리카노"), "아메리카노");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("-5,x"), "\"'-5,x\"");
    }
}
