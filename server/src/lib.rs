//! The Coupan server: configuration, logging and the HTTP application. `main.rs` only
//! wires them; tests build the same router against their own database.

pub mod config;
pub mod csp;
pub mod health;
pub mod metrics;
pub mod payment;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
