//! Integration tests: the real application (`server::startup::Application`, as `main`
//! runs it) on a free port, each test with its own fresh PostgreSQL database
//! (`#[sqlx::test]`, migrations applied).

mod admission;
mod auth;
mod channel;
mod coupons;
mod deploy;
mod edge;
mod forms;
mod helpers;
mod logs;
mod metrics;
mod modules;
mod orders;
mod pages;
mod readmodel;
mod roles;
mod saga;
mod startup;
mod status_machine;
mod storefront;
mod worker_batch;
