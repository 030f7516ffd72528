//! The payment side of the saga: the gateway client, its circuit breaker, and the worker
//! that drives each order's payment to a final state, in small parts: `claim` (job rows),
//! `plan` (the pure decisions), `call` (the gateway), `settle` (recording outcomes),
//! `expire` (the payment deadline), `listen` (waking the loops), and `worker` (a batch's
//! turn, the sweep, and the loops).

pub mod breaker;
pub mod call;
pub mod claim;
pub mod expire;
pub mod gateway;
pub mod listen;
pub mod plan;
pub mod settle;
pub mod worker;

pub use breaker::Breaker;
pub use gateway::{Gateway, GatewaySettings};
pub use settle::Step;
pub use worker::Worker;
