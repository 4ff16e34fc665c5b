//! A client instrumented exactly as Codex (codex-rs) is, read by the default convention: the
//! TRACE dispatch span with `aborted` recorded on interrupt, the MCP span inside it, result
//! events emitted twice (log-only copy with arguments, output and e-mail), the `turn` span's
//! `thread.id`, and a fmt layer filtered by `codex_core=info`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use toolseq::ledger::{CallState, Ledger};
use toolseq::{Finding, Guard};
use tracing::instrument::WithSubscriber;
use tracing::{Instrument, Level};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

const THREAD: &str = "019a-thread-7";

/// Codex emits each tool result twice: once for logs (with the private fields) and once for
/// traces (lengths only).
fn tool_result(call_id: &str, tool: &str, output: &str) {
    tracing::event!(target: "codex_otel.log_only", Level::INFO,
        event.name = "codex.tool_result", event.timestamp = "2026-11-24T10:00:00Z",
        conversation.id = %THREAD, user.email = "dev@example.com", tool_name = %tool,
        call_id = %call_id, arguments = r#"{"cmd":"cat ~/.ssh/id_rsa"}"#, duration_ms = 12,
        success = "true", output = %output);
    tracing::event!(target: "codex_otel.trace_safe", Level::INFO,
        event.name = "codex.tool_result", conversation.id = %THREAD, tool_name = %tool,
        call_id = %call_id, duration_ms = 12, success = "true", output_length = output.len() as i64);
}

fn dispatch_span(call_id: &str, tool: &str) -> tracing::Span {
    tracing::span!(target: "codex_core::tools::router", Level::TRACE,
        "dispatch_tool_call_with_code_mode_result", otel.name = %tool, tool_name = %tool,
        call_id = %call_id, aborted = false)
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn call(id: &str, name: &str) -> Value {
    json!({"type": "function_call", "call_id": id, "name": name, "arguments": "{}"})
}

fn output(id: &str, text: &str) -> Value {
    json!({"type": "function_call_output", "call_id": id, "output": text})
}

#[test]
fn codex_instrumentation_feeds_the_ledger_and_the_interrupted_call_is_answered_as_cancelled() {
    let ledger = Ledger::new();
    let printed = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = printed.clone();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || SinkWriter(sink.clone()))
                    .with_filter(EnvFilter::new("codex_core=info")),
            )
            .with(toolseq::layer::layer(&ledger)),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let history = Arc::new(Mutex::new(Vec::<Value>::new()));
    let h = history.clone();
    let d = dispatch.clone();
    rt.block_on(
        async move {
            let turn = tracing::info_span!(target: "codex_core::codex", "turn",
                thread.id = %THREAD, turn.id = "turn-1", model = "gpt-5-codex");
            async {
                tracing::event!(target: "codex_otel.log_only", Level::INFO,
                    event.name = "codex.user_prompt", conversation.id = %THREAD,
                    user.email = "dev@example.com", prompt = "list files then run the tests");
                h.lock().push(user("list files then run the tests"));
                h.lock().push(call("call_ls", "exec_command"));
                h.lock().push(call("call_docs", "docs__search"));
                h.lock().push(call("call_test", "exec_command"));

                // A quick shell call.
                let hh = h.clone();
                let ls = tokio::spawn(
                    async move {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        hh.lock().push(output("call_ls", "Cargo.toml src"));
                        tool_result("call_ls", "exec_command", "Cargo.toml src");
                    }
                    .instrument(dispatch_span("call_ls", "exec_command"))
                    .with_subscriber(d.clone()),
                );
                // An MCP call: its own span closes before the dispatch span reports the result.
                let hh = h.clone();
                let docs = tokio::spawn(
                    async move {
                        async {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        .instrument(tracing::info_span!(target: "codex_core::mcp_tool_call",
                            "mcp.tools.call", tool.call_id = "call_docs", tool.name = "search",
                            conversation.id = %THREAD, mcp.server.name = "docs"))
                        .await;
                        hh.lock().push(output("call_docs", "3 pages"));
                        tool_result("call_docs", "docs__search", "3 pages");
                    }
                    .instrument(dispatch_span("call_docs", "docs__search"))
                    .with_subscriber(d.clone()),
                );
                // A long test run that the user interrupts.
                let test_span = dispatch_span("call_test", "exec_command");
                let hh = h.clone();
                let tests = tokio::spawn(
                    async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        hh.lock().push(output("call_test", "ok"));
                        tool_result("call_test", "exec_command", "ok");
                    }
                    .instrument(test_span.clone())
                    .with_subscriber(d.clone()),
                );
                ls.await.unwrap();
                docs.await.unwrap();
                // Esc: Codex records `aborted` on the dispatch span, then drops the task.
                test_span.record("aborted", true);
                drop(test_span);
                tests.abort();
                assert!(tests.await.unwrap_err().is_cancelled());
                tracing::event!(target: "codex_otel.log_only", Level::INFO,
                    event.name = "codex.user_prompt", conversation.id = %THREAD, prompt = "stop");
                h.lock().push(user("stop, just summarise"));
                tracing::event!(target: "codex_otel.trace_safe", Level::INFO,
                    event.name = "codex.api_request", conversation.id = %THREAD, attempt = 1);
            }
            .instrument(turn)
            .await;
        }
        .with_subscriber(dispatch.clone()),
    );

    let snap = ledger
        .snapshot(THREAD)
        .expect("the ledger saw Codex's thread");
    assert_eq!(snap.calls["call_ls"].state, CallState::Answered);
    assert_eq!(snap.calls["call_docs"].state, CallState::Answered);
    assert_eq!(snap.calls["call_test"].state, CallState::Cancelled);
    let kinds: Vec<&str> = snap.records.iter().map(|r| r.kind.name()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "output").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "user_message").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "model_request").count(), 1);
    let mut dump = Vec::new();
    ledger.dump_jsonl(THREAD, &mut dump).unwrap();
    let dump = String::from_utf8(dump).unwrap();
    for secret in ["id_rsa", "dev@example.com", "Cargo.toml src", "list files"] {
        assert!(!dump.contains(secret), "{secret} recorded: {dump}");
    }
    // RUST_LOG said codex_core=info: the TRACE spans and the otel events were never printed.
    let printed = String::from_utf8(printed.lock().clone()).unwrap();
    assert!(!printed.contains("dispatch_tool_call"), "{printed}");

    let guard = Guard::new(&ledger).settle_timeout(Duration::from_millis(50));
    let (body, report) = tracing::dispatcher::with_default(&dispatch, || {
        guard
            .prepare_with(
                THREAD,
                || json!({"model": "gpt-5-codex", "input": history.lock().clone()}),
            )
            .unwrap()
    });
    assert!(
        matches!(&report.findings[..], [Finding::Cancelled { call_id }] if call_id == "call_test"),
        "{:?}",
        report.findings
    );
    let input = body["input"].as_array().unwrap();
    let answer = input
        .iter()
        .position(|i| i["type"] == "function_call_output" && i["call_id"] == "call_test")
        .unwrap();
    assert!(input[answer]["output"]
        .as_str()
        .unwrap()
        .starts_with("cancelled"));
    let stop = input
        .iter()
        .position(|i| i["content"][0]["text"] == "stop, just summarise")
        .unwrap();
    assert!(answer < stop);
    assert!(toolseq::check(&body, None).unwrap().is_clean());
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
