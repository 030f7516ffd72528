use server::config::Config;
use server::{startup, telemetry};

#[tokio::main]
async fn main() {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("Coupan cannot start:\n{problems}");
            std::process::exit(2);
        }
    };
    telemetry::init(config.log_json);
    if let Err(e) = run(config).await {
        tracing::error!("{e}");
        eprintln!("Coupan stopped: {e}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), String> {
    let pool = startup::connect(&config)
        .await
        .map_err(|e| format!("cannot reach the database: {e}"))?;
    startup::MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| format!("cannot apply migrations: {e}"))?;
    if config.demo_data
        && app::demo::seed_if_empty(&pool)
            .await
            .map_err(|e| format!("demo data: {e}"))?
    {
        tracing::info!("loaded the demo shops, coupons and customer (see README)");
    }
    startup::spawn_session_cleanup(pool.clone());
    let (stop_workers, workers_stop) = tokio::sync::watch::channel(false);
    let (workers, heartbeat) = if config.payment_workers > 0 {
        let worker = startup::payment_worker(pool.clone(), &config);
        let heartbeat = worker.heartbeat();
        (worker.spawn(workers_stop), Some(heartbeat))
    } else {
        (Vec::new(), None)
    };
    let readiness = server::health::Readiness::new(pool.clone(), heartbeat);
    let app = startup::router_with(pool, &config, readiness.clone());
    let listener = tokio::net::TcpListener::bind(config.site_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.site_addr))?;
    tracing::info!("Coupan is serving at http://{}", config.site_addr);
    println!("Coupan is serving at http://{}", config.site_addr);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Readiness answers 503 while in-flight requests finish.
        readiness.start_draining();
    })
    .await
    .map_err(|e| format!("server error: {e}"))?;
    // Let each worker finish (or release) the job in hand.
    let _ = stop_workers.send(true);
    for w in workers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), w).await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
