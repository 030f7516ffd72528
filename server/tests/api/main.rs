//! Integration tests: the real application (`server::startup::Application`, as `main`
//! runs it) on a free port, each test with its own fresh PostgreSQL database
//! (`#[sqlx::test]`, migrations applied).

mod abuse;
mod account;
mod admission;
mod auth;
mod authz_matrix;
mod bad_input;
mod browser_security;
mod catalogue;
mod channel;
mod coupons;
mod deadline;
mod deploy;
mod edge;
mod forms;
mod helpers;
mod history;
mod images;
mod live;
mod logs;
mod metrics;
mod modules;
mod notifications;
mod openapi;
mod orders;
mod pages;
mod pool;
mod readmodel;
mod refunds;
mod roles;
mod saga;
mod shell;
mod startup;
mod status_machine;
mod storefront;
mod waitlist;
mod worker_batch;
