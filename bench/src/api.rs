//! The public JSON API as a customer or an owner uses it.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "bench-password-123";

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: Client,
}

/// How a purchase request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 201 with the order id.
    Created(String),
    OutOfStock,
    /// Another 409 (its code).
    Conflict(String),
    Limited(Option<u64>),
    Shed(Option<u64>),
    /// Any other status.
    Status(u16),
    /// No HTTP answer (connection error, timeout).
    Transport,
}

fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl Api {
    pub fn new(base: &str) -> Result<Api, String> {
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            client,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json(
        &self,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| format!("POST {path}: {e}"))?;
        let status = resp.status();
        let v = resp.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    pub async fn signup(
        &self,
        email: &str,
        name: &str,
        role: &str,
        shop: Option<&str>,
    ) -> Result<(), String> {
        let (s, v) = self
            .post_json(
                "/api/v1/auth/signup",
                json!({"email": email, "password": PASSWORD, "name": name, "role": role, "shop_name": shop}),
                None,
            )
            .await?;
        if s != StatusCode::CREATED {
            return Err(format!("sign-up of {email} answered {s}: {v}"));
        }
        Ok(())
    }

    pub async fn token(&self, email: &str) -> Result<String, String> {
        let (s, v) = self
            .post_json(
                "/api/v1/auth/token",
                json!({"email": email, "password": PASSWORD}),
                None,
            )
            .await?;
        match v.get("access_token").and_then(Value::as_str) {
            Some(t) if s == StatusCode::OK => Ok(t.to_string()),
            _ => Err(format!("login of {email} answered {s}: {v}")),
        }
    }

    /// Registers a coupon; returns its id.
    pub async fn create_coupon(
        &self,
        owner_token: &str,
        name: &str,
        price: i64,
        stock: i64,
    ) -> Result<String, String> {
        let (s, v) = self
            .post_json(
                "/api/v1/coupons",
                json!({"name": name, "description": "Benchmark coupon", "price": price, "stock": stock}),
                Some(owner_token),
            )
            .await?;
        match v.get("id").and_then(Value::as_str) {
            Some(id) if s == StatusCode::CREATED => Ok(id.to_string()),
            _ => Err(format!("coupon registration answered {s}: {v}")),
        }
    }

    /// One purchase of quantity 1 with a fresh idempotency key.
    pub async fn buy(&self, token: &str, coupon_id: &str, key: &str) -> Outcome {
        let resp = self
            .client
            .post(self.url("/api/v1/orders"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"coupon_id": coupon_id, "quantity": 1}))
            .send()
            .await;
        let Ok(resp) = resp else {
            return Outcome::Transport;
        };
        let status = resp.status().as_u16();
        let after = retry_after(&resp);
        let Ok(v) = resp.json::<Value>().await else {
            return if status == 201 {
                Outcome::Transport
            } else {
                Outcome::Status(status)
            };
        };
        match status {
            201 => match v.get("id").and_then(Value::as_str) {
                Some(id) => Outcome::Created(id.to_string()),
                None => Outcome::Status(201),
            },
            409 => {
                let code = v
                    .pointer("/error/code")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if code == "out_of_stock" {
                    Outcome::OutOfStock
                } else {
                    Outcome::Conflict(code)
                }
            }
            429 => Outcome::Limited(after),
            503 => Outcome::Shed(after),
            s => Outcome::Status(s),
        }
    }
}

pub struct Customer {
    pub email: String,
    pub token: String,
}

/// The accounts every scenario uses: one owner (with a shop) and `n` customers, all made
/// through the public API.
pub struct World {
    pub owner_token: String,
    pub customers: Vec<Customer>,
}

impl World {
    pub async fn create(api: &Api, n: usize) -> Result<World, String> {
        // Unique per bench run, so that e-mails never clash with an earlier run's.
        let tag = format!("{:x}", chrono::Utc::now().timestamp_millis());
        let owner = format!("owner-{tag}@bench.coupan.kr");
        api.signup(&owner, "Bench Owner", "owner", Some("Bench Shop"))
            .await?;
        let owner_token = api.token(&owner).await?;
        // Sign-ups hash passwords (argon2): a few at a time.
        let mut customers = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
            let mut tasks = tokio::task::JoinSet::new();
            for &i in chunk {
                let api = api.clone();
                let email = format!("c{i}-{tag}@bench.coupan.kr");
                tasks.spawn(async move {
                    api.signup(&email, &format!("Buyer {i}"), "customer", None)
                        .await?;
                    let token = api.token(&email).await?;
                    Ok::<_, String>((i, Customer { email, token }))
                });
            }
            while let Some(r) = tasks.join_next().await {
                customers.push(r.map_err(|e| e.to_string())??);
            }
        }
        customers.sort_by_key(|(i, _)| *i);
        Ok(World {
            owner_token,
            customers: customers.into_iter().map(|(_, c)| c).collect(),
        })
    }
}
