//! A client instrumented as the released Codex CLI (0.171.0) is, read by the default convention.
//!
//! The names and their order are those `tests/e2e` captures from the real CLI: the TRACE
//! dispatch span with `codex.tool.phase = "dispatch"` and `aborted` recorded on interrupt; the
//! result event emitted twice (the log-only copy carries arguments, output and e-mail) before
//! Codex stores the output; `codex.tool_result_ready` and `codex.tool_call` when the call's
//! future ends; the `turn` span's `thread.id`; a fmt layer filtered by `codex_core=info`. The
//! replay of a real capture is `tests/codex_replay.rs`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use toolseq::ledger::{CallState, Ledger, RecordKind};
use toolseq::Guard;
use tracing::instrument::WithSubscriber;
use tracing::{Instrument, Level};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

const THREAD: &str = "019a-thread-7";

/// What Codex emits when a tool's handler returns: the result twice, once for logs (with the
/// private fields) and once for traces (lengths only), inside the dispatch span's child.
fn tool_result(call_id: &str, tool: &str, output: &str) {
    let state = tracing::trace_span!(target: "codex_core::tools::registry",
        "dispatch_tool_call_with_state", call_id = %call_id);
    let _in = state.enter();
    tracing::event!(target: "codex_otel.log_only", Level::INFO,
        event.name = "codex.tool_result", event.timestamp = "2026-11-24T10:00:00Z",
        conversation.id = %THREAD, user.email = "dev@example.com", tool_name = %tool,
        call_id = %call_id, arguments = r#"{"cmd":"cat ~/.ssh/id_rsa"}"#, duration_ms = 12,
        success = "true", output = %output);
    tracing::event!(target: "codex_otel.trace_safe", Level::INFO,
        event.name = "codex.tool_result", conversation.id = %THREAD, tool_name = %tool,
        call_id = %call_id, duration_ms = 12, success = "true", output_length = output.len() as i64);
}

/// A user prompt, as Codex emits it: both copies.
fn user_prompt(text: &str) {
    tracing::event!(target: "codex_otel.log_only", Level::INFO,
        event.name = "codex.user_prompt", conversation.id = %THREAD,
        user.email = "dev@example.com", prompt = %text, prompt_length = text.len());
    tracing::event!(target: "codex_otel.trace_safe", Level::INFO,
        event.name = "codex.user_prompt", conversation.id = %THREAD, prompt_length = text.len());
}

/// A finished model request attempt, as Codex emits it: both copies, or only the log copy
/// for the `/models` listing, which names no conversation.
fn api_request(conversation: Option<&str>, endpoint: &str) {
    match conversation {
        Some(c) => {
            tracing::event!(target: "codex_otel.log_only", Level::INFO,
                event.name = "codex.api_request", conversation.id = %c, endpoint = %endpoint);
            tracing::event!(target: "codex_otel.trace_safe", Level::INFO,
                event.name = "codex.api_request", conversation.id = %c, endpoint = %endpoint);
        }
        None => tracing::event!(target: "codex_otel.log_only", Level::INFO,
            event.name = "codex.api_request", endpoint = %endpoint),
    }
}

/// What Codex emits when a call's future ends, aborted or not.
fn call_ended(call_id: &str) {
    tracing::event!(target: "codex_otel.trace_safe", Level::INFO,
        event.name = "codex.tool_result_ready", conversation.id = %THREAD, call_id = %call_id,
        tool_source = "direct");
    tracing::event!(target: "codex_core::tools::parallel", Level::INFO,
        event.name = "codex.tool_call", conversation.id = %THREAD, call_id = %call_id,
        tool_source = "direct", total_duration_ms = 3);
}

