//! The OpenAPI document (`GET /api/v1/openapi.json`) and the routes the application
//! serves agree, both ways.
//!
//! utoipa-axum builds each API route and its documentation from one `routes!(handler)`
//! call, but nothing stops a `.route(...)` beside it (in a feature router, in
//! `app::api`, or in the server's own router), a path written differently in the
//! annotation than in the router, or a method registered outside the annotation. So the
//! test compares what is really served with what is documented:
//! - paths: the composed router of the application (`Application::router`, as `main`
//!   builds it) lists every path it routes; each under `/api/` must be in the document,
//!   and each documented path must be among them. axum has no API to list routes: its
//!   `Debug` output names them, and the test refuses to pass when it finds none of the
//!   well-known ones there, so an axum change that hides them fails loudly;
//! - methods: every documented path is called with GET, POST, PUT, PATCH and DELETE. A
//!   documented method must reach its route: never 405, and the request is counted in
//!   `/metrics` under a route pattern equal to the documented path (so a 404 is the
//!   handler's own, not the API's fallback for unknown paths); an undocumented method must
//!   be 405 (the path exists, the method does not).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    res.json().await.unwrap()
}

/// Every `$ref` of `value`.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The document is OpenAPI 3.1, complete (every reference resolves), and says how to
/// authenticate and what errors look like.
#[sqlx::test(migrations = "../migrations")]
async fn the_document_is_openapi_3_1_and_complete(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "An access token from `POST /api/v1/auth/token` (`access_token`)."})
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(schemas.contains_key(name), "{r} is not in the document");
    }
    assert!(schemas["ErrorBody"]["properties"]["error"].is_object());

    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(
                operation_ids.insert(id),
                "{method} {path}: operationId {id} twice"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success answer"
            );
            // A route that takes a token says so, and documents the answer without one.
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
            for (status, r) in responses {
                if !status.starts_with('2') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // Spot checks of what the annotations must carry.
    let paths = &doc["paths"];
    assert_eq!(
        paths["/api/v1/coupons/{id}/live"]["get"]["responses"]["200"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["text/event-stream"]
    );
    assert!(
        paths["/api/v1/coupons/{id}/images"]["post"]["requestBody"]["content"]
            ["multipart/form-data"]
            .is_object()
    );
    assert!(paths["/api/v1/orders"]["post"]["security"].is_array());
    assert!(paths["/api/v1/coupons"]["get"]["security"].is_null());
}

/// The paths a router routes, from its `Debug` output (see the module notes).
fn routed_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// A value for a path parameter: a fresh UUID, or a number when the document says so.
fn sample(path: &str, op: &Value, name: &str) -> String {
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let p = params
        .iter()
        .find(|p| p["in"] == "path" && p["name"] == name)
        .unwrap_or_else(|| panic!("{path}: path parameter {name} is not documented"));
    if p["schema"]["type"] == "integer" {
        "1".into()
    } else {
        uuid::Uuid::new_v4().to_string()
    }
}

/// `{...}` in `path` filled with sample values.
fn fill(path: &str, op: &Value) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(&sample(path, op, &rest[start + 1..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `route="..."` and `method="..."` of every `coupan_http_requests_total` series that was
/// not a 405.
fn matched_routes(metrics: &str) -> BTreeSet<(String, String)> {
    let label = |line: &str, name: &str| {
        let key = format!("{name}=\"");
        let start = line.find(&key)? + key.len();
        let end = line[start..].find('"')? + start;
        Some(line[start..end].to_string())
    };
    metrics
        .lines()
        .filter(|l| l.starts_with("coupan_http_requests_total{"))
        .filter(|l| label(l, "status").as_deref() != Some("405"))
        .filter_map(|l| Some((label(l, "method")?, label(l, "route")?)))
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn every_api_route_is_documented_and_every_documented_route_is_served(pool: PgPool) {
    // What the application routes, as `main` builds it.
    let config = test_config();
    let app_pool = runtime_pool(&pool, &config).await;
    let application = server::startup::Application::build_with_pool(
        config,
        server::metrics::Metrics::detached(),
        app_pool,
    )
    .await
    .expect("the application builds");
    let all_paths = routed_paths(application.router());
    drop(application);
    for known in ["/api/v1/coupons", "/api/v1/coupons/{id}/images", "/healthz"] {
        assert!(
            all_paths.contains(known),
            "{known} not found in the router's Debug output: {all_paths:?}"
        );
    }
    // The API's own fallback for unknown paths under /api/v1 (a catch-all) is no route.
    let served: BTreeSet<String> = all_paths
        .into_iter()
        .filter(|p| p.starts_with("/api/") && !p.contains("{*"))
        .filter(|p| p != "/api/v1")
        .collect();

    let app = TestApp::spawn(pool).await;
    let doc = document(&app).await;
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item.as_object().unwrap().keys().cloned().collect();
            (path.clone(), methods)
        })
        .collect();
    let documented_paths: BTreeSet<String> = documented.keys().cloned().collect();
    assert_eq!(
        served.difference(&documented_paths).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "served under /api/ but not in the OpenAPI document"
    );
    assert_eq!(
        documented_paths.difference(&served).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the OpenAPI document but not served"
    );

    // Every method of every path, anonymous: each answers without reaching a handler's
    // work (401, 400, 404...), and the routing decides between 405 and the route.
    for (path, methods) in &documented {
        let item = &doc["paths"][path];
        let any_op = item.as_object().unwrap().values().next().unwrap();
        for method in METHODS {
            let op = item.get(method).unwrap_or(any_op);
            let url = app.url(&fill(path, op));
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = app.client.request(m, &url);
            if method != "get" && method != "delete" {
                req = req.json(&json!({}));
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            if methods.contains(method) {
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented but not routed"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is routed ({status}) but not documented"
                );
            }
        }
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reached = matched_routes(&metrics);
    for (path, methods) in &documented {
        for method in methods {
            let key = (method.to_uppercase(), path.clone());
            assert!(
                reached.contains(&key),
                "{method} {path}: no request reached a route with that pattern \
                 (the path in the annotation differs from the router's?)"
            );
        }
    }
}
