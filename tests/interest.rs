//! What tracing decides, once per callsite, about the callsites toolseq's filter refuses.
//!
//! A test binary of its own with a single test: a callsite's interest is summed over every
//! dispatcher alive in the process, so another test's subscriber would change it.

use tracing::Dispatch;
use tracing_core::callsite::{rebuild_interest_cache, DefaultCallsite};
use tracing_core::metadata::Kind;
use tracing_core::{Interest, Level, Metadata};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use toolseq::ledger::Ledger;

static DEBUG_META: Metadata<'static> = tracing_core::metadata! {
    name: "sent",
    target: module_path!(),
    level: Level::DEBUG,
    fields: &["message", "bytes"],
    callsite: &DEBUG,
    kind: Kind::EVENT,
};
static DEBUG: DefaultCallsite = DefaultCallsite::new(&DEBUG_META);

static INFO_META: Metadata<'static> = tracing_core::metadata! {
    name: "request handled",
    target: module_path!(),
    level: Level::INFO,
    fields: &["message", "user"],
    callsite: &INFO,
    kind: Kind::EVENT,
};
static INFO: DefaultCallsite = DefaultCallsite::new(&INFO_META);

static CALL_META: Metadata<'static> = tracing_core::metadata! {
    name: "execute_tool",
    target: module_path!(),
    level: Level::INFO,
    fields: &["gen_ai.tool.call.id"],
    callsite: &CALL,
    kind: Kind::SPAN,
};
static CALL: DefaultCallsite = DefaultCallsite::new(&CALL_META);

fn kind(interest: Interest) -> &'static str {
    if interest.is_never() {
        "never"
    } else if interest.is_always() {
        "always"
    } else {
        "sometimes"
    }
}

/// Each callsite's interest under `dispatch`, the only dispatcher alive and the default.
fn interests(dispatch: Dispatch) -> [&'static str; 3] {
    tracing::dispatcher::with_default(&dispatch, || {
        rebuild_interest_cache();
        [DEBUG.interest(), INFO.interest(), CALL.interest()].map(kind)
    })
}

#[test]
fn a_callsite_no_layer_wants_costs_nothing_and_toolseq_keeps_its_own() {
    let ledger = Ledger::new();
    // A `RUST_LOG=info` fmt layer beside toolseq: the debug event is wanted by neither, so
    // tracing skips it without asking anyone; the info event only by fmt, so each one asks
    // both filters; the tool call by toolseq alone, so it always goes through.
    let beside_fmt = Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(EnvFilter::new("info")),
            )
            .with(toolseq::layer::layer(&ledger)),
    );
    assert_eq!(interests(beside_fmt), ["never", "sometimes", "always"]);

    // Toolseq alone: nothing it refuses is ever asked about.
    let alone = Dispatch::new(tracing_subscriber::registry().with(toolseq::layer::layer(&ledger)));
    assert_eq!(interests(alone), ["never", "never", "always"]);
}
