//! Settings, all from environment variables, checked once at start with one clear message
//! per bad value. The run and test scripts set `DATABASE_URL` and `JWT_SECRET` for the
//! embedded database; a deployment sets them itself.

use std::net::SocketAddr;

/// Every environment variable the server reads. The deployment manifests are checked
/// against this list (`server/tests/api/deploy.rs`), and a unit test below checks that
/// the list and the code agree.
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "JWT_SECRET",
    "LEPTOS_SITE_ADDR",
    "COUPAN_DB_MAX_CONNECTIONS",
    "COUPAN_DEMO_DATA",
    "COUPAN_SECURE_COOKIES",
    "COUPAN_LOG_FORMAT",
    "COUPAN_PAYMENT_URL",
    "COUPAN_PAYMENT_TIMEOUT_MS",
    "COUPAN_PAYMENT_WORKERS",
    "COUPAN_BREAKER_FAILURES",
    "COUPAN_BREAKER_OPEN_SECS",
    "COUPAN_PURCHASE_BATCH_MAX",
    "COUPAN_PURCHASE_MAX_WAITING",
    "COUPAN_RATE_AUTH_PER_MIN",
    "COUPAN_RATE_PURCHASE_PER_MIN",
    "COUPAN_TRUSTED_PROXIES",
    "COUPAN_SHUTDOWN_TIMEOUT_SECS",
    // Read by leptos itself (site files) and by tracing (log filter).
    "LEPTOS_OUTPUT_NAME",
    "LEPTOS_SITE_ROOT",
    "LEPTOS_SITE_PKG_DIR",
    "LEPTOS_ENV",
    "RUST_LOG",
];

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub jwt_secret: String,
    /// Where to listen; `LEPTOS_SITE_ADDR` (cargo-leptos' name), default 127.0.0.1:3000.
    pub site_addr: SocketAddr,
    pub db_max_connections: u32,
    /// Load the demo shops and customer into an empty database.
    pub demo_data: bool,
    /// Mark session cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    pub log_json: bool,
    /// Base URL of the payment gateway (`COUPAN_PAYMENT_URL`).
    pub payment_url: String,
    pub payment_timeout: std::time::Duration,
    /// Payment worker loops in this process (0 = none).
    pub payment_workers: usize,
    pub breaker_failures: u32,
    pub breaker_open: std::time::Duration,
    /// Purchase batches and load shedding (`COUPAN_PURCHASE_BATCH_MAX`,
    /// `COUPAN_PURCHASE_MAX_WAITING`).
    pub admission: app::orders::admission::AdmissionSettings,
    /// Rate limits per client IP (auth) and per customer (purchases), and the proxies
    /// whose `X-Forwarded-For` is believed.
    pub limits: app::limits::LimitSettings,
    /// The whole shutdown (draining requests, stopping workers) ends within this.
    pub shutdown_timeout: std::time::Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("site_addr", &self.site_addr)
            .field("db_max_connections", &self.db_max_connections)
            .field("demo_data", &self.demo_data)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn flag(name: &str, default: bool, errors: &mut Vec<String>) -> bool {
    match var(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => default,
        Some("1" | "true" | "yes" | "on") => true,
        Some("0" | "false" | "no" | "off") => false,
        Some(other) => {
            errors.push(format!(
                "{name}={other:?} is not a boolean (use true or false)"
            ));
            default
        }
    }
}

