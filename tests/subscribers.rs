//! The layer on each subscriber that can host it: a `Registry` (with the `EnvFilter` on the
//! fmt layer, as the README says) and the `fmt()` builder's subscriber with a global
//! `EnvFilter`, which cannot host per-layer filters and used to make the layer panic at start.
//! Real tool-call spans on tokio tasks, a real subscriber each time.

use std::time::Duration;

use toolseq::ledger::{CallState, Ledger};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Eight calls on tokio tasks, each answered, in conversation `conv`.
fn drive(dispatch: tracing::Dispatch) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(
        async move {
            let turn = toolseq::conversation_span!("conv");
            async {
                let tasks: Vec<_> = (0..8)
                    .map(|n| {
                        let id = format!("call_{n}");
                        let span = toolseq::tool_call_span!(id.as_str(), "shell");
                        tokio::spawn(
                            async move {
                                tokio::time::sleep(Duration::from_millis(5 + n)).await;
                                toolseq::tool_output!(id.as_str());
                            }
                            .instrument(span)
                            .with_current_subscriber(),
                        )
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }
            .instrument(turn)
            .await;
        }
        .with_subscriber(dispatch),
    );
}

fn assert_answered(ledger: &Ledger) {
    let snap = ledger
        .snapshot("conv")
        .expect("the ledger saw the conversation");
    assert_eq!(snap.calls.len(), 8, "{:?}", snap.calls.keys());
    assert!(snap.calls.values().all(|c| c.state == CallState::Answered));
}

#[test]
fn on_a_registry_the_layer_brings_its_own_filter() {
    let ledger = Ledger::new();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(EnvFilter::new("warn")),
            )
            .with(toolseq::layer::layer(&ledger)),
    );
    drive(dispatch);
    assert_answered(&ledger);
}

#[test]
fn on_the_fmt_builders_subscriber_the_layer_records_without_a_filter_of_its_own() {
    let ledger = Ledger::new();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .finish()
        .with(toolseq::layer::layer(&ledger));
    drive(tracing::Dispatch::new(subscriber));
    assert_answered(&ledger);
}

#[test]
fn without_a_filter_of_its_own_it_hides_nothing_from_the_subscriber() {
    // The fmt subscriber still prints what its filter lets through, toolseq's or not.
    let printed = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<u8>::new()));
    let sink = printed.clone();
    let ledger = Ledger::new();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("info"))
        .with_writer(move || Sink(sink.clone()))
        .with_ansi(false)
        .finish()
        .with(toolseq::layer::layer(&ledger));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("an event of the program's own");
        tracing::debug!("below the filter");
    });
    let printed = String::from_utf8(printed.lock().clone()).unwrap();
    assert!(
        printed.contains("an event of the program's own"),
        "{printed}"
    );
    assert!(!printed.contains("below the filter"), "{printed}");
}

#[derive(Clone)]
struct Sink(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` under a registry with `global` as a filter on the whole registry (the mistake the
/// README warns about) or on the fmt layer, toolseq's layer beside; returns what was printed.
fn printed_under(global: bool, ledger: &Ledger, f: impl FnOnce()) -> String {
    let printed = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<u8>::new()));
    if global {
        let s = tracing_subscriber::registry()
            .with(EnvFilter::new("warn"))
            .with(printing(&printed))
            .with(toolseq::layer::layer(ledger));
        tracing::subscriber::with_default(s, f);
    } else {
        let s = tracing_subscriber::registry()
            .with(printing(&printed).with_filter(EnvFilter::new("warn")))
            .with(toolseq::layer::layer(ledger));
        tracing::subscriber::with_default(s, f);
    }
    let text = String::from_utf8(printed.lock().clone()).unwrap();
    text
}

/// A fmt layer printing into `printed`, without colours.
fn printing<S>(
    printed: &std::sync::Arc<parking_lot::Mutex<Vec<u8>>>,
) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let sink = printed.clone();
    tracing_subscriber::fmt::layer()
        .with_writer(move || Sink(sink.clone()))
        .with_ansi(false)
}

fn body_with_call() -> serde_json::Value {
    serde_json::json!({"model": "gpt-5", "input": [
        {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"}]})
}

#[test]
fn a_guard_whose_ledger_saw_nothing_says_so_once_with_the_filter_first() {
    let ledger = Ledger::new();
    let guard = toolseq::Guard::new(&ledger).settle_timeout(Duration::from_millis(1));
    let printed = printed_under(true, &ledger, || {
        // Hidden from the layer by the global filter.
        let span = toolseq::tool_call_span!("call_1", "shell");
        span.in_scope(|| toolseq::tool_output!("call_1"));
        for _ in 0..2 {
            let (_, report) = guard.prepare_with("conv", body_with_call).unwrap();
            let _ = report;
        }
    });
    assert_eq!(
        printed.matches("has seen nothing at all").count(),
        1,
        "{printed}"
    );
    assert!(
        printed.contains("1. an EnvFilter (RUST_LOG) on the whole registry"),
        "{printed}"
    );
    // Its clean twin: the filter on the fmt layer, the ledger sees the call, nothing is said.
    let ledger = Ledger::new();
    let guard = toolseq::Guard::new(&ledger).settle_timeout(Duration::from_millis(1));
    let printed = printed_under(false, &ledger, || {
        let _c = toolseq::conversation_span!("conv").entered();
        let span = toolseq::tool_call_span!("call_1", "shell");
        span.in_scope(|| toolseq::tool_output!("call_1"));
        let (_, report) = guard.prepare_with("conv", body_with_call).unwrap();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    });
    assert!(!printed.contains("toolseq"), "{printed}");
}

#[test]
fn calls_recorded_under_another_conversation_are_named() {
    let ledger = Ledger::new();
    let guard = toolseq::Guard::new(&ledger).settle_timeout(Duration::from_millis(1));
    let printed = printed_under(false, &ledger, || {
        // A call span made with no conversation span around it lands in `default`.
        let span = toolseq::tool_call_span!("call_1", "shell");
        span.in_scope(|| toolseq::tool_output!("call_1"));
        let (_, report) = guard.prepare_with("conv-1", body_with_call).unwrap();
        assert!(matches!(&report.findings[..],
            [toolseq::Finding::UnseenCall { call_id }] if call_id == "call_1"));
    });
    assert!(printed.contains("seen=default"), "{printed}");
    assert!(
        printed.contains("calls recorded under another conversation id"),
        "{printed}"
    );
}

#[test]
fn a_layer_added_twice_records_each_event_once_and_a_second_ledger_gets_its_own() {
    let (ledger, other) = (Ledger::new(), Ledger::new());
    let subscriber = tracing_subscriber::registry()
        .with(toolseq::layer::layer(&ledger))
        .with(toolseq::layer::layer(&other))
        .with(toolseq::layer::layer(&ledger));
    tracing::subscriber::with_default(subscriber, || {
        let _c = toolseq::conversation_span!("conv").entered();
        toolseq::user_message!();
        let span = toolseq::tool_call_span!("call_1", "shell");
        span.in_scope(|| toolseq::tool_output!("call_1"));
    });
    for l in [&ledger, &other] {
        let kinds: Vec<&str> = l
            .snapshot("conv")
            .unwrap()
            .records
            .iter()
            .map(|r| r.kind.name())
            .collect();
        assert_eq!(kinds, ["user_message", "call_started", "output"]);
    }
}
