//! `paygate` binary: serves the fake payment provider. See the library docs for the API.
//!
//! Environment: `PAYGATE_SECRET_KEY` (required), `PAYGATE_ADMIN_ROUTES` (default false),
//! `PAYGATE_ADDR` (default 127.0.0.1:3002), `PAYGATE_LATENCY_MS` (default 0),
//! `PAYGATE_FAILURE_RATE` (default 0), `PAYGATE_LEDGER_FILE` (optional), `RUST_LOG`.
//! Exits with status 2 on a bad configuration or an unreadable ledger file.

use paygate::{Config, Gateway, router};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("paygate: bad configuration: {error}");
            }
            std::process::exit(2);
        }
    };

    let gateway = match &config.ledger_file {
        None => Gateway::in_memory(),
        Some(path) => match Gateway::open(path) {
            Ok(gateway) => gateway,
            Err(error) => {
                eprintln!("paygate: PAYGATE_LEDGER_FILE: {error}");
                std::process::exit(2);
            }
        },
    }
    .with_mode(config.mode());

    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("paygate: cannot listen on {}: {error}", config.addr);
            std::process::exit(1);
        }
    };
    tracing::info!(
        addr = %config.addr,
        ledger_file = ?config.ledger_file,
        latency_ms = config.latency_ms,
        failure_rate = config.failure_rate,
        admin_routes = config.admin_routes,
        "paygate listening"
    );
    if let Err(error) = axum::serve(listener, router(gateway, config.access()))
        .with_graceful_shutdown(shutdown())
        .await
    {
        eprintln!("paygate: server error: {error}");
        std::process::exit(1);
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("paygate shutting down");
}