fn number(name: &str, default: u64, min: u64, max: u64, errors: &mut Vec<String>) -> u64 {
    match var(name).map(|v| v.parse::<u64>()) {
        None => default,
        Some(Ok(n)) if (min..=max).contains(&n) => n,
        Some(_) => {
            errors.push(format!("{name} must be a whole number from {min} to {max}"));
            default
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let mut errors = Vec::new();
        let database_url = var("DATABASE_URL").unwrap_or_else(|| {
            errors.push(
                "DATABASE_URL is not set: start the app with ./scripts/run.sh (it runs an embedded PostgreSQL), \
                 or set DATABASE_URL=postgres://user:password@host:port/database"
                    .into(),
            );
            String::new()
        });
        if !database_url.is_empty()
            && !database_url.starts_with("postgres://")
            && !database_url.starts_with("postgresql://")
        {
            errors.push("DATABASE_URL must start with postgres:// or postgresql://".into());
        }
        let jwt_secret = var("JWT_SECRET").unwrap_or_default();
        if jwt_secret.len() < 32 {
            errors.push("JWT_SECRET must be set to at least 32 random characters".into());
        }
        let site_addr = var("LEPTOS_SITE_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let site_addr = site_addr.parse().unwrap_or_else(|_| {
            errors.push(format!(
                "LEPTOS_SITE_ADDR={site_addr:?} is not an address like 127.0.0.1:3000"
            ));
            SocketAddr::from(([127, 0, 0, 1], 3000))
        });
        let db_max_connections = match var("COUPAN_DB_MAX_CONNECTIONS").map(|v| v.parse::<u32>()) {
            None => 20,
            Some(Ok(n)) if (1..=1000).contains(&n) => n,
            Some(_) => {
                errors
                    .push("COUPAN_DB_MAX_CONNECTIONS must be a whole number from 1 to 1000".into());
                20
            }
        };
        let demo_data = flag("COUPAN_DEMO_DATA", false, &mut errors);
        let secure_cookies = flag("COUPAN_SECURE_COOKIES", false, &mut errors);
        let log_json = var("COUPAN_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
        let payment_url =
            var("COUPAN_PAYMENT_URL").unwrap_or_else(|| "http://127.0.0.1:3002".into());
        if !payment_url.starts_with("http://") && !payment_url.starts_with("https://") {
            errors.push(format!(
                "COUPAN_PAYMENT_URL={payment_url:?} must start with http:// or https://"
            ));
        }
        let payment_timeout = std::time::Duration::from_millis(number(
            "COUPAN_PAYMENT_TIMEOUT_MS",
            5000,
            100,
            120_000,
            &mut errors,
        ));
        let payment_workers = number("COUPAN_PAYMENT_WORKERS", 4, 0, 64, &mut errors) as usize;
        let breaker_failures = number("COUPAN_BREAKER_FAILURES", 5, 1, 1000, &mut errors) as u32;
        let breaker_open = std::time::Duration::from_secs(number(
            "COUPAN_BREAKER_OPEN_SECS",
            10,
            1,
            3600,
            &mut errors,
        ));
        let admission = app::orders::admission::AdmissionSettings {
            batch_max: number("COUPAN_PURCHASE_BATCH_MAX", 128, 1, 10_000, &mut errors) as usize,
            max_waiting: number(
                "COUPAN_PURCHASE_MAX_WAITING",
                1024,
                1,
                1_000_000,
                &mut errors,
            ) as usize,
        };
        let limits = app::limits::LimitSettings {
            auth_per_min: number("COUPAN_RATE_AUTH_PER_MIN", 20, 1, 1_000_000, &mut errors) as u32,
            purchase_per_min: number(
                "COUPAN_RATE_PURCHASE_PER_MIN",
                60,
                1,
                1_000_000,
                &mut errors,
            ) as u32,
            trusted_proxies: app::limits::TrustedProxies::parse(
                &var("COUPAN_TRUSTED_PROXIES").unwrap_or_default(),
            )
            .unwrap_or_else(|e| {
                errors.push(format!(
                    "COUPAN_TRUSTED_PROXIES: {e} (use a comma-separated list like 127.0.0.1,10.0.0.0/8)"
                ));
                Default::default()
            }),
        };
        let shutdown_timeout = std::time::Duration::from_secs(number(
            "COUPAN_SHUTDOWN_TIMEOUT_SECS",
            20,
            1,
            3600,
            &mut errors,
        ));
        if errors.is_empty() {
            Ok(Config {
                database_url,
                jwt_secret,
                site_addr,
                db_max_connections,
                demo_data,
                secure_cookies,
                log_json,
                payment_url,
                payment_timeout,
                payment_workers,
                breaker_failures,
                breaker_open,
                admission,
                limits,
                shutdown_timeout,
            })
        } else {
            Err(errors.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    /// Each name this file reads with `var(...)`, `flag(...)` or `number(...)` is listed in
    /// `ENV_VARS`.
    #[test]
    fn every_variable_read_is_listed() {
        let source = include_str!("config.rs");
        let mut found = 0;
        for part in source.split('"').skip(1).step_by(2) {
            let looks_like_var = part.len() > 3
                && part.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && part.contains('_')
                && !part.starts_with('_')
                && !part.ends_with('_')
                && (part.starts_with("COUPAN_")
                    || part.starts_with("LEPTOS_")
                    || part.contains("_URL")
                    || part.contains("SECRET"));
            if looks_like_var {
                found += 1;
                assert!(
                    super::ENV_VARS.contains(&part),
                    "{part} is read but not in ENV_VARS"
                );
            }
        }
        assert!(found >= 12, "only {found} variable names found");
    }
}
