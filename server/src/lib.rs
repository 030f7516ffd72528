//! The Coupan server: configuration, logging and the HTTP application. `main.rs` only
//! installs the process-wide pieces (allocator tuning, logging, the metrics recorder) and
//! runs [`startup::Application`]; the API tests spawn the same application against their
//! own database.

pub mod config;
pub mod csp;
pub mod csrf;
pub mod db;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod payment;
pub mod router;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