fn dispatch_span(call_id: &str, tool: &str) -> tracing::Span {
    tracing::span!(target: "codex_core::tools::parallel", Level::TRACE,
        "dispatch_tool_call_with_code_mode_result", otel.name = %tool, tool_name = %tool,
        thread.id = %THREAD, conversation.id = %THREAD, turn.id = "turn-1", call_id = %call_id,
        codex.tool.phase = "dispatch", aborted = false)
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn call(id: &str) -> Value {
    json!({"type": "function_call", "call_id": id, "name": "exec_command", "arguments": "{}"})
}

fn output(id: &str, text: &str) -> Value {
    json!({"type": "function_call_output", "call_id": id, "output": text})
}

fn codex_subscriber(ledger: &Ledger, printed: Arc<Mutex<Vec<u8>>>) -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || SinkWriter(printed.clone()))
                    .with_filter(EnvFilter::new("codex_core=info")),
            )
            .with(toolseq::layer::layer(ledger)),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_interrupted_codex_call_ends_answered_by_codex_and_a_steering_prompt_is_queued() {
    let ledger = Ledger::new();
    let printed = Arc::new(Mutex::new(Vec::<u8>::new()));
    let dispatch = codex_subscriber(&ledger, printed.clone());
    let history = Arc::new(Mutex::new(Vec::<Value>::new()));
    let h = history.clone();
    let d = dispatch.clone();
    runtime().block_on(
        async move {
            // The `/models` listing: a model request naming no conversation.
            api_request(None, "/models");
            let turn = tracing::info_span!(target: "codex_core::tasks", "turn",
                thread.id = %THREAD, turn.id = "turn-1", model = "gpt-5");
            async {
                user_prompt("list files then run the tests");
                h.lock().push(user("list files then run the tests"));
                h.lock().push(call("call_ls"));
                h.lock().push(call("call_test"));

                // A quick call: Codex stores its output when its future ends, after the event.
                let hh = h.clone();
                let ls = tokio::spawn(
                    async move {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        tool_result("call_ls", "exec_command", "Cargo.toml src");
                        call_ended("call_ls");
                        hh.lock().push(output("call_ls", "Cargo.toml src"));
                    }
                    .instrument(dispatch_span("call_ls", "exec_command"))
                    .with_subscriber(d.clone()),
                );
                // A long test run the user interrupts (Esc).
                let test_span = dispatch_span("call_test", "exec_command");
                let abort_span = test_span.clone();
                let tests = tokio::spawn(
                    async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        tool_result("call_test", "exec_command", "ok");
                    }
                    .instrument(test_span)
                    .with_subscriber(d.clone()),
                );
                ls.await.unwrap();
                // Text typed into the running turn: Codex queues it behind the running call.
                user_prompt("then say bye");
                // Esc: the interrupt submission, `aborted` on the span, the task torn down,
                // and Codex's own `aborted by user` output stored for the call.
                let _interrupt = tracing::info_span!(target: "codex_core::session",
                    "submission_dispatch", otel.name = "op.dispatch.interrupt",
                    codex.op = "interrupt", conversation.id = %THREAD)
                .entered();
                abort_span.record("aborted", true);
                tests.abort();
                assert!(tests.await.unwrap_err().is_cancelled());
                {
                    let _in = abort_span.enter();
                    call_ended("call_test");
                }
                h.lock().push(output(
                    "call_test",
                    "Wall time: 1.2 seconds\naborted by user",
                ));
                drop(abort_span);
                h.lock()
                    .push(user("<turn_aborted>interrupted</turn_aborted>"));
                h.lock().push(user("then say bye"));
                api_request(Some(THREAD), "/responses");
            }
            .instrument(turn)
            .await;
        }
        .with_subscriber(dispatch.clone()),
    );

    assert_eq!(ledger.conversations(), vec![THREAD.to_owned()]);
    let snap = ledger.snapshot(THREAD).unwrap();
    assert_eq!(snap.calls["call_ls"].state, CallState::Answered);
    assert_eq!(snap.calls["call_test"].state, CallState::Aborted);
    let kinds: Vec<&str> = snap.records.iter().map(|r| r.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "queued_user_message",
            "call_started",
            "call_started",
            "output_produced",
            "output",
            "queued_user_message",
            "interrupt",
            "abort_requested",
            "call_aborted",
            "model_request"
        ],
        "{kinds:?}"
    );
    assert!(matches!(&snap.records[5].kind,
        RecordKind::QueuedUserMessage { behind } if behind.len() == 1 && &*behind[0] == "call_test"));
    let mut dump = Vec::new();
    ledger.dump_jsonl(THREAD, &mut dump).unwrap();
    let dump = String::from_utf8(dump).unwrap();
    for secret in [
        "id_rsa",
        "dev@example.com",
        "Cargo.toml src",
        "list files",
        "bye",
    ] {
        assert!(!dump.contains(secret), "{secret} recorded: {dump}");
    }
    // RUST_LOG said codex_core=info: the TRACE spans and the otel events were never printed.
    let printed = String::from_utf8(printed.lock().clone()).unwrap();
    assert!(!printed.contains("dispatch_tool_call"), "{printed}");

    // The body Codex would send is paired and holds Codex's own answer: nothing to say.
    let guard = Guard::new(&ledger).settle_timeout(Duration::from_millis(50));
    let (body, report) = tracing::dispatcher::with_default(&dispatch, || {
        guard
            .prepare_with(
                THREAD,
                || json!({"model": "gpt-5", "input": history.lock().clone()}),
            )
            .unwrap()
    });
    assert!(report.is_clean(), "{report:?}");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(body["input"], Value::Array(history.lock().clone()));
}

/// The race the guard exists for, on Codex's order of events: a guard woken by
/// `codex.tool_result` would build a body without the output, which Codex stores only after
/// its post-tool hooks, when the call's future ends.
#[test]
fn a_guard_waits_for_the_end_of_a_codex_call_not_for_its_result_event() {
    let ledger = Ledger::new();
    let dispatch = codex_subscriber(&ledger, Arc::new(Mutex::new(Vec::new())));
    let history = Arc::new(Mutex::new(vec![user("run the tests"), call("call_slow")]));
    let guard = Guard::new(&ledger).settle_timeout(Duration::from_secs(5));
    let rt = runtime();
    let (h, d) = (history.clone(), dispatch.clone());
    let (result_sent, result_seen) = tokio::sync::oneshot::channel();
    let tool = rt.spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tool_result("call_slow", "exec_command", "ok");
            result_sent.send(()).unwrap();
            // Post-tool hooks run; only then does the future end and Codex store the output.
            // Codex builds its next request in the task that stores it, so the output is in the
            // history by the time that task could build; stored here first for the same reason
            // (stored after the event, a loaded machine let the guard build in between).
            tokio::time::sleep(Duration::from_millis(150)).await;
            h.lock().push(output("call_slow", "ok"));
            call_ended("call_slow");
        }
        .instrument(tracing::dispatcher::with_default(&d, || {
            dispatch_span("call_slow", "exec_command")
        }))
        .with_subscriber(d.clone()),
    );
    let h = history.clone();
    let (body, report) = rt.block_on(async move {
        result_seen.await.unwrap();
        guard
            .prepare_with_async(
                THREAD,
                || json!({"model": "gpt-5", "input": h.lock().clone()}),
            )
            .await
            .unwrap()
    });
    rt.block_on(tool).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(body["input"][2]["output"], "ok");
}

#[derive(Clone)]
struct SinkWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
