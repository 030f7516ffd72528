use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use server::config::Config;
use sqlx::PgPool;

pub const PASSWORD: &str = "correct horse battery";
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub pool: PgPool,
}

pub fn test_config() -> Config {
    Config {
        database_url: String::new(),
        jwt_secret: JWT_SECRET.into(),
        site_addr: "127.0.0.1:0".parse().unwrap(),
        db_max_connections: 10,
        demo_data: false,
        secure_cookies: false,
        log_json: false,
    }
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = server::startup::router(pool.clone(), &test_config());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        TestApp {
            base: format!("http://{addr}"),
            client: Client::new(),
            pool,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client with its own cookie jar (a browser).
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut req = self.client.patch(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn signup(&self, email: &str, role: &str, shop: Option<&str>) -> Response {
        let mut body =
            json!({ "email": email, "password": PASSWORD, "name": "Tester", "role": role });
        if let Some(shop) = shop {
            body["shop_name"] = json!(shop);
        }
        self.post("/api/v1/auth/signup", body, None).await
    }

    pub async fn token(&self, email: &str) -> String {
        let res = self
            .post(
                "/api/v1/auth/token",
                json!({ "email": email, "password": PASSWORD }),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Signs up an owner with a shop and returns a token.
    pub async fn owner(&self, email: &str, shop: &str) -> String {
        assert_eq!(
            self.signup(email, "owner", Some(shop)).await.status(),
            StatusCode::CREATED
        );
        self.token(email).await
    }

    pub async fn customer(&self, email: &str) -> String {
        assert_eq!(
            self.signup(email, "customer", None).await.status(),
            StatusCode::CREATED
        );
        self.token(email).await
    }

    pub async fn create_coupon(&self, token: &str, body: Value) -> Value {
        let res = self.post("/api/v1/coupons", body, Some(token)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }
}

/// Asserts the error JSON shape and returns the body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    body
}

pub fn coupon_body(name: &str) -> Value {
    json!({ "name": name, "description": "desc", "price": 15000, "stock": 10 })
}
