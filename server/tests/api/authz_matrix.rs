//! The authorisation matrix: every private route, the JSON API's (bearer tokens) and the
//! server functions the pages call (`/sfn/...`, browser sessions), called as each of five
//! people: nobody, customer A, customer B, owner A (whose shop sells what A bought) and
//! owner B. Each answer must be what the route allows, by the rules of `app/src/error.rs`
//! and the guards: 401 without a session or token, 403 for the other role, 404 for someone
//! else's order, coupon, picture or notification (ownership lives in the SQL, so another
//! owner's coupon does not exist for them), 409 for a voucher of another shop.
//!
//! Nothing of another person may leak or change:
//! - no answer to anybody contains a secret of someone else (customer A's voucher codes
//!   and order ids are for A and A's shop, e-mail addresses for their owner alone);
//! - a row that changes something names whose it is (`owner`): everybody else calls it
//!   first, then the row's `state` query must read the same as before, then the owner
//!   calls it and succeeds.
//!
//! One row per route: a new private route is a new row (`rest(...)` or `sfn(...)`).
//! `server/tests/api/openapi.rs` lists the API's routes; `grep -rn '#\[server' app/src`
//! the server functions.
//! Not in the table, on purpose: log-in, sign-up and log-out (public; they change only the
//! caller's own session) and the pictures' form posts under `/owner/coupons/...` (they
//! share the service calls of the API's picture routes, tested here, and answer redirects:
//! `images.rs` tests their refusals).

use std::collections::HashMap;

use image::{DynamicImage, ImageBuffer, Rgb};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Actor {
    Anonymous,
    CustomerA,
    CustomerB,
    OwnerA,
    OwnerB,
}

use Actor::*;

/// The order of the columns of `expect`.
const ACTORS: [Actor; 5] = [Anonymous, CustomerA, CustomerB, OwnerA, OwnerB];

/// What one person gets.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Allowed: a 2xx (or the redirect a server function sends after its work).
    Ok,
    Status(u16),
}

const OK: Expect = Expect::Ok;
const E401: Expect = Expect::Status(401);
const E403: Expect = Expect::Status(403);
const E404: Expect = Expect::Status(404);
const E409: Expect = Expect::Status(409);

