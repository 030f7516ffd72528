//! Settings, from environment variables and optionally a file, checked once at start with
//! one clear message per bad value. The run and test scripts set `DATABASE_URL` (the app's
//! role), `COUPAN_MIGRATE_DATABASE_URL` (the migrator), `JWT_SECRET` and
//! `COUPAN_PAYMENT_SECRET_KEY` for the embedded database and the stand-in gateway; a
//! deployment sets them itself. There is no development mode: the same rules hold
//! everywhere, and the scripts provide what they need.
//!
//! `COUPAN_CONFIG_FILE=/path` names a file of `KEY=VALUE` lines (`#` comments, blank
//! lines, optional quotes around a value) with the same names as the variables. A variable
//! set in the environment wins over the file; an unknown name or an unreadable file stops
//! the start with a message saying so.

use std::collections::HashMap;
use std::net::SocketAddr;

/// Every environment variable the server reads. The deployment manifests are checked
/// against this list (`server/tests/api/deploy.rs`), and a unit test below checks that
/// the list and the code agree.
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "COUPAN_MIGRATE_DATABASE_URL",
    "JWT_SECRET",
    "LEPTOS_SITE_ADDR",
    "COUPAN_METRICS_ADDR",
    "COUPAN_DB_MAX_CONNECTIONS",
    "COUPAN_DEMO_DATA",
    "COUPAN_SECURE_COOKIES",
    "COUPAN_PUBLIC_ORIGIN",
    "COUPAN_DB_STATEMENT_TIMEOUT_MS",
    "COUPAN_LOG_FORMAT",
    "COUPAN_PAYMENT_URL",
    "COUPAN_PAYMENT_SECRET_KEY",
    "COUPAN_PAYMENT_ALLOW_HTTP",
    "COUPAN_PAYMENT_TIMEOUT_MS",
    "COUPAN_PAYMENT_WORKERS",
    "COUPAN_PAYMENT_BATCH_MAX",
    "COUPAN_BREAKER_FAILURES",
    "COUPAN_BREAKER_OPEN_SECS",
    "COUPAN_PURCHASE_BATCH_MAX",
    "COUPAN_PURCHASE_MAX_WAITING",
    "COUPAN_RATE_AUTH_PER_MIN",
    "COUPAN_RATE_PURCHASE_PER_MIN",
    "COUPAN_TRUSTED_PROXIES",
    "COUPAN_SHUTDOWN_TIMEOUT_SECS",
    "COUPAN_PAYMENT_DEADLINE_SECS",
    "COUPAN_WAITLIST_HOLD_SECS",
    "COUPAN_CONFIG_FILE",
    "COUPAN_DATA_DIR",
    "COUPAN_IMAGE_STORE",
    // Passed to the S3 client of an `s3://` COUPAN_IMAGE_STORE (app::images::store::AWS_VARS).
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    // Read by leptos itself (site files) and by tracing (log filter).
    "LEPTOS_OUTPUT_NAME",
    "LEPTOS_SITE_ROOT",
    "LEPTOS_SITE_PKG_DIR",
    "LEPTOS_ENV",
    "RUST_LOG",
];

/// Where the server listens when `LEPTOS_SITE_ADDR` is not set.
const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
/// Where `/metrics` is served when `COUPAN_METRICS_ADDR` is not set: loopback only.
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9100";
/// The shortest payment secret key accepted (Toss Payments' keys are about 36 characters).
const MIN_PAYMENT_KEY_LEN: usize = 16;
/// The payment gateway when `COUPAN_PAYMENT_URL` is not set (what `run.sh` starts).
const DEFAULT_PAYMENT_URL: &str = "http://127.0.0.1:3002";
/// The data directory when `COUPAN_DATA_DIR` is not set (the scripts' default too, relative
/// to the checkout they run from); the server keeps pictures in its `images/` by default.
const DEFAULT_DATA_DIR: &str = ".data";

