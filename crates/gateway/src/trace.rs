//! W3C trace context in and out: the `traceparent` a client's request carries becomes the
//! parent of its execution's span, and the span of a call passes its own on to the upstream.
//! Both go through the propagator the embedder installs (the binary installs one only when it
//! exports traces): with none, nothing is read or written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_opentelemetry::OpenTelemetrySpanExt;

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Says that spans are exported, so that what only a span needs (a result's size) is
/// computed.
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// Whether spans are exported.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The trace context a client sent (`traceparent`, `tracestate`), to hand to an execution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceContext(pub HashMap<String, String>);

impl TraceContext {
    /// The W3C fields among `fields` (by any case of their names), keeping no other.
    pub fn of<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<TraceContext> {
        let kept: HashMap<String, String> = fields
            .into_iter()
            .filter_map(|(name, value)| {
                let name = name.to_ascii_lowercase();
                // A bounded value: a header or `_meta` is the client's to fill.
                (matches!(name.as_str(), "traceparent" | "tracestate") && value.len() <= 512)
                    .then(|| (name, value.to_string()))
            })
            .collect();
        kept.contains_key("traceparent")
            .then_some(TraceContext(kept))
    }

    /// Makes `span` (not yet entered) a child of this context.
    pub fn parent(&self, span: &tracing::Span) {
        let context = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&self.0)
        });
        let _ = span.set_parent(context);
    }
}

/// The trace context of the current span, as the headers (or `_meta` keys) that carry it;
/// empty when nothing is traced.
pub fn current() -> HashMap<String, String> {
    if !exporting() {
        return HashMap::new();
    }
    let context = tracing::Span::current().context();
    let mut fields = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut fields)
    });
    fields
}

/// Exports a span that began at `began` and ends now, a child of the current span: for work
/// whose tasks outlive it (a connection's start), which a tracing span would be held open by.
pub fn record(
    name: &'static str,
    began: std::time::SystemTime,
    attributes: Vec<opentelemetry::KeyValue>,
    error: Option<String>,
) {
    use opentelemetry::trace::{Span as _, Tracer as _};
    if !exporting() {
        return;
    }
    let parent = tracing::Span::current().context();
    let tracer = opentelemetry::global::tracer("codemode");
    let mut span = tracer
        .span_builder(name)
        .with_start_time(began)
        .with_attributes(attributes)
        .start_with_context(&tracer, &parent);
    if let Some(error) = error {
        span.set_status(opentelemetry::trace::Status::error(error));
    }
    span.end();
}
