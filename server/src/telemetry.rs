//! Logging: `RUST_LOG` filters (default `info`), `COUPAN_LOG_FORMAT=json` for JSON lines.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
