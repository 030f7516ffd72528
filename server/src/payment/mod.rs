//! The payment side of the saga: the gateway client, its circuit breaker, and the worker
//! that drives each order's payment to a final state.

pub mod breaker;
pub mod gateway;
pub mod worker;

pub use breaker::Breaker;
pub use gateway::Gateway;
pub use worker::{Step, Worker};
