//! Traces by OpenTelemetry, off unless the standard variables name where to send them
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SDK_DISABLED`
//! and `OTEL_TRACES_EXPORTER=none` turn them off). Spans of executions, their inner calls,
//! searches and upstream starts go out as OTLP over HTTP (protobuf), batched, from a thread of
//! their own; the exporter reads the other `OTEL_EXPORTER_OTLP_*` variables (headers, timeout).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The running exporter, flushed by [`Telemetry::shutdown`].
pub(crate) struct Telemetry(Option<SdkTracerProvider>);

fn set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether the environment asks for traces, or why not (`Err`: asked for in a way codemode
/// cannot do, said once at start).
fn wanted() -> Result<bool, String> {
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match set("OTEL_TRACES_EXPORTER").as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(false),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER={other}: codemode exports traces by OTLP only (\"otlp\"); none are sent"
            ));
        }
    }
    let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .is_some();
    if !endpoint {
        return Ok(false);
    }
    let protocol =
        set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref() {
        None | Some("http/protobuf") => Ok(true),
        Some(other) => Err(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other}: codemode sends traces as http/protobuf only (the collector's port 4318); none are sent"
        )),
    }
}

impl Telemetry {
    /// The layer that exports spans, when the environment asks for it.
    pub(crate) fn start<S>() -> (
        Telemetry,
        Option<impl tracing_subscriber::Layer<S>>,
        Option<String>,
    )
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        match wanted() {
            Ok(true) => {}
            Ok(false) => return (Telemetry(None), None, None),
            Err(why) => return (Telemetry(None), None, Some(why)),
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => exporter,
            Err(error) => {
                return (
                    Telemetry(None),
                    None,
                    Some(format!("cannot export traces: {error}")),
                );
            }
        };
        let mut resource = opentelemetry_sdk::Resource::builder();
        if set("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("codemode");
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        gateway::trace::set_exporting(true);
        opentelemetry::global::set_tracer_provider(provider.clone());
        let tracer = provider.tracer("codemode");
        use tracing_subscriber::Layer;
        // Only codemode's own spans (not its libraries'), at info and above.
        let ours = tracing_subscriber::filter::Targets::new()
            .with_target("gateway", tracing::Level::INFO)
            .with_target("codemode", tracing::Level::INFO);
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(ours);
        (Telemetry(Some(provider)), Some(layer), None)
    }

    /// Sends what is still batched.
    pub(crate) fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(error) = provider.shutdown()
        {
            eprintln!("codemode: the last traces were not sent: {error}");
        }
    }
}
