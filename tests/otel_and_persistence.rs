//! A client instrumented only with OpenTelemetry GenAI names, and repairs that must be stored.

mod common;

use common::{body, order, Capture, Item::*, FORMATS};
use toolseq::ledger::{CallState, Ledger};
use toolseq::{Finding, Format, Guard};
use tracing::Level;
use tracing_subscriber::prelude::*;

#[test]
fn otel_instrumented_client_needs_no_toolseq_helper() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let sub = tracing_subscriber::registry().with(toolseq::layer::layer(&ledger));
        tracing::subscriber::with_default(sub, || {
            let agent = tracing::info_span!(
                "invoke_agent",
                gen_ai.operation.name = "invoke_agent",
                gen_ai.conversation.id = "otel-conv"
            );
            let _a = agent.enter();
            // A call that completes records its result (opt-in in the conventions).
            let ok = tracing::info_span!(
                "execute_tool",
                otel.name = "execute_tool read_file",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = "read_file",
                gen_ai.tool.call.id = "call_ok",
                gen_ai.tool.call.result = tracing::field::Empty
            );
            ok.record("gen_ai.tool.call.result", "contents");
            drop(ok);
            // A span named the way OpenTelemetry spells it, dropped by the interrupt.
            drop(tracing::info_span!(
                "execute_tool shell",
                gen_ai.tool.name = "shell",
                gen_ai.tool.call.id = "call_cut"
            ));
            let _chat = tracing::info_span!("chat", gen_ai.operation.name = "chat").entered();
        });
        let snap = ledger
            .snapshot("otel-conv")
            .expect("conversation from the ancestor span");
        assert_eq!(snap.calls["call_ok"].state, CallState::Answered);
        assert_eq!(snap.calls["call_cut"].state, CallState::Cancelled);
        assert_eq!(snap.records.last().unwrap().kind.name(), "model_request");

        let mut b = body(
            f,
            &[
                User("go"),
                Call("call_ok"),
                Call("call_cut"),
                Output("call_ok"),
                User("next"),
            ],
        );
        let report = Guard::new(&ledger).prepare("otel-conv", &mut b).unwrap();
        assert_eq!(
            report.findings,
            vec![Finding::Cancelled {
                call_id: "call_cut".into()
            }],
            "{f}"
        );
        assert!(
            order(f, &b)
                .iter()
                .any(|t| t.starts_with("out:call_cut:cancelled")),
            "{f}"
        );
        assert!(toolseq::check(&b, Some(f)).unwrap().is_clean());
    }
}

fn errors_naming(cap: &Capture, id: &str) -> usize {
    cap.toolseq_at_least(Level::ERROR)
        .iter()
        .filter(|e| e.fields.get("call_id").map(String::as_str) == Some(id))
        .count()
}

#[test]
fn repeated_repair_of_an_unstored_history_is_one_error() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let cap = Capture::default();
        let _g = tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(toolseq::layer::layer(&ledger))
                .with(cap.clone()),
        );
        drop(toolseq::tool_call_span!(
            "call_a",
            "shell",
            conversation = "c"
        ));
        let guard = Guard::new(&ledger);
        let history = [User("go"), Call("call_a"), User("next")];
        let mut sent = Vec::new();
        for _ in 0..3 {
            let mut b = body(f, &history); // the client never stored the repair
            guard.prepare("c", &mut b).unwrap();
            sent.push(b);
        }
        assert_eq!(sent[1], sent[0], "{f}");
        assert_eq!(sent[2], sent[0], "{f}");
        assert_eq!(errors_naming(&cap, "call_a"), 1, "{f}");
        let err = &cap.toolseq_at_least(Level::ERROR)[0];
        assert_eq!(err.fields["times"], "2");
        assert!(err.fields["hint"].contains("apply_to"));
        assert_eq!(ledger.snapshot("c").unwrap().calls["call_a"].repairs, 3);
    }
}

#[test]
fn applying_the_report_to_the_stored_history_ends_the_repairs() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let cap = Capture::default();
        let _g = tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(toolseq::layer::layer(&ledger))
                .with(cap.clone()),
        );
        drop(toolseq::tool_call_span!(
            "call_a",
            "shell",
            conversation = "c"
        ));
        let guard = Guard::new(&ledger);
        // The client's store: here the same rendering as the body, minus request options.
        let mut stored = body(
            f,
            &[
                User("go"),
                Call("call_a"),
                Call("call_b"),
                User("next"),
                Output("call_b"),
            ],
        );
        let mut b = stored.clone();
        let report = guard.prepare("c", &mut b).unwrap();
        // call_a answered; call_b's output moved up, except in Responses, which pairs by id.
        let changes = if f == Format::Responses { 1 } else { 2 };
        assert_eq!(report.changes.len(), changes, "{f}: {report}");
        let replay = report.apply_to(&mut stored).unwrap();
        assert_eq!(replay.changes.len(), changes);
        assert_eq!(stored, b, "{f}: the store now holds what was sent");

        let mut next = stored.clone();
        let report = guard.prepare("c", &mut next).unwrap();
        assert!(
            report.is_clean() && report.changes.is_empty(),
            "{f}: {report}"
        );
        assert_eq!(next, stored);
        assert_eq!(errors_naming(&cap, "call_a"), 0);
    }
}

/// An export of nested spans played back in a process whose own subscriber is a registry too
/// (`toolseq proxy`'s, with its fmt layer): the playback's spans close in the playback's
/// registry, never in the process's, which would not know them (tracing-subscriber panics:
/// "tried to drop a ref to Id(1), but no such span exists!").
#[test]
fn an_export_plays_back_beside_the_processs_own_registry() {
    use serde_json::json;
    let s = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let export = json!({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "codex"}, "spans": [
        {"traceId": "t1", "spanId": "turn", "name": "session_task.turn",
         "startTimeUnixNano": "500", "endTimeUnixNano": "9000",
         "attributes": [s("conversation.id", "thread-1")]},
        {"traceId": "t1", "spanId": "a1", "parentSpanId": "turn", "name": "exec_command",
         "startTimeUnixNano": "1000", "endTimeUnixNano": "5000",
         "attributes": [s("call_id", "call_1"), s("conversation.id", "thread-1"),
                        s("codex.tool.phase", "dispatch")],
         "events": [{"timeUnixNano": "4000", "name": "event tool_result.rs:54",
                     "attributes": [s("event.name", "codex.tool_result"), s("call_id", "call_1")]}]}
    ]}]}]});
    let mut replay = toolseq::otlp::Replay::new();
    replay.add(&export).unwrap();
    let ledger = Ledger::new();
    let own =
        tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_test_writer());
    tracing::subscriber::with_default(own, || {
        let played = replay.feed(&ledger, toolseq::convention::Convention::default());
        assert_eq!(played.spans, 2);
    });
    assert_eq!(
        ledger.snapshot("thread-1").unwrap().calls["call_1"].state,
        CallState::Answered
    );
}
