//! Layer overhead: unrelated events and spans with and without the toolseq layer, and the cost of
//! one relevant record (a tool-call span with an output event) against a trivial layer that only
//! reads the same fields.

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
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

fn fmt() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(fmt_to_sink()))
}

fn fmt_and_toolseq(ledger: &Ledger) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(fmt_to_sink())
            .with(toolseq::layer::layer(ledger)),
    )
}

/// The `fmt()` builder's subscriber, whose filter is global: it cannot host per-layer filters.
fn fmt_builder() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(std::io::sink)
            .finish(),
    )
}

/// The same with toolseq's layer, which then runs without a filter of its own.
fn fmt_builder_and_toolseq(ledger: &Ledger) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(std::io::sink)
            .finish()
            .with(toolseq::layer::layer(ledger)),
    )
}

/// fmt beside a layer whose filter says no to everything: what any per-layer filter costs.
fn fmt_and_filtered_noop() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(fmt_to_sink())
            .with(FieldReader.with_filter(tracing_subscriber::filter::filter_fn(|_| false))),
    )
}

fn field_reader() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(FieldReader))
}

fn toolseq_alone(ledger: &Ledger) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(toolseq::layer::layer(ledger)))
}

/// One tool call, span and output event, with the `n`th id: unique ids, so the ledger never
/// skips a call it already holds.
fn relevant(n: &mut u64) {
    *n += 1;
    let id = format!("call_{n:012}");
    let span = toolseq::tool_call_span!(id, "shell");
    span.in_scope(|| toolseq::tool_output!(id));
}

fn bench_unrelated(c: &mut Criterion) {
    let mut g = c.benchmark_group("unrelated_events");
    let ledger = Ledger::new();
    let cases: Vec<(&str, Dispatch)> = vec![
        ("fmt", fmt()),
        ("fmt+toolseq", fmt_and_toolseq(&ledger)),
        ("fmt+filtered_noop", fmt_and_filtered_noop()),
        ("registry", Dispatch::new(tracing_subscriber::registry())),
        ("registry+toolseq", toolseq_alone(&ledger)),
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
        ("trivial_field_reader", field_reader()),
        ("toolseq", toolseq_alone(&ledger)),
    ];
    for (name, dispatch) in cases {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::callsite::rebuild_interest_cache();
            let mut n = 0u64;
            g.bench_function(name, |b| b.iter(|| relevant(&mut n)));
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

/// The median of `rounds` ratios of `case` to `base`, each timed over `iters` runs of `work`
/// under one dispatcher, then the other. Criterion measures one case after another, seconds
/// apart, and this shared machine drifts by more than the budgets between them; taking turns
/// puts both sides of each ratio in the same few milliseconds.
fn by_turns(base: &Dispatch, case: &Dispatch, iters: u32, mut work: impl FnMut()) -> f64 {
    let mut time = |d: &Dispatch| {
        tracing::dispatcher::with_default(d, || {
            tracing::callsite::rebuild_interest_cache();
            let start = std::time::Instant::now();
            for _ in 0..iters {
                work();
            }
            start.elapsed().as_secs_f64()
        })
    };
    let rounds = 41;
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|_| {
            let b = time(base);
            time(case) / b
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[rounds / 2]
}

fn print_by_turns() {
    // Each pair is built alone: a callsite's interest is cached over every live dispatcher, so
    // a third one alive would change what both sides pay.
    let ledger = Ledger::new();
    println!("By turns (median of 41 rounds, both sides of each round milliseconds apart):");
    // The last pair is toolseq's own share, over what any per-layer filter costs.
    type Build = fn(&Ledger) -> Dispatch;
    let unrelated_pairs: [(&str, Build, Build); 4] = [
        ("fmt+toolseq / fmt", |_| fmt(), fmt_and_toolseq),
        (
            "fmt+filtered_noop / fmt",
            |_| fmt(),
            |_| fmt_and_filtered_noop(),
        ),
        (
            "fmt+toolseq / fmt+filtered_noop",
            |_| fmt_and_filtered_noop(),
            fmt_and_toolseq,
        ),
        // The subscriber that cannot host per-layer filters.
        (
            "fmt()+toolseq / fmt() (builder, global EnvFilter)",
            |_| fmt_builder(),
            fmt_builder_and_toolseq,
        ),
    ];
    for (label, base, case) in unrelated_pairs {
        let r = by_turns(&base(&ledger), &case(&ledger), 20_000, unrelated);
        println!("  unrelated_events {label}: {:+.1}%", (r - 1.0) * 100.0);
    }
    let mut n = 0u64;
    let r = by_turns(&field_reader(), &toolseq_alone(&ledger), 20_000, || {
        relevant(&mut n)
    });
    println!("  relevant_record toolseq / trivial_field_reader: {r:.2}x");
}

criterion_group!(benches, bench_unrelated, bench_relevant);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Criterion's own runs (`--profile-time`, `--test`, `--list`) and filters that name other
    // benches leave the turns out.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let special = args
        .iter()
        .any(|a| matches!(a.as_str(), "--profile-time" | "--test" | "--list"));
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !special && (filters.is_empty() || filters.iter().any(|f| "by_turns".contains(f.as_str()))) {
        print_by_turns();
    }
}
