//! The whole HTTP contract, answer by answer: a fixed script of requests (successes,
//! replays, every kind of refusal, lookups, the mode, the ledger) and the status, content
//! type, replay header and body of each answer, compared with `contract.golden`, which the
//! gateway wrote before it was split into modules and moved to serde bodies. Payment keys
//! and timestamps are replaced by `KEYn` and `TS`. Set `UPDATE_GOLDEN=1` to rewrite the
//! file after a deliberate change of the contract (and review its diff).
//!
//! The gateway runs with its admin routes and every request carries the secret key, except
//! the lines that say otherwise (the secret key was added to the contract later: those
//! lines come first, so that the lines after them kept their golden text).

use paygate::{Access, Gateway, basic_authorization, router};

const SECRET_KEY: &str = "test_sk_contract";

/// `[!AUTH] METHOD PATH IDEMPOTENCY-KEY [BODY]`: key `-` sends none, `_` sends a blank one;
/// `KEYn` in a path is the n-th payment key seen. `!AUTH` changes the `Authorization`
/// header: `!none` (no header), `!other` (another key), `!nocolon` (the key without the
/// colon), `!bearer` (the key as a bearer token).
const SCRIPT: &str = r#"
!none POST /v1/payments/confirm a1 {"orderId":"o-1","amount":5000}
!other POST /v1/payments/confirm a1 {"orderId":"o-1","amount":5000}
!nocolon POST /v1/payments/confirm a1 {"orderId":"o-1","amount":5000}
!bearer POST /v1/payments/confirm a1 {"orderId":"o-1","amount":5000}
!none GET /v1/payments/orders/o-1 -
!none GET /v1/ledger -
!none POST /admin/mode - {"decline_all":true}
!none GET /healthz -
POST /v1/payments/confirm k1 {"orderId":"o-1","amount":5000,"orderName":"n","customerKey":"c"}
POST /v1/payments/confirm k1 { "amount": 5000, "orderId": "o-1","customerKey":"c","orderName":"n" }
POST /v1/payments/confirm k1 {"orderId":"o-1","amount":5001}
POST /v1/payments/confirm k2 {"orderId":"o-1","amount":1}
POST /v1/payments/confirm - {"orderId":"o-1","amount":1}
POST /v1/payments/confirm _ {"orderId":"o-1","amount":1}
POST /v1/payments/confirm b1 {"orderId":"o-1","amount":0}
POST /v1/payments/confirm b2 {"orderId":"o-1","amount":-5}
POST /v1/payments/confirm b3 {"orderId":"o-1","amount":10.5}
POST /v1/payments/confirm b4 {"orderId":"o-1","amount":"1000"}
POST /v1/payments/confirm b5 {"orderId":"o-1"}
POST /v1/payments/confirm b6 {"amount":1000}
POST /v1/payments/confirm b7 {"orderId":"","amount":1000}
POST /v1/payments/confirm b8 {"orderId":7,"amount":1000}
POST /v1/payments/confirm b9 [1,2]
POST /v1/payments/confirm b10 not json
POST /v1/payments/confirm b11 {"orderId":"o-1","amount":1,"orderName":5}
POST /v1/payments/confirm b12 {"orderId":"o-1","amount":null}
POST /v1/payments/confirm b13 {"orderId":null,"amount":1}
POST /v1/payments/confirm b14 {"orderId":"o-9","amount":10.0}
POST /v1/payments/confirm b15 ["o-9",5]
POST /v1/payments/KEY0/cancel c1 {"cancelReason":"x"}
POST /v1/payments/KEY0/cancel c1 {"cancelReason":"x"}
POST /v1/payments/KEY0/cancel c2 {"cancelReason":"x"}
POST /v1/payments/KEY0/cancel c3 {}
POST /v1/payments/pay_nope/cancel c4 {"cancelReason":"x"}
POST /v1/payments/pay_nope/cancel c5 {"cancelReason":" "}
POST /v1/payments/confirm k9 {"orderId":"o-1","amount":5000}
GET /v1/payments/orders/o-1 -
GET /v1/payments/orders/o-2 -
GET /v1/payments/KEY0 -
GET /v1/payments/pay_nope -
GET /admin/mode -
POST /admin/mode - {"decline_order_prefix":"bad-","latency_ms":1}
POST /admin/mode - {"failure_rate":1.5}
POST /admin/mode - {"typo":1}
POST /admin/mode - {"latency_ms":-1}
POST /v1/payments/confirm d1 {"orderId":"bad-1","amount":10}
GET /v1/payments/orders/bad-1 -
POST /v1/payments/KEY1/cancel d2 {"cancelReason":"x"}
POST /admin/mode - {"decline_order_prefix":null,"latency_ms":0}
POST /v1/payments/confirm d3 {"orderId":"bad-1","amount":10}
POST /v1/payments/confirm d1 {"orderId":"bad-1","amount":10}
GET /v1/ledger -
GET /healthz -
POST /v1/payments/confirm p1 {"orderId":"o-3","amount":900}
POST /v1/payments/KEY3/cancel p2 {"cancelReason":"x","cancelAmount":300}
POST /v1/payments/KEY3/cancel p2 {"cancelReason":"x","cancelAmount":300}
POST /v1/payments/KEY3/cancel p3 {"cancelReason":"x","cancelAmount":601}
POST /v1/payments/KEY3/cancel p4 {"cancelReason":"x","cancelAmount":0}
POST /v1/payments/KEY3/cancel p5 {"cancelReason":"x","cancelAmount":"5"}
GET /v1/payments/orders/o-3 -
POST /v1/payments/KEY3/cancel p6 {"cancelReason":"x"}
POST /v1/payments/KEY3/cancel p7 {"cancelReason":"x","cancelAmount":1}
"#;

