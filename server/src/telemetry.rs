//! Logging: `RUST_LOG` filters (default [`DEFAULT_FILTER`]), `COUPAN_LOG_FORMAT=json` for
//! JSON lines.
//!
//! A JSON line is one flat object: `timestamp`, `level`, `target`, `message`, the event's
//! own fields, and the fields of every span it happened in (`request_id`, `method`, `path`
//! and, once the caller is known, `user_id` of the request; `order_id` of a payment job),
//! plus `span`, the name of the innermost span. An inner span's field wins over an outer
//! one of the same name; an event's own field wins over both.
//!
//! What is never logged: request headers (cookies, `Authorization`), bodies (passwords),
//! tokens, the JWT secret, the database URL.

use std::fmt;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{
    FmtContext, FormatEvent, FormattedFields, MakeWriter, SubscriberBuilder,
};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt as tfmt};

/// The default filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_sessions=warn";

pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = if json {
        json_builder(filter, std::io::stdout).try_init()
    } else {
        tfmt().with_env_filter(filter).with_target(false).try_init()
    };
}

/// The JSON subscriber writing to `writer` (tests capture the lines with it).
pub fn json_builder<W>(
    filter: EnvFilter,
    writer: W,
) -> SubscriberBuilder<JsonFields, FlatJson, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tfmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_writer(writer)
}

/// Formats an event as one flat JSON object (see the module documentation).
pub struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut map = Map::new();
        map.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        map.insert("level".into(), Value::String(meta.level().to_string()));
        map.insert("target".into(), Value::String(meta.target().to_string()));
        if let Some(scope) = ctx.event_scope() {
            let mut innermost = None;
            for span in scope.from_root() {
                innermost = Some(span.name());
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    map.extend(fields);
                }
            }
            if let Some(name) = innermost {
                map.insert("span".into(), Value::String(name.to_string()));
            }
        }
        event.record(&mut FieldsVisitor(&mut map));
        let line = serde_json::to_string(&map).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

struct FieldsVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// Middleware inside the trace layer: hands the request's span to the handlers (as a
/// request extension and a task-local, see [`app::request_span::record_user`]) so the
/// caller's id can be recorded on it.
pub async fn expose_span(mut req: Request, next: Next) -> Response {
    let span = tracing::Span::current();
    req.extensions_mut()
        .insert(app::request_span::RequestSpan(span.clone()));
    app::request_span::CURRENT_REQUEST_SPAN
        .scope(span, next.run(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_flat_json_with_the_span_fields() {
        let buf = Buffer::default();
        let writer = buf.clone();
        let subscriber = json_builder(EnvFilter::new("info"), move || writer.clone()).finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "request",
                request_id = "r-1",
                user_id = tracing::field::Empty
            );
            let _in = request.enter();
            tracing::info!("before the login");
            request.record("user_id", "u-7");
            let job = tracing::info_span!("payment_job", order_id = "o-9");
            job.in_scope(|| tracing::warn!(attempts = 3, "inner"));
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["message"], "before the login");
        assert_eq!(lines[0]["request_id"], "r-1");
        assert!(lines[0].get("user_id").is_none(), "not known yet: {out}");
        assert_eq!(lines[0]["span"], "request");
        assert_eq!(lines[1]["request_id"], "r-1");
        assert_eq!(lines[1]["user_id"], "u-7");
        assert_eq!(lines[1]["order_id"], "o-9");
        assert_eq!(lines[1]["attempts"], 3);
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["span"], "payment_job");
        assert!(lines[1]["timestamp"].is_string());
    }
}