/// The server's settings. Each default is written once: in `Config::from_lookup` for the
/// settings only the configuration knows, in `AdmissionSettings::default` and
/// `WorkerSettings::default` for those of the purchase queue and the payment worker,
/// which `from_lookup` reads. The README's table is checked against them (a test below).
#[derive(Clone)]
pub struct Config {
    /// The database as the app uses it: a role with the app's privileges only (see db.rs).
    pub database_url: String,
    /// The database as the owner of the schema (`COUPAN_MIGRATE_DATABASE_URL`): when set,
    /// the migrations are applied with it at start; the app never uses it otherwise.
    pub migrate_database_url: Option<String>,
    pub jwt_secret: String,
    /// Where to listen; `LEPTOS_SITE_ADDR` (cargo-leptos' name), default `DEFAULT_SITE_ADDR`.
    pub site_addr: SocketAddr,
    /// Where `/metrics` is served (`COUPAN_METRICS_ADDR`), never on `site_addr`; `None`
    /// (`off`): not at all.
    pub metrics_addr: Option<SocketAddr>,
    pub db_max_connections: u32,
    /// Load the demo shops and customer into an empty database.
    pub demo_data: bool,
    /// Behind HTTPS: cookies `__Host-`-prefixed and `Secure`, and HSTS on every answer.
    pub secure_cookies: bool,
    /// The origin browsers reach the site at (`COUPAN_PUBLIC_ORIGIN`, normalised like a
    /// browser's `Origin` header); `None`: derived from the listening address, see
    /// [`Config::allowed_origins`].
    pub public_origin: Option<String>,
    /// Longest any one statement of the app's pool may run (`statement_timeout`).
    pub statement_timeout: std::time::Duration,
    pub log_json: bool,
    /// Base URL of the payment gateway (`COUPAN_PAYMENT_URL`).
    pub payment_url: String,
    /// The secret key the gateway knows the app by (`COUPAN_PAYMENT_SECRET_KEY`), sent as
    /// `Authorization: Basic base64(key + ":")`.
    pub payment_secret_key: String,
    /// An `http://` payment URL is accepted (`COUPAN_PAYMENT_ALLOW_HTTP`): the local
    /// stand-in gateway only.
    pub payment_allow_http: bool,
    pub payment_timeout: std::time::Duration,
    /// Payment worker loops in this process (0 = none).
    pub payment_workers: usize,
    /// Most payment jobs one worker loop claims and settles in one transaction.
    pub payment_batch_max: usize,
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
    /// An order not paid this long after it was placed expires.
    pub payment_deadline: std::time::Duration,
    /// How long units that come back are held for the waitlist.
    pub waitlist: app::waitlist::WaitlistSettings,
    /// Where coupon pictures are kept: `COUPAN_IMAGE_STORE`, by default `images/` in
    /// `COUPAN_DATA_DIR` (`.data`, as the scripts use).
    pub images: app::images::store::ImageStore,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("site_addr", &self.site_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("db_max_connections", &self.db_max_connections)
            .field("demo_data", &self.demo_data)
            .field("secure_cookies", &self.secure_cookies)
            .field("images", &self.images)
            .field("public_origin", &self.public_origin)
            .finish_non_exhaustive()
    }
}

/// Names in `ENV_VARS` that libraries read from the process environment themselves: a
/// value for them in the configuration file is exported before the runtime starts.
pub const READ_BY_LIBRARIES: &[&str] = &[
    "LEPTOS_OUTPUT_NAME",
    "LEPTOS_SITE_ROOT",
    "LEPTOS_SITE_PKG_DIR",
    "LEPTOS_ENV",
    "RUST_LOG",
];

/// The settings and what the file sets for libraries (`READ_BY_LIBRARIES`, not in the
/// environment), for `main` to export.
pub struct Loaded {
    pub config: Config,
    pub exports: Vec<(String, String)>,
}

/// Parses a configuration file: one message per bad line.
pub fn parse_file(text: &str) -> Result<HashMap<String, String>, Vec<String>> {
    let mut values = HashMap::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            errors.push(format!("line {n}: expected KEY=VALUE"));
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
            .unwrap_or(value);
        if !ENV_VARS.contains(&key) || key == "COUPAN_CONFIG_FILE" {
            errors.push(format!("line {n}: unknown setting {key:?}"));
        } else if values.insert(key.to_string(), value.to_string()).is_some() {
            errors.push(format!("line {n}: {key} is set twice"));
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// `scheme://host[:port]` as browsers send it in `Origin`: lower case, no default port,
/// no path (a trailing `/` is dropped); `http` or `https` only.
pub fn parse_origin(value: &str) -> Result<String, String> {
    let v = value.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = v
        .split_once("://")
        .ok_or_else(|| format!("{value:?} is not an origin like https://coupan.example.com"))?;
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return Err(format!("{value:?} must start with http:// or https://")),
    };
    let host = rest.strip_suffix(default_port).unwrap_or(rest);
    let plain = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
    if host.is_empty() || !host.chars().all(plain) {
        return Err(format!(
            "{value:?} must be only a scheme and a host (and port), like https://coupan.example.com"
        ));
    }
    Ok(format!("{scheme}://{host}"))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.trim().is_empty())
}

/// Reads the environment and the file it names (if any) and checks every setting.
pub fn load() -> Result<Loaded, String> {
    load_with(&|name: &str| std::env::var(name).ok(), &|path: &str| {
        std::fs::read_to_string(path)
    })
}

