//! Layer overhead: unrelated events and spans with and without the toolseq layer, and the cost of
//! one relevant record (a tool-call span with an output event) against a trivial layer that only
//! reads the same fields.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use toolseq::ledger::Ledger;

fn unrelated() {
    tracing::info!(user = 42u64, path = "/tmp/x", "request handled");
    let span = tracing::info_span!("handle_request", method = "GET", status = 200u64);
    let _e = span.enter();
    tracing::debug!(bytes = 512u64, "sent");
}

fn fmt_to_sink<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().with_writer(std::io::sink)
}

fn bench_unrelated(c: &mut Criterion) {
    let mut g = c.benchmark_group("unrelated_events");
    let ledger = Ledger::new();
    let cases: Vec<(&str, Dispatch)> =
        vec![
            (
                "fmt",
                Dispatch::new(tracing_subscriber::registry().with(fmt_to_sink())),
            ),
            (
                "fmt+toolseq",
                Dispatch::new(
                    tracing_subscriber::registry()
                        .with(fmt_to_sink())
                        .with(toolseq::layer::layer(&ledger)),
                ),
            ),
            (
                "fmt+filtered_noop",
                Dispatch::new(tracing_subscriber::registry().with(fmt_to_sink()).with(
                    FieldReader.with_filter(tracing_subscriber::filter::filter_fn(|_| false)),
                )),
            ),
            ("registry", Dispatch::new(tracing_subscriber::registry())),
            (
                "registry+toolseq",
                Dispatch::new(tracing_subscriber::registry().with(toolseq::layer::layer(&ledger))),
            ),
        ];
    for (name, dispatch) in cases {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::callsite::rebuild_interest_cache();
            g.bench_function(name, |b| b.iter(unrelated));
        });
    }
    g.finish();
}

/// A layer that only reads the call id and output marker, the least any ledger must do.
struct FieldReader;

struct Reader(usize);

impl Visit for Reader {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "gen_ai.tool.call.id" {
            self.0 += v.len();
        }
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "gen_ai.tool.call.id" {
            self.0 += format!("{v:?}").len();
        }
    }
}

impl<S: Subscriber> Layer<S> for FieldReader {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        let mut r = Reader(0);
        attrs.record(&mut r);
        black_box(r.0);
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut r = Reader(0);
        event.record(&mut r);
        black_box(r.0);
    }
}

fn bench_relevant(c: &mut Criterion) {
    let mut g = c.benchmark_group("relevant_record");
    let ledger = Ledger::new();
    let cases: Vec<(&str, Dispatch)> = vec![
        (
            "trivial_field_reader",
            Dispatch::new(tracing_subscriber::registry().with(FieldReader)),
        ),
        (
            "toolseq",
            Dispatch::new(tracing_subscriber::registry().with(toolseq::layer::layer(&ledger))),
        ),
    ];
    for (name, dispatch) in cases {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::callsite::rebuild_interest_cache();
            // Unique ids, so the ledger never skips a call it already holds.
            let mut n = 0u64;
            g.bench_function(name, |b| {
                b.iter(|| {
                    n += 1;
                    let id = format!("call_{n:012}");
                    let span = toolseq::tool_call_span!(id, "shell");
                    span.in_scope(|| toolseq::tool_output!(id));
                })
            });
        });
    }
    // The ledger's share: the same call driven on it directly, with no subscriber.
    let mut n = 0u64;
    g.bench_function("ledger_alone", |b| {
        b.iter(|| {
            n += 1;
            let id = format!("call_{n:012}");
            ledger.call_started("default", &id, Some("shell"), None);
            ledger.output_recorded("default", &id);
            ledger.call_ended("default", &id, false);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_unrelated, bench_relevant);
criterion_main!(benches);
