//! The guard's findings, sent to an OpenTelemetry collector (feature `otel`), so many agents or
//! many proxies are watched in one place.
//!
//! Every event the guard writes (target `toolseq::guard`) and the proxy writes
//! (`toolseq::proxy`) at INFO or above becomes an OTLP log record, through OpenTelemetry's own
//! bridge from `tracing` events to log records, with the event's fields as attributes. Their
//! names are stable:
//!
//! | event (the record's body) | attributes |
//! | --- | --- |
//! | `tool pairing violation` (WARN) | `conversation`, `rule` (a [`Rule::name`](crate::Rule::name)), `call_id`, `index`, `action` (`inserted_output`, `moved_output`, `removed`, `rewrote_call_id`, …, `observed`, `blocked`, `left`), `age_ms` (when the ledger saw the call start), `api_error` (when the API's words are known) |
//! | a finding (WARN): `lost output: …`, `late output: …`, `still running: …` | `conversation`, `finding` (`lost_output`, `late_output`, `still_running`), `call_id` |
//! | `the same call was repaired again: …` (ERROR) | `conversation`, `call_id`, `times`, `hint` |
//! | `the ledger never saw this call …` and the other set-up warnings (WARN) | `conversation`, `call_id`, `hint` or `causes` |
//!
//! The record's severity is the event's level; its resource names the service (`toolseq` unless
//! told otherwise), so a collector tells the proxies and the agents apart.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let collector = toolseq::collector::Collector::http_json("http://127.0.0.1:4318/v1/logs", "my-agent")?;
//! tracing_subscriber::registry().with(collector.layer()).init();
//! // ... the guard runs; before the process ends, send what is still buffered:
//! collector.shutdown();
//! # Ok::<(), toolseq::collector::CollectorError>(())
//! ```

use std::fmt;

use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::Resource;
use tracing_core::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A collector could not be set up (an endpoint the exporter refuses).
#[derive(Debug)]
pub struct CollectorError(String);

impl fmt::Display for CollectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot export to the collector: {}", self.0)
    }
}

impl std::error::Error for CollectorError {}

/// Where the findings go: an OTLP log exporter with its batching, and the layer that feeds it.
pub struct Collector {
    provider: SdkLoggerProvider,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

impl Collector {
    /// OTLP over HTTP in its JSON encoding to `endpoint` (a collector's `…/v1/logs`), as
    /// `service` (the resource's `service.name`). Records are batched and sent from a thread
    /// of the exporter's own, so no async runtime is needed and none is blocked.
    pub fn http_json(endpoint: &str, service: &str) -> Result<Collector, CollectorError> {
        let exporter = LogExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| CollectorError(e.to_string()))?;
        let provider = SdkLoggerProvider::builder()
            .with_resource(
                Resource::builder()
                    .with_service_name(service.to_owned())
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build();
        Ok(Collector { provider })
    }

    /// The layer to add beside your others: it passes on the guard's and the proxy's events
    /// at INFO and above, and nothing else (the exporter's own events among them, which would
    /// otherwise feed themselves).
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let targets = Targets::new()
            .with_target("toolseq::guard", tracing::Level::INFO)
            .with_target("toolseq::proxy", tracing::Level::INFO);
        OpenTelemetryTracingBridge::new(&self.provider).with_filter(targets)
    }

    /// Sends what is buffered now.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }

    /// Sends what is buffered and stops the exporter.
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}