/// The values of the configuration file `COUPAN_CONFIG_FILE` names (none without one).
fn file_values(
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<HashMap<String, String>, String> {
    let Some(path) = non_empty(env("COUPAN_CONFIG_FILE")) else {
        return Ok(HashMap::new());
    };
    let text =
        read(&path).map_err(|e| format!("COUPAN_CONFIG_FILE={path:?} cannot be read: {e}"))?;
    parse_file(&text).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("COUPAN_CONFIG_FILE={path:?}, {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// `load` over any environment and file reader (tests).
pub fn load_with(
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Loaded, String> {
    let file = file_values(env, read)?;
    let lookup = |name: &str| non_empty(env(name)).or_else(|| non_empty(file.get(name).cloned()));
    let config = Config::from_lookup(&lookup)?;
    let exports = READ_BY_LIBRARIES
        .iter()
        .filter(|name| non_empty(env(name)).is_none())
        .filter_map(|name| Some((name.to_string(), non_empty(file.get(*name).cloned())?)))
        .collect();
    Ok(Loaded { config, exports })
}

/// The one setting of `server migrate`: `COUPAN_MIGRATE_DATABASE_URL`, from the
/// environment or the configuration file (nothing else is needed or checked).
pub fn load_migrate_url() -> Result<String, String> {
    load_migrate_url_with(&|name: &str| std::env::var(name).ok(), &|path: &str| {
        std::fs::read_to_string(path)
    })
}

/// `load_migrate_url` over any environment and file reader (tests).
pub fn load_migrate_url_with(
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<String, String> {
    const NAME: &str = "COUPAN_MIGRATE_DATABASE_URL";
    let file = file_values(env, read)?;
    let url = non_empty(env(NAME))
        .or_else(|| non_empty(file.get(NAME).cloned()))
        .ok_or_else(|| {
            format!(
                "{NAME} is not set: `server migrate` applies the migrations as the owner of the \
                 schema, postgres://owner:password@host:port/database"
            )
        })?;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(format!(
            "{NAME} must start with postgres:// or postgresql://"
        ));
    }
    Ok(url)
}

fn parse_flag(name: &str, value: Option<String>, default: bool, errors: &mut Vec<String>) -> bool {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
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

fn parse_number(
    name: &str,
    value: Option<String>,
    default: u64,
    min: u64,
    max: u64,
    errors: &mut Vec<String>,
) -> u64 {
    match value.map(|v| v.trim().parse::<u64>()) {
        None => default,
        Some(Ok(n)) if (min..=max).contains(&n) => n,
        Some(_) => {
            errors.push(format!("{name} must be a whole number from {min} to {max}"));
            default
        }
    }
}

impl Config {
    /// The origins whose requests may change things on behalf of a browser session (and
    /// log in or sign up): `COUPAN_PUBLIC_ORIGIN` when set, else derived for a local run
    /// from `bound`, the address the server listens on: `http://` + that address, plus
    /// `http://localhost:PORT` and `http://127.0.0.1:PORT` when it is a loopback or
    /// unspecified (`0.0.0.0`) address.
    pub fn allowed_origins(&self, bound: SocketAddr) -> Vec<String> {
        if let Some(o) = &self.public_origin {
            return vec![o.clone()];
        }
        let port = bound.port();
        let mut origins = Vec::new();
        if !bound.ip().is_unspecified() {
            origins.push(format!("http://{bound}"));
        }
        if bound.ip().is_loopback() || bound.ip().is_unspecified() {
            for local in [
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
            ] {
                if !origins.contains(&local) {
                    origins.push(local);
                }
            }
        }
        origins
    }

    /// How the payment worker reaches the gateway.
    pub fn gateway_settings(&self) -> crate::payment::GatewaySettings {
        crate::payment::GatewaySettings {
            url: self.payment_url.clone(),
            secret_key: self.payment_secret_key.clone(),
            timeout: self.payment_timeout,
            allow_http: self.payment_allow_http,
        }
    }

    /// The settings from the environment and `COUPAN_CONFIG_FILE` (see `load`).
    pub fn from_env() -> Result<Config, String> {
        load().map(|l| l.config)
    }

    /// The settings from `lookup` (a name to its value), with one message per bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let var = |name: &str| non_empty(lookup(name));
        let flag = |name: &str, default: bool, errors: &mut Vec<String>| {
            parse_flag(name, var(name), default, errors)
        };
        let number = |name: &str, default: u64, min: u64, max: u64, errors: &mut Vec<String>| {
            parse_number(name, var(name), default, min, max, errors)
        };
        let mut errors = Vec::new();
        let database_url = var("DATABASE_URL").unwrap_or_else(|| {
            errors.push(
                "DATABASE_URL is not set: start the app with ./scripts/run.sh (it runs an embedded PostgreSQL), \
                 or set DATABASE_URL=postgres://user:password@host:port/database"
                    .into(),
            );
            String::new()
        });
        let is_postgres_url =
            |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !database_url.is_empty() && !is_postgres_url(&database_url) {
            errors.push("DATABASE_URL must start with postgres:// or postgresql://".into());
        }
        let migrate_database_url = var("COUPAN_MIGRATE_DATABASE_URL");
        if migrate_database_url
            .as_deref()
            .is_some_and(|url| !is_postgres_url(url))
        {
            errors.push(
                "COUPAN_MIGRATE_DATABASE_URL must start with postgres:// or postgresql://".into(),
            );
        }
        let jwt_secret = var("JWT_SECRET").unwrap_or_default();
        if jwt_secret.len() < 32 {
            errors.push("JWT_SECRET must be set to at least 32 random characters".into());
        }
        let site_addr = var("LEPTOS_SITE_ADDR").unwrap_or_else(|| DEFAULT_SITE_ADDR.into());
        let site_addr = site_addr.parse().unwrap_or_else(|_| {
            errors.push(format!(
                "LEPTOS_SITE_ADDR={site_addr:?} is not an address like {DEFAULT_SITE_ADDR}"
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let metrics_addr = match var("COUPAN_METRICS_ADDR") {
            Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
            v => {
                let v = v.unwrap_or_else(|| DEFAULT_METRICS_ADDR.into());
                match v.trim().parse::<SocketAddr>() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        errors.push(format!(
                            "COUPAN_METRICS_ADDR={v:?} is not an address like {DEFAULT_METRICS_ADDR} (or off)"
                        ));
                        None
                    }
                }
            }
        };
        if metrics_addr.is_some_and(|m| m == site_addr && m.port() != 0) {
            errors.push(format!(
                "COUPAN_METRICS_ADDR must differ from LEPTOS_SITE_ADDR ({site_addr}): /metrics is not served to the public"
            ));
        }
        let db_max_connections =
            number("COUPAN_DB_MAX_CONNECTIONS", 20, 1, 1000, &mut errors) as u32;
        let demo_data = flag("COUPAN_DEMO_DATA", false, &mut errors);
        let secure_cookies = flag("COUPAN_SECURE_COOKIES", false, &mut errors);
        let public_origin = var("COUPAN_PUBLIC_ORIGIN").and_then(|v| {
            parse_origin(&v)
                .map_err(|e| errors.push(format!("COUPAN_PUBLIC_ORIGIN: {e}")))
                .ok()
        });
        match (&public_origin, secure_cookies) {
            (None, true) => errors.push(
                "COUPAN_PUBLIC_ORIGIN must be set with COUPAN_SECURE_COOKIES=true: the https:// \
                 address browsers use (forms from any other origin are refused)"
                    .into(),
            ),
            (Some(o), true) if !o.starts_with("https://") => errors.push(format!(
                "COUPAN_PUBLIC_ORIGIN={o:?} must be https:// with COUPAN_SECURE_COOKIES=true"
            )),
            _ => {}
        }
        let statement_timeout = std::time::Duration::from_millis(number(
            "COUPAN_DB_STATEMENT_TIMEOUT_MS",
            5000,
            100,
            600_000,
            &mut errors,
        ));
        let log_json = var("COUPAN_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
        let payment_url = var("COUPAN_PAYMENT_URL").unwrap_or_else(|| DEFAULT_PAYMENT_URL.into());
        let payment_allow_http = flag("COUPAN_PAYMENT_ALLOW_HTTP", false, &mut errors);
        match reqwest::Url::parse(&payment_url) {
            Ok(url) if url.scheme() == "https" && url.has_host() => {}
            Ok(url) if url.scheme() == "http" && url.has_host() => {
                if !payment_allow_http {
                    errors.push(format!(
                        "COUPAN_PAYMENT_URL={payment_url:?} is plain http: the secret key and the \
                         payments would cross the network unencrypted. Use https://, or set \
                         COUPAN_PAYMENT_ALLOW_HTTP=true for a local stand-in gateway"
                    ));
                }
            }
            _ => errors.push(format!(
                "COUPAN_PAYMENT_URL={payment_url:?} must be an https:// (or http://) URL"
            )),
        }
        let payment_secret_key = var("COUPAN_PAYMENT_SECRET_KEY").unwrap_or_default();
        if payment_secret_key.trim().len() < MIN_PAYMENT_KEY_LEN {
            errors.push(format!(
                "COUPAN_PAYMENT_SECRET_KEY must be set to the payment gateway's secret key \
                 (at least {MIN_PAYMENT_KEY_LEN} characters; ./scripts/run.sh makes one for \
                 its stand-in gateway)"
            ));
        }
        let payment_timeout = std::time::Duration::from_millis(number(
            "COUPAN_PAYMENT_TIMEOUT_MS",
            5000,
            100,
            120_000,
            &mut errors,
        ));
        // The worker's and the admission's own defaults are theirs: read, not repeated.
        let worker = crate::payment::worker::WorkerSettings::default();
        let payment_workers = number(
            "COUPAN_PAYMENT_WORKERS",
            worker.tasks as u64,
            0,
            64,
            &mut errors,
        ) as usize;
        let payment_batch_max = number(
            "COUPAN_PAYMENT_BATCH_MAX",
            worker.batch_max as u64,
            1,
            10_000,
            &mut errors,
        ) as usize;
        let breaker_failures = number("COUPAN_BREAKER_FAILURES", 5, 1, 1000, &mut errors) as u32;
        let breaker_open = std::time::Duration::from_secs(number(
            "COUPAN_BREAKER_OPEN_SECS",
            10,
            1,
            3600,
            &mut errors,
        ));
        let admission_defaults = app::orders::admission::AdmissionSettings::default();
        let admission = app::orders::admission::AdmissionSettings {
            batch_max: number(
                "COUPAN_PURCHASE_BATCH_MAX",
                admission_defaults.batch_max as u64,
                1,
                10_000,
                &mut errors,
            ) as usize,
            max_waiting: number(
                "COUPAN_PURCHASE_MAX_WAITING",
                admission_defaults.max_waiting as u64,
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
        // Their defaults are the worker's and the waitlist's own.
        let payment_deadline = std::time::Duration::from_secs(number(
            "COUPAN_PAYMENT_DEADLINE_SECS",
            worker.payment_deadline.as_secs(),
            60,
            86_400,
            &mut errors,
        ));
        let waitlist = app::waitlist::WaitlistSettings {
            hold: std::time::Duration::from_secs(number(
                "COUPAN_WAITLIST_HOLD_SECS",
                app::waitlist::WaitlistSettings::default().hold.as_secs(),
                10,
                86_400,
                &mut errors,
            )),
        };
        let data_dir = var("COUPAN_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let aws: Vec<(String, String)> = app::images::store::AWS_VARS
            .iter()
            .filter_map(|name| Some((name.to_string(), var(name)?)))
            .collect();
        let images = app::images::store::ImageStore::from_setting(
            var("COUPAN_IMAGE_STORE").as_deref(),
            std::path::Path::new(&data_dir),
            &aws,
        )
        .map_err(|e| errors.push(format!("COUPAN_IMAGE_STORE: {e}")))
        .ok();
        if let (true, Some(images)) = (errors.is_empty(), images) {
            Ok(Config {
                database_url,
                migrate_database_url,
                jwt_secret,
                site_addr,
                metrics_addr,
                db_max_connections,
                demo_data,
                secure_cookies,
                public_origin,
                statement_timeout,
                log_json,
                payment_url,
                payment_secret_key,
                payment_allow_http,
                payment_timeout,
                payment_workers,
                payment_batch_max,
                breaker_failures,
                breaker_open,
                admission,
                limits,
                shutdown_timeout,
                payment_deadline,
                waitlist,
                images,
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

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const PAYMENT_KEY: &str = "test_sk_config_0123456789";

    /// What every configuration needs besides the database and the JWT secret.
    fn required(name: &str) -> Option<String> {
        match name {
            "JWT_SECRET" => Some(SECRET.into()),
            "COUPAN_PAYMENT_SECRET_KEY" => Some(PAYMENT_KEY.into()),
            "COUPAN_PAYMENT_URL" => Some("https://api.payments.example".into()),
            _ => None,
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn load_env_and_file(env: &[(&str, &str)], file: &str) -> Result<Loaded, String> {
        let file = file.to_string();
        let read = move |path: &str| {
            assert_eq!(path, "/etc/coupan.env");
            Ok(file.clone())
        };
        load_with(&env_of(env), &read)
    }

    #[test]
    fn the_file_fills_in_and_the_environment_wins() {
        let file = "# Coupan\n\n\
            DATABASE_URL=postgres://file@db/coupan\n\
            JWT_SECRET=\"0123456789abcdef0123456789abcdef\"\n  \
            COUPAN_RATE_AUTH_PER_MIN = 7\n\
            COUPAN_PAYMENT_WORKERS=2\n\
            COUPAN_SHUTDOWN_TIMEOUT_SECS='9'\n\
            COUPAN_PAYMENT_DEADLINE_SECS=120\n\
            COUPAN_WAITLIST_HOLD_SECS=30\n\
            COUPAN_TRUSTED_PROXIES=127.0.0.1, 10.0.0.0/8\n\
            RUST_LOG=debug\n\
            LEPTOS_SITE_ROOT=/srv/site\n";
        let loaded = load_env_and_file(
            &[
                ("COUPAN_CONFIG_FILE", "/etc/coupan.env"),
                ("COUPAN_PAYMENT_WORKERS", "3"),
                ("LEPTOS_SITE_ROOT", "/opt/site"),
                ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
                ("COUPAN_PAYMENT_URL", "https://api.payments.example"),
            ],
            file,
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.database_url, "postgres://file@db/coupan");
        assert_eq!(c.jwt_secret, SECRET);
        assert_eq!(c.limits.auth_per_min, 7);
        assert_eq!(c.limits.purchase_per_min, 60, "default");
        assert!(
            c.limits
                .trusted_proxies
                .contains("10.1.1.1".parse().unwrap())
        );
        assert_eq!(c.payment_workers, 3, "the environment wins");
        assert_eq!(c.shutdown_timeout, std::time::Duration::from_secs(9));
        assert_eq!(c.payment_deadline, std::time::Duration::from_secs(120));
        assert_eq!(c.waitlist.hold, std::time::Duration::from_secs(30));
        // Only what the environment does not already set is exported for the libraries.
        assert_eq!(
            loaded.exports,
            vec![("RUST_LOG".to_string(), "debug".to_string())]
        );
    }

    #[test]
    fn without_a_file_only_the_environment_counts() {
        let loaded = load_with(
            &env_of(&[
                ("DATABASE_URL", "postgres://u@h/d"),
                ("JWT_SECRET", SECRET),
                ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
                ("COUPAN_PAYMENT_URL", "https://api.payments.example"),
            ]),
            &|_: &str| panic!("no file to read"),
        )
        .unwrap();
        assert_eq!(loaded.config.limits.auth_per_min, 20);
        assert_eq!(
            loaded.config.payment_deadline,
            std::time::Duration::from_secs(900)
        );
        assert_eq!(
            loaded.config.waitlist.hold,
            std::time::Duration::from_secs(600)
        );
        assert_eq!(
            loaded.config.shutdown_timeout,
            std::time::Duration::from_secs(20)
        );
        assert!(loaded.config.limits.trusted_proxies.is_empty());
        assert!(loaded.exports.is_empty());
    }

    #[test]
    fn pictures_go_to_the_data_directory_unless_a_store_is_named() {
        let base = [
            ("DATABASE_URL", "postgres://u@h/d"),
            ("JWT_SECRET", SECRET),
            ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
            ("COUPAN_PAYMENT_URL", "https://api.payments.example"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(&env_of(&pairs))
        };
        let default = with(&[]).unwrap().images;
        let expected = std::path::absolute(".data/images").unwrap();
        assert_eq!(
            default.describe(),
            format!("directory {}", expected.display())
        );
        let data = with(&[("COUPAN_DATA_DIR", "/srv/coupan")]).unwrap().images;
        assert_eq!(data.describe(), "directory /srv/coupan/images");
        let s3 = with(&[
            ("COUPAN_IMAGE_STORE", "s3://pictures/coupan"),
            ("AWS_REGION", "ap-northeast-2"),
        ])
        .unwrap()
        .images;
        assert_eq!(s3.describe(), "s3://pictures/coupan");
        let err = with(&[("COUPAN_IMAGE_STORE", "ftp://files")])
            .err()
            .unwrap();
        assert!(err.starts_with("COUPAN_IMAGE_STORE: "), "{err}");
    }

    #[test]
    fn unknown_keys_bad_lines_and_unreadable_files_stop_the_start() {
        let err = load_env_and_file(
            &[("COUPAN_CONFIG_FILE", "/etc/coupan.env")],
            "FAVOURITE_COLOUR=blue\nJWT_SECRET\nCOUPAN_DEMO_DATA=true\nCOUPAN_DEMO_DATA=false\n",
        )
        .err()
        .unwrap();
        assert!(
            err.contains("line 1: unknown setting \"FAVOURITE_COLOUR\""),
            "{err}"
        );
        assert!(err.contains("line 2: expected KEY=VALUE"), "{err}");
        assert!(
            err.contains("line 4: COUPAN_DEMO_DATA is set twice"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 3, "{err}");

        let err = load_with(
            &env_of(&[("COUPAN_CONFIG_FILE", "/nowhere/coupan.env")]),
            &|path: &str| std::fs::read_to_string(path),
        )
        .err()
        .unwrap();
        assert!(
            err.starts_with("COUPAN_CONFIG_FILE=\"/nowhere/coupan.env\" cannot be read:"),
            "{err}"
        );
    }

    #[test]
    fn one_message_per_bad_value_from_either_source() {
        let err = load_env_and_file(
            &[
                ("COUPAN_CONFIG_FILE", "/etc/coupan.env"),
                ("COUPAN_RATE_PURCHASE_PER_MIN", "0"),
                ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
                ("COUPAN_PAYMENT_URL", "https://api.payments.example"),
            ],
            "DATABASE_URL=mysql://x\nJWT_SECRET=short\nCOUPAN_TRUSTED_PROXIES=10.0.0.0/99\n\
             COUPAN_SHUTDOWN_TIMEOUT_SECS=soon\nCOUPAN_DEMO_DATA=maybe\n\
             COUPAN_PAYMENT_DEADLINE_SECS=5\nCOUPAN_WAITLIST_HOLD_SECS=forever\n",
        )
        .err()
        .unwrap();
        for expected in [
            "DATABASE_URL must start with postgres://",
            "JWT_SECRET must be set to at least 32",
            "COUPAN_TRUSTED_PROXIES: \"10.0.0.0/99\" is not an IP address or CIDR block",
            "COUPAN_SHUTDOWN_TIMEOUT_SECS must be a whole number from 1 to 3600",
            "COUPAN_RATE_PURCHASE_PER_MIN must be a whole number from 1 to 1000000",
            "COUPAN_DEMO_DATA=\"maybe\" is not a boolean",
            "COUPAN_PAYMENT_DEADLINE_SECS must be a whole number from 60 to 86400",
            "COUPAN_WAITLIST_HOLD_SECS must be a whole number from 10 to 86400",
        ] {
            assert!(err.contains(expected), "{expected:?} missing in:\n{err}");
        }
        assert_eq!(err.lines().count(), 8, "{err}");
    }

    #[test]
    fn the_public_origin_is_normalised_and_required_behind_https() {
        for (typed, origin) in [
            ("https://Coupan.Example.com/", "https://coupan.example.com"),
            (
                "https://coupan.example.com:443",
                "https://coupan.example.com",
            ),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("https://shop.example:8443", "https://shop.example:8443"),
        ] {
            assert_eq!(parse_origin(typed).as_deref(), Ok(origin), "{typed}");
        }
        for bad in [
            "coupan.example.com",
            "ftp://coupan.example.com",
            "https://",
            "https://coupan.example.com/shop",
            "https://user@coupan.example.com",
            "https://coupan.example.com?x",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        let with = |pairs: &[(&str, &str)]| {
            let mut all = vec![
                ("DATABASE_URL", "postgres://u@h/d"),
                ("JWT_SECRET", SECRET),
                ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
                ("COUPAN_PAYMENT_URL", "https://api.payments.example"),
            ];
            all.extend_from_slice(pairs);
            Config::from_lookup(&env_of(&all))
        };
        let err = with(&[("COUPAN_SECURE_COOKIES", "true")]).err().unwrap();
        assert!(err.contains("COUPAN_PUBLIC_ORIGIN must be set"), "{err}");
        let err = with(&[
            ("COUPAN_SECURE_COOKIES", "true"),
            ("COUPAN_PUBLIC_ORIGIN", "http://coupan.example.com"),
        ])
        .err()
        .unwrap();
        assert!(err.contains("must be https://"), "{err}");
        let c = with(&[
            ("COUPAN_SECURE_COOKIES", "true"),
            ("COUPAN_PUBLIC_ORIGIN", "https://coupan.example.com"),
        ])
        .unwrap();
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert_eq!(c.allowed_origins(any), ["https://coupan.example.com"]);
    }

    #[test]
    fn a_local_run_accepts_the_address_it_listens_on() {
        let c = Config::from_lookup(&env_of(&[
            ("DATABASE_URL", "postgres://u@h/d"),
            ("JWT_SECRET", SECRET),
            ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
            ("COUPAN_PAYMENT_URL", "https://api.payments.example"),
        ]))
        .unwrap();
        let at = |a: &str| c.allowed_origins(a.parse().unwrap());
        assert_eq!(
            at("127.0.0.1:3000"),
            ["http://127.0.0.1:3000", "http://localhost:3000"]
        );
        assert_eq!(
            at("0.0.0.0:8080"),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        assert_eq!(at("192.0.2.5:3000"), ["http://192.0.2.5:3000"]);
        assert_eq!(
            at("[::1]:3000"),
            [
                "http://[::1]:3000",
                "http://127.0.0.1:3000",
                "http://localhost:3000"
            ]
        );
    }

    #[test]
    fn the_migrate_command_reads_only_the_migrator_url() {
        let url = load_migrate_url_with(
            &env_of(&[("COUPAN_CONFIG_FILE", "/etc/coupan.env")]),
            &|_: &str| Ok("COUPAN_MIGRATE_DATABASE_URL=postgres://owner:pw@db/coupan\n".into()),
        )
        .unwrap();
        assert_eq!(url, "postgres://owner:pw@db/coupan");
        let err = load_migrate_url_with(&env_of(&[("JWT_SECRET", SECRET)]), &|_: &str| {
            panic!("no file")
        })
        .unwrap_err();
        assert!(
            err.starts_with("COUPAN_MIGRATE_DATABASE_URL is not set"),
            "{err}"
        );
        let err = load_migrate_url_with(
            &env_of(&[("COUPAN_MIGRATE_DATABASE_URL", "mysql://x")]),
            &|_: &str| panic!("no file"),
        )
        .unwrap_err();
        assert!(err.contains("must start with postgres://"), "{err}");
    }

    /// The payment channel: a secret key is required, plain http only when allowed.
    #[test]
    fn the_payment_gateway_needs_a_key_and_https_unless_http_is_allowed() {
        let with = |pairs: &[(&str, &str)]| {
            Config::from_lookup(&|name: &str| {
                if name == "DATABASE_URL" {
                    return Some("postgres://u@h/d".into());
                }
                match pairs.iter().find(|(n, _)| *n == name) {
                    Some((_, v)) => Some(v.to_string()),
                    None => required(name),
                }
            })
        };
        let c = with(&[]).unwrap();
        assert_eq!(c.payment_secret_key, PAYMENT_KEY);
        assert!(!c.payment_allow_http);
        assert!(!format!("{c:?}").contains(PAYMENT_KEY), "{c:?}");

        for (pairs, expected) in [
            (
                &[("COUPAN_PAYMENT_SECRET_KEY", "")][..],
                "COUPAN_PAYMENT_SECRET_KEY must be set",
            ),
            (
                &[("COUPAN_PAYMENT_SECRET_KEY", "REPLACE_ME")][..],
                "COUPAN_PAYMENT_SECRET_KEY must be set",
            ),
            (
                &[("COUPAN_PAYMENT_URL", "http://paygate:3002")][..],
                "is plain http",
            ),
            (
                // The default URL is the local stand-in's, over http: refused unless allowed.
                &[("COUPAN_PAYMENT_URL", "")][..],
                "is plain http",
            ),
            (
                &[("COUPAN_PAYMENT_URL", "ftp://pay.example")][..],
                "must be an https://",
            ),
            (
                &[("COUPAN_PAYMENT_URL", "https://")][..],
                "must be an https://",
            ),
            (
                &[("COUPAN_PAYMENT_ALLOW_HTTP", "perhaps")][..],
                "COUPAN_PAYMENT_ALLOW_HTTP=\"perhaps\" is not a boolean",
            ),
        ] {
            let err = with(pairs)
                .err()
                .unwrap_or_else(|| panic!("{pairs:?} accepted"));
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
        let local = with(&[
            ("COUPAN_PAYMENT_URL", "http://127.0.0.1:3002"),
            ("COUPAN_PAYMENT_ALLOW_HTTP", "true"),
        ])
        .unwrap();
        assert!(local.payment_allow_http);
        assert_eq!(local.payment_url, "http://127.0.0.1:3002");
    }

    /// `/metrics` has an address of its own (loopback by default, `off` for none), never the
    /// site's; the migrator's URL is optional and checked like `DATABASE_URL`.
    #[test]
    fn metrics_address_and_migrator_url() {
        let with = |pairs: &[(&str, &str)]| {
            Config::from_lookup(&|name: &str| {
                if name == "DATABASE_URL" {
                    return Some("postgres://app@h/d".into());
                }
                match pairs.iter().find(|(n, _)| *n == name) {
                    Some((_, v)) => Some(v.to_string()),
                    None => required(name),
                }
            })
        };
        let c = with(&[]).unwrap();
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(c.migrate_database_url, None);
        assert_eq!(
            with(&[("COUPAN_METRICS_ADDR", "OFF")])
                .unwrap()
                .metrics_addr,
            None
        );
        let c = with(&[
            ("COUPAN_METRICS_ADDR", "0.0.0.0:9100"),
            (
                "COUPAN_MIGRATE_DATABASE_URL",
                "postgresql://owner:pw@h/d?sslmode=verify-full",
            ),
        ])
        .unwrap();
        assert_eq!(c.metrics_addr, Some("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(
            c.migrate_database_url.as_deref(),
            Some("postgresql://owner:pw@h/d?sslmode=verify-full")
        );
        for (pairs, expected) in [
            (
                &[("COUPAN_METRICS_ADDR", "9100")][..],
                "COUPAN_METRICS_ADDR=\"9100\" is not an address",
            ),
            (
                &[
                    ("COUPAN_METRICS_ADDR", "0.0.0.0:3000"),
                    ("LEPTOS_SITE_ADDR", "0.0.0.0:3000"),
                ][..],
                "COUPAN_METRICS_ADDR must differ from LEPTOS_SITE_ADDR",
            ),
            (
                &[("COUPAN_MIGRATE_DATABASE_URL", "mysql://x")][..],
                "COUPAN_MIGRATE_DATABASE_URL must start with postgres://",
            ),
        ] {
            let err = with(pairs)
                .err()
                .unwrap_or_else(|| panic!("{pairs:?} accepted"));
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
    }

    /// The README's configuration table says what the code does: for every variable with
    /// a default, the value `from_lookup` gives without it is one the table's default cell
    /// shows in backticks.
    #[test]
    fn the_readme_shows_the_defaults_of_the_code() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Configuration")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README has a Configuration section");
        let table: HashMap<&str, Vec<&str>> = section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let shown = cells[2].split('`').skip(1).step_by(2).collect();
                (cells[1].trim_matches('`'), shown)
            })
            .collect();

        // Two configurations: the default payment URL is plain http, which is accepted only
        // when allowed, so its default is read with that allowed and the allowance's default
        // with an https URL.
        let c = Config::from_lookup(&|name: &str| match name {
            "DATABASE_URL" => Some("postgres://u@h/d".into()),
            "COUPAN_PAYMENT_ALLOW_HTTP" => Some("true".into()),
            "COUPAN_PAYMENT_URL" => None,
            _ => required(name),
        })
        .unwrap();
        let https = Config::from_lookup(&|name: &str| match name {
            "DATABASE_URL" => Some("postgres://u@h/d".into()),
            _ => required(name),
        })
        .unwrap();
        let metrics_addr = c.metrics_addr.map_or("off".into(), |a| a.to_string());
        let code = [
            ("LEPTOS_SITE_ADDR", c.site_addr.to_string()),
            (
                "COUPAN_DB_MAX_CONNECTIONS",
                c.db_max_connections.to_string(),
            ),
            ("COUPAN_DEMO_DATA", c.demo_data.to_string()),
            ("COUPAN_SECURE_COOKIES", c.secure_cookies.to_string()),
            (
                "COUPAN_PUBLIC_ORIGIN",
                c.allowed_origins(c.site_addr)[0].clone(),
            ),
            (
                "COUPAN_DB_STATEMENT_TIMEOUT_MS",
                c.statement_timeout.as_millis().to_string(),
            ),
            ("RUST_LOG", crate::telemetry::DEFAULT_FILTER.to_string()),
            ("COUPAN_PAYMENT_URL", c.payment_url.clone()),
            (
                "COUPAN_PAYMENT_ALLOW_HTTP",
                https.payment_allow_http.to_string(),
            ),
            ("COUPAN_METRICS_ADDR", metrics_addr),
            (
                "COUPAN_PAYMENT_TIMEOUT_MS",
                c.payment_timeout.as_millis().to_string(),
            ),
            ("COUPAN_PAYMENT_WORKERS", c.payment_workers.to_string()),
            ("COUPAN_PAYMENT_BATCH_MAX", c.payment_batch_max.to_string()),
            ("COUPAN_BREAKER_FAILURES", c.breaker_failures.to_string()),
            (
                "COUPAN_BREAKER_OPEN_SECS",
                c.breaker_open.as_secs().to_string(),
            ),
            (
                "COUPAN_PURCHASE_BATCH_MAX",
                c.admission.batch_max.to_string(),
            ),
            (
                "COUPAN_PURCHASE_MAX_WAITING",
                c.admission.max_waiting.to_string(),
            ),
            (
                "COUPAN_RATE_AUTH_PER_MIN",
                c.limits.auth_per_min.to_string(),
            ),
            (
                "COUPAN_RATE_PURCHASE_PER_MIN",
                c.limits.purchase_per_min.to_string(),
            ),
            (
                "COUPAN_SHUTDOWN_TIMEOUT_SECS",
                c.shutdown_timeout.as_secs().to_string(),
            ),
            (
                "COUPAN_PAYMENT_DEADLINE_SECS",
                c.payment_deadline.as_secs().to_string(),
            ),
            (
                "COUPAN_WAITLIST_HOLD_SECS",
                c.waitlist.hold.as_secs().to_string(),
            ),
            ("COUPAN_DATA_DIR", DEFAULT_DATA_DIR.to_string()),
        ];
        // Variables without a default value to compare (required, empty, or a format).
        let no_default = [
            "DATABASE_URL",
            "COUPAN_MIGRATE_DATABASE_URL",
            "COUPAN_PAYMENT_SECRET_KEY",
            "JWT_SECRET",
            "COUPAN_LOG_FORMAT",
            "COUPAN_TRUSTED_PROXIES",
            "COUPAN_CONFIG_FILE",
            // A folder of COUPAN_DATA_DIR (checked in `pictures_go_to_the_data_directory...`).
            "COUPAN_IMAGE_STORE",
        ];
        for (name, value) in &code {
            let shown = table
                .get(name)
                .unwrap_or_else(|| panic!("{name} has no row in the README's table"));
            assert!(
                shown.contains(&value.as_str()),
                "README shows {shown:?} for {name}; the code's default is {value:?}"
            );
        }
        for name in table.keys().filter(|n| ENV_VARS.contains(n)) {
            assert!(
                no_default.contains(name) || code.iter().any(|(n, _)| n == name),
                "{name} is in the README's table but this test does not check its default"
            );
        }
    }
}
