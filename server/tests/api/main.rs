//! Integration tests: the real router on a real port, each test with its own fresh
//! PostgreSQL database (`#[sqlx::test]`, migrations applied).

mod admission;
mod auth;
mod coupons;
mod deploy;
mod edge;
mod helpers;
mod logs;
mod metrics;
mod orders;
mod pages;
mod readmodel;
mod saga;
mod shell;
mod worker_batch;