enum Body {
    None,
    Json(Value),
    /// A small JPEG as the multipart field `file`.
    Picture,
    /// A server function's arguments (form-encoded, as the pages send them).
    Form(Vec<(&'static str, String)>),
    /// No body, sent by the person's browser (its session cookie, no token).
    Session,
}

struct Row {
    method: Method,
    path: String,
    body: Body,
    /// Whose resource this changes: called last, after everybody else.
    owner: Option<Actor>,
    /// SQL reading the resource's state as text: the others' calls must not change it.
    state: Option<String>,
    /// A stream that never ends: only its status is read.
    stream: bool,
    /// SQL run before the row (to give it something to change).
    prepare: Option<String>,
    expect: [Expect; 5],
}

fn rest(method: Method, path: String, body: Body, expect: [Expect; 5]) -> Row {
    Row {
        method,
        path,
        body,
        owner: None,
        state: None,
        stream: false,
        prepare: None,
        expect,
    }
}

fn sfn(endpoint: &str, args: Vec<(&'static str, String)>, expect: [Expect; 5]) -> Row {
    rest(
        Method::POST,
        format!("/sfn/{endpoint}"),
        Body::Form(args),
        expect,
    )
}

impl Row {
    /// Changes `owner`'s resource, whose state `sql` reads.
    fn owned_by(mut self, owner: Actor, sql: String) -> Row {
        self.owner = Some(owner);
        self.state = Some(sql);
        self
    }

    fn prepared(mut self, sql: String) -> Row {
        self.prepare = Some(sql);
        self
    }

    fn stream(mut self) -> Row {
        self.stream = true;
        self
    }
}

fn jpeg() -> Vec<u8> {
    let img = ImageBuffer::from_fn(32, 24, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn email(actor: Actor) -> String {
    format!("matrix-{actor:?}@example.com").to_lowercase()
}

/// The people: a token and a signed-in browser each (nobody has neither).
struct People {
    tokens: HashMap<Actor, String>,
    browsers: HashMap<Actor, Client>,
}

impl People {
    async fn send(&self, app: &TestApp, actor: Actor, row: &Row) -> reqwest::Response {
        let url = app.url(&row.path);
        let req = match &row.body {
            Body::Form(args) => self.browsers[&actor].post(url).form(args),
            Body::Session => self.browsers[&actor].request(row.method.clone(), url),
            body => {
                let mut req = app.client.request(row.method.clone(), url);
                if let Some(t) = self.tokens.get(&actor) {
                    req = req.bearer_auth(t);
                }
                match body {
                    Body::Json(v) => req.json(v),
                    Body::Picture => req.multipart(
                        Form::new().part("file", Part::bytes(jpeg()).file_name("p.jpg")),
                    ),
                    _ => req,
                }
            }
        };
        req.send().await.unwrap()
    }
}

async fn read_state(pool: &PgPool, sql: &str) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn buy_paid_later(app: &TestApp, token: &str, coupon: &str) -> String {
    let res = app.buy(token, coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn every_private_route_answers_each_person_what_it_allows(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());

    // --- the world ----------------------------------------------------------------------
    let mut tokens = HashMap::new();
    tokens.insert(OwnerA, app.owner(&email(OwnerA), "Matrix Shop A").await);
    tokens.insert(OwnerB, app.owner(&email(OwnerB), "Matrix Shop B").await);
    tokens.insert(CustomerA, app.customer(&email(CustomerA)).await);
    tokens.insert(CustomerB, app.customer(&email(CustomerB)).await);
    let mut browsers = HashMap::new();
    browsers.insert(Anonymous, app.browser());
    for actor in [CustomerA, CustomerB, OwnerA, OwnerB] {
        let browser = app.browser();
        let res = app.log_in(&browser, &email(actor)).send().await;
        assert!(res.status().is_success() || res.status().is_redirection());
        browsers.insert(actor, browser);
    }
    let people = People { tokens, browsers };
    let t = |a: Actor| people.tokens[&a].clone();

    let coupon = NewCoupon::named("Matrix Latte")
        .stock(50)
        .create(&app, &t(OwnerA))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sold_out = NewCoupon::named("Matrix Rare")
        .stock(1)
        .create(&app, &t(OwnerA))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b_order = buy_paid_later(&app, &t(CustomerB), &sold_out).await;
    let mut a_orders = Vec::new();
    for _ in 0..7 {
        a_orders.push(buy_paid_later(&app, &t(CustomerA), &coupon).await);
    }
    settle(&worker, &pool, 20).await;
    let [
        order_show,
        order_cancel,
        order_refund,
        order_voucher,
        order_cancel2,
        order_refund2,
        order_voucher2,
    ] = <[String; 7]>::try_from(a_orders.clone()).unwrap();
    let mypage: Value = app
        .get("/api/v1/mypage", Some(&t(CustomerA)))
        .await
        .json()
        .await
        .unwrap();
    let code_of = |order: &str| {
        mypage["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["order_id"] == order)
            .unwrap_or_else(|| panic!("order {order} on my page: {mypage}"))["vouchers"][0]["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (code, code2) = (code_of(&order_voucher), code_of(&order_voucher2));
    let shown = code_of(&order_show);
    let notifications: Value = app
        .get("/api/v1/notifications", Some(&t(CustomerA)))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = notifications["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.len() >= 3,
        "customer A's notifications: {notifications}"
    );
    let (note, note2) = (ids[0], ids[1]);
    let mut pictures = Vec::new();
    for _ in 0..2 {
        let res = people
            .send(
                &app,
                OwnerA,
                &rest(
                    Method::POST,
                    format!("/api/v1/coupons/{coupon}/images"),
                    Body::Picture,
                    [OK; 5],
                ),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        pictures.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let picture = pictures[1].clone();

    // What only some may see.
    let mut secrets: Vec<(String, Vec<Actor>)> = vec![
        (code.clone(), vec![CustomerA, OwnerA]),
        (code2.clone(), vec![CustomerA, OwnerA]),
        (shown.clone(), vec![CustomerA]),
        (b_order.clone(), vec![CustomerB, OwnerA]),
    ];
    for order in &a_orders {
        secrets.push((order.clone(), vec![CustomerA, OwnerA]));
    }
    for actor in [CustomerA, CustomerB, OwnerA, OwnerB] {
        secrets.push((email(actor), vec![actor]));
    }

    let status_of = |order: &str| format!("select status from orders where id = '{order}'");
    let unread_a = format!(
        "select count(*)::text from notifications n join users u on u.id = n.user_id \
         where u.email = '{}' and n.read_at is null",
        email(CustomerA)
    );
    let read_at = |id: i64| format!("select read_at::text from notifications where id = {id}");
    let redeemed = |code: &str| {
        format!(
            "select redeemed_at::text from vouchers \
             where code = '{code}' or code = replace('{code}', '-', '')"
        )
    };
    let all_unread = format!(
        "update notifications set read_at = null where user_id = \
         (select id from users where email = '{}')",
        email(CustomerA)
    );
    let pictures_of = format!(
        "select string_agg(id::text, ',' order by position) from coupon_images \
         where coupon_id = '{coupon}'"
    );
    let coupon_row = format!(
        "select concat_ws('|', name, description, price, on_sale) from coupons where id = '{coupon}'"
    );
    let new_coupon = || NewCoupon::named("Matrix New").stock(3).body();
    let coupon_form = |name: &str| {
        vec![
            ("name", name.to_string()),
            ("description", "desc".to_string()),
            ("price", "15000".to_string()),
            ("stock", "10".to_string()),
            ("sale_starts_at", String::new()),
            ("sale_ends_at", String::new()),
            ("valid_until", String::new()),
            ("per_customer_limit", String::new()),
        ]
    };
    let mut update_form = coupon_form("Renamed by the form");
    update_form.insert(0, ("id", coupon.clone()));
    let (get, post, patch, delete) = (Method::GET, Method::POST, Method::PATCH, Method::DELETE);

    // --- the matrix: nobody, customer A, customer B, owner A, owner B --------------------
    let rows = vec![
        // The JSON API.
        rest(
            get.clone(),
            "/api/v1/me".into(),
            Body::None,
            [E401, OK, OK, OK, OK],
        ),
        rest(
            get.clone(),
            "/api/v1/mypage".into(),
            Body::None,
            [E401, OK, OK, E403, E403],
        ),
        rest(
            get.clone(),
            format!("/api/v1/orders/{order_show}"),
            Body::None,
            [E401, OK, E404, E403, E403],
        ),
        rest(
            post.clone(),
            format!("/api/v1/orders/{order_cancel}/cancel"),
            Body::Json(json!({})),
            [E401, OK, E404, E403, E403],
        )
        .owned_by(CustomerA, status_of(&order_cancel)),
        rest(
            post.clone(),
            format!("/api/v1/owner/orders/{order_refund}/refund"),
            Body::Json(json!({"reason": "matrix"})),
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, status_of(&order_refund)),
        rest(
            post.clone(),
            "/api/v1/vouchers/redeem".into(),
            Body::Json(json!({ "code": code })),
            [E401, E403, E403, OK, E409],
        )
        .owned_by(OwnerA, redeemed(&code)),
        rest(
            get.clone(),
            "/api/v1/owner/dashboard".into(),
            Body::None,
            [E401, E403, E403, OK, OK],
        ),
        rest(
            get.clone(),
            "/api/v1/owner/orders".into(),
            Body::None,
            [E401, E403, E403, OK, OK],
        ),
        rest(
            get.clone(),
            "/api/v1/owner/orders.csv".into(),
            Body::None,
            [E401, E403, E403, OK, OK],
        ),
        rest(
            get.clone(),
            format!("/api/v1/mypage/vouchers/{shown}/qr.svg"),
            Body::Session,
            [E401, OK, E404, E403, E403],
        ),
        rest(
            post.clone(),
            "/api/v1/coupons".into(),
            Body::Json(new_coupon()),
            [E401, E403, E403, OK, OK],
        ),
        rest(
            patch.clone(),
            format!("/api/v1/coupons/{coupon}"),
            Body::Json(json!({"description": "patched by its owner"})),
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, coupon_row.clone()),
        rest(
            post.clone(),
            format!("/api/v1/coupons/{coupon}/images"),
            Body::Picture,
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, pictures_of.clone()),
        rest(
            post.clone(),
            format!("/api/v1/coupons/{coupon}/images/{picture}/cover"),
            Body::None,
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, pictures_of.clone()),
        rest(
            delete.clone(),
            format!("/api/v1/coupons/{coupon}/images/{picture}"),
            Body::None,
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, pictures_of.clone()),
        rest(
            post.clone(),
            "/api/v1/orders".into(),
            Body::Json(json!({"coupon_id": coupon, "quantity": 1})),
            [E401, OK, OK, E403, E403],
        ),
        rest(
            post.clone(),
            format!("/api/v1/coupons/{sold_out}/waitlist"),
            Body::None,
            [E401, OK, OK, E403, E403],
        ),
        rest(
            get.clone(),
            "/api/v1/waitlist".into(),
            Body::None,
            [E401, OK, OK, E403, E403],
        ),
        rest(
            delete.clone(),
            format!("/api/v1/coupons/{sold_out}/waitlist"),
            Body::None,
            [E401, OK, OK, E403, E403],
        ),
        rest(
            get.clone(),
            "/api/v1/notifications".into(),
            Body::None,
            [E401, OK, OK, OK, OK],
        ),
        rest(
            post.clone(),
            format!("/api/v1/notifications/{note}/read"),
            Body::None,
            [E401, OK, E404, E404, E404],
        )
        .owned_by(CustomerA, read_at(note))
        .prepared(all_unread.clone()),
        rest(
            post.clone(),
            "/api/v1/notifications/read-all".into(),
            Body::None,
            [E401, OK, OK, OK, OK],
        )
        .owned_by(CustomerA, unread_a.clone())
        .prepared(all_unread.clone()),
        rest(
            get.clone(),
            "/api/v1/notifications/live".into(),
            Body::None,
            [E401, OK, OK, OK, OK],
        )
        .stream(),
        // The server functions of the pages (browser sessions).
        sfn("auth/me", vec![], [OK, OK, OK, OK, OK]),
        sfn(
            "orders/buy",
            vec![
                ("coupon_id", coupon.clone()),
                ("quantity", "1".into()),
                ("idempotency_key", "matrix-buy".into()),
            ],
            [E401, OK, OK, E403, E403],
        ),
        sfn(
            "orders/allowance",
            vec![("coupon_id", coupon.clone())],
            [OK; 5],
        ),
        sfn(
            "orders/cancel",
            vec![("order_id", order_cancel2.clone())],
            [E401, OK, E404, E403, E403],
        )
        .owned_by(CustomerA, status_of(&order_cancel2)),
        sfn(
            "owner/orders/refund",
            vec![
                ("order_id", order_refund2.clone()),
                ("reason", "matrix".into()),
            ],
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, status_of(&order_refund2)),
        sfn(
            "owner/vouchers/redeem",
            vec![("code", code2.clone())],
            [E401, E403, E403, OK, E409],
        )
        .owned_by(OwnerA, redeemed(&code2)),
        sfn(
            "waitlist/entry",
            vec![("coupon_id", sold_out.clone())],
            [OK; 5],
        ),
        sfn(
            "waitlist/join",
            vec![("coupon_id", sold_out.clone())],
            [E401, OK, OK, E403, E403],
        ),
        sfn(
            "waitlist/leave",
            vec![("coupon_id", sold_out.clone())],
            [E401, OK, OK, E403, E403],
        ),
        sfn("notifications", vec![], [E401, OK, OK, OK, OK]),
        sfn(
            "notifications/read",
            vec![("id", note2.to_string())],
            [E401, OK, E404, E404, E404],
        )
        .owned_by(CustomerA, read_at(note2))
        .prepared(all_unread.clone()),
        sfn("notifications/read-all", vec![], [E401, OK, OK, OK, OK])
            .owned_by(CustomerA, unread_a.clone())
            .prepared(all_unread.clone()),
        sfn("owner/dashboard", vec![], [E401, E403, E403, OK, OK]),
        sfn("mypage", vec![], [E401, OK, OK, E403, E403]),
        sfn(
            "mypage/voucher",
            vec![("code", shown.clone())],
            [E401, OK, E404, E403, E403],
        ),
        sfn(
            "orders/refund-quote",
            vec![("order_id", order_show.clone()), ("quantity", "1".into())],
            [E401, OK, E404, E403, E403],
        ),
        sfn("owner/orders", vec![], [E401, E403, E403, OK, OK]),
        sfn(
            "coupons/list",
            vec![
                ("q", String::new()),
                ("shop", String::new()),
                ("page", "1".into()),
            ],
            [OK; 5],
        ),
        sfn("coupons/get", vec![("id", coupon.clone())], [OK; 5]),
        sfn("owner/coupons", vec![], [E401, E403, E403, OK, OK]),
        sfn(
            "owner/coupons/get",
            vec![("id", coupon.clone())],
            [E401, E403, E403, OK, E404],
        ),
        sfn(
            "owner/coupons/create",
            coupon_form("Created by the form"),
            [E401, E403, E403, OK, OK],
        ),
        sfn(
            "owner/coupons/update",
            update_form,
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, coupon_row.clone()),
        // Last: it stops the coupon's sales.
        sfn(
            "owner/coupons/on-sale",
            vec![("id", coupon.clone()), ("on_sale", "false".into())],
            [E401, E403, E403, OK, E404],
        )
        .owned_by(OwnerA, coupon_row.clone()),
        // Last: a changed password ends the person's sessions and tokens. The form's
        // with a wrong current password (401 for everybody), then the API's for real.
        sfn(
            "auth/password",
            vec![
                ("current_password", "not the password".into()),
                ("new_password", "another password 123".into()),
            ],
            [E401; 5],
        ),
        rest(
            post.clone(),
            "/api/v1/me/password".into(),
            Body::Json(json!({
                "current_password": PASSWORD,
                "new_password": "another password 123",
            })),
            [E401, OK, OK, OK, OK],
        ),
    ];

    let mut failures = Vec::new();
    for row in &rows {
        let label = format!("{} {}", row.method, row.path);
        let mut order: Vec<Actor> = ACTORS
            .iter()
            .copied()
            .filter(|a| Some(*a) != row.owner)
            .collect();
        if let Some(sql) = &row.prepare {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let before = match &row.state {
            Some(sql) => Some(read_state(&pool, sql).await),
            None => None,
        };
        if let Some(owner) = row.owner {
            order.push(owner);
        }
        for actor in order {
            if Some(actor) == row.owner
                && let (Some(sql), Some(before)) = (&row.state, &before)
            {
                let now = read_state(&pool, sql).await;
                if &now != before {
                    failures.push(format!(
                        "{label}: changed by someone else than {actor:?}: {before:?} -> {now:?}"
                    ));
                }
            }
            let expect = row.expect[ACTORS.iter().position(|a| *a == actor).unwrap()];
            let res = people.send(&app, actor, row).await;
            let status = res.status();
            let fine = match expect {
                Expect::Ok => status.is_success() || status == StatusCode::FOUND,
                Expect::Status(s) => status.as_u16() == s,
            };
            if !fine {
                failures.push(format!(
                    "{label} as {actor:?}: {status}, expected {expect:?}"
                ));
            }
            if row.stream {
                continue;
            }
            let body = res.text().await.unwrap_or_default();
            for (secret, allowed) in &secrets {
                if !allowed.contains(&actor) && body.contains(secret.as_str()) {
                    failures.push(format!("{label} as {actor:?}: leaks {secret}: {body}"));
                }
            }
        }
        if let (Some(owner), Some(sql), Some(before)) = (row.owner, &row.state, &before) {
            let after = read_state(&pool, sql).await;
            if &after == before {
                failures.push(format!(
                    "{label}: {owner:?}'s own call changed nothing ({before:?})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
