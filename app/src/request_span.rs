//! The caller's id on the request's log lines (server only).
//!
//! The server puts the request's tracing span where code that learns who is calling can
//! reach it (a request extension and a task-local); `record_user` writes the user id on
//! it, so every later line of the request carries `user_id`.

use uuid::Uuid;

/// The request's tracing span, put in the request extensions by the server (inside its
/// trace layer), so that the caller's id reaches the request's log lines even from tasks
/// that do not run inside the span (leptos resources and server functions).
#[derive(Clone, Debug)]
pub struct RequestSpan(pub tracing::Span);

tokio::task_local! {
    /// The same span, for code without the request at hand (sign-up, log-in); the
    /// current span there may be a layer's own (tower-sessions opens one per call).
    pub static CURRENT_REQUEST_SPAN: tracing::Span;
}

/// Records `user_id` on the request's span (from `extensions`, else the task's request
/// span, else the current span): every later log line of the request carries it.
pub fn record_user(extensions: Option<&axum::http::Extensions>, user_id: Uuid) {
    let span = extensions
        .and_then(|e| e.get::<RequestSpan>())
        .map(|s| s.0.clone())
        .or_else(|| CURRENT_REQUEST_SPAN.try_with(|s| s.clone()).ok())
        .unwrap_or_else(tracing::Span::current);
    span.record("user_id", tracing::field::display(user_id));
}
