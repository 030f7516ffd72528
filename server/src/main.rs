use server::config::Config;
use server::metrics::Metrics;
use server::startup::Application;
use server::telemetry;

/// mimalloc instead of glibc's malloc, for the whole process.
///
/// Pages allocate and free many small blocks (leptos' views, serde, hyper): under
/// `wrk -c64` on the catalogue, glibc's malloc and free took about a third of the app's
/// CPU (`perf record`; `_int_malloc`, `malloc_consolidate`, `_int_free`). mimalloc also
/// hands argon2's 19 MiB hash buffers back to the kernel after each log-in, which glibc
/// did only with its mmap threshold pinned (`mallopt`, before this allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `server migrate`: applies the migrations as the migrator (`COUPAN_MIGRATE_DATABASE_URL`,
/// from the environment or `COUPAN_CONFIG_FILE`) and exits; nothing else is read. Run
/// before the app starts (the Kubernetes init container) when the app itself does not
/// migrate.
fn migrate() -> i32 {
    let url = match server::config::load_migrate_url() {
        Ok(url) => url,
        Err(problem) => {
            eprintln!("Coupan cannot migrate: {problem}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Coupan cannot migrate: no async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(server::db::migrate(&url)) {
        Ok(()) => {
            println!("Coupan: migrations applied");
            0
        }
        Err(e) => {
            eprintln!("Coupan cannot migrate: {e}");
            1
        }
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("migrate") => std::process::exit(migrate()),
        Some(other) => {
            eprintln!("usage: server [migrate] (unknown command {other:?})");
            std::process::exit(2);
        }
    }
    let loaded = match server::config::load() {
        Ok(l) => l,
        Err(problems) => {
            eprintln!("Coupan cannot start:\n{problems}");
            std::process::exit(2);
        }
    };
    for (name, value) in &loaded.exports {
        // SAFETY: no other thread exists yet (the runtime is built below), so nothing
        // reads the environment while it changes.
        unsafe { std::env::set_var(name, value) };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Coupan cannot start: no async runtime: {e}");
            std::process::exit(1);
        }
    };
    let config = loaded.config;
    let code = runtime.block_on(async move {
        telemetry::init(config.log_json);
        match run(config).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("Coupan stopped: {e}");
                1
            }
        }
    });
    // The shutdown was bounded already: do not wait for tasks it cut short.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}

async fn run(config: Config) -> Result<(), String> {
    let metrics = Metrics::install()?;
    let application = Application::build(config, metrics).await?;
    let address = application.address();
    tracing::info!("Coupan is serving at http://{address}");
    println!("Coupan is serving at http://{address}");
    if let Some(metrics) = application.metrics_address() {
        println!("Metrics for Prometheus at http://{metrics}/metrics");
    }
    application.run_until_stopped(shutdown_signal()).await?;
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