#[tokio::test]
async fn every_answer_is_as_before() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let access = Access::new(SECRET_KEY).with_admin_routes();
        axum::serve(listener, router(Gateway::in_memory(), access))
            .await
            .unwrap()
    });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut keys: Vec<String> = Vec::new();
    let mut log = String::new();
    for line in SCRIPT.lines().filter(|l| !l.is_empty()) {
        let (auth, line) = match line.strip_prefix('!') {
            Some(rest) => rest.split_once(' ').map(|(a, l)| (Some(a), l)).unwrap(),
            None => (None, line),
        };
        let mut parts = line.splitn(4, ' ');
        let (method, path, key) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let body = parts.next().unwrap_or_default().to_string();
        let real_path = unmask(path, &keys);
        let url = format!("http://{addr}{real_path}");
        let mut req = match method {
            "GET" => client.get(url),
            _ => client
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        };
        let authorization = match auth {
            None => Some(basic_authorization(SECRET_KEY)),
            Some("none") => None,
            Some("other") => Some(basic_authorization("test_sk_other")),
            // base64("test_sk_contract")
            Some("nocolon") => Some("Basic dGVzdF9za19jb250cmFjdA==".to_string()),
            Some("bearer") => Some(format!("Bearer {SECRET_KEY}")),
            Some(other) => panic!("unknown !{other}"),
        };
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        match key {
            "-" => {}
            "_" => req = req.header("Idempotency-Key", " "),
            key => req = req.header("Idempotency-Key", key),
        }
        let res = req.send().await.unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let (content_type, replayed) = (header("content-type"), header("idempotent-replayed"));
        let status = res.status();
        let text = res.text().await.unwrap();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(k) = v["paymentKey"].as_str()
            && !keys.iter().any(|seen| seen == k)
        {
            keys.push(k.to_string());
        }
        let auth = auth.map(|a| format!("auth={a} ")).unwrap_or_default();
        log.push_str(&format!(
            "{auth}{method} {path} key={key:?} -> {status} {content_type:?} replayed={replayed:?}\n  {}\n",
            timestamps_out(&mask(&text, &keys)),
            key = (key != "-").then(|| if key == "_" { " " } else { key }),
        ));
    }

    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract.golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &log).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    for (i, (want, got)) in expected.lines().zip(log.lines()).enumerate() {
        assert_eq!(got, want, "line {} of contract.golden", i + 1);
    }
    assert_eq!(log.lines().count(), expected.lines().count());
}

/// `KEYn` → the n-th payment key.
fn unmask(text: &str, keys: &[String]) -> String {
    keys.iter().enumerate().fold(text.to_string(), |t, (i, k)| {
        t.replace(&format!("KEY{i}"), k)
    })
}

/// The n-th payment key → `KEYn`.
fn mask(text: &str, keys: &[String]) -> String {
    keys.iter().enumerate().fold(text.to_string(), |t, (i, k)| {
        t.replace(k, &format!("KEY{i}"))
    })
}

/// Replaces RFC 3339 timestamps (inside JSON strings) with `TS`.
fn timestamps_out(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if i + 20 <= b.len() && b[i].is_ascii_digit() && b[i + 4] == b'-' && b[i + 10] == b'T' {
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            out.push_str("TS");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}
