//! The guard in a tokio agent loop written against the public API: tool tasks spawned and
//! aborted, the history shared between tasks, the guard before each request.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{body, order, Item::*, FORMATS};
use parking_lot::Mutex;
use serde_json::{json, Value};
use toolseq::ledger::Ledger;
use toolseq::{Change, Finding, Guard, RepairOptions};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

const RUNNING: &str = "still running: this tool call had not finished when the request was sent, so its result is not available";

/// registry + fmt filtered by RUST_LOG-style `warn` (to a sink) + toolseq's layer.
fn dispatch(ledger: &Ledger) -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(EnvFilter::new("warn")),
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

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

type History = Arc<Mutex<Vec<Value>>>;

/// Runs a tool as its own task: the output goes into the shared history first, then the
/// output event tells the ledger (so a guard woken by it builds a body that holds it).
fn spawn_tool(
    history: &History,
    dispatch: &tracing::Dispatch,
    call_id: &'static str,
    millis: u64,
) -> tokio::task::JoinHandle<()> {
    let history = history.clone();
    let span = toolseq::tool_call_span!(call_id, "run_tests", conversation = "conv");
    tokio::spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            history
                .lock()
                .push(json!({"type": "function_call_output", "call_id": call_id,
                                       "output": format!("{call_id}: 42 tests passed")}));
            toolseq::tool_output!(call_id);
        }
        .instrument(span)
        .with_subscriber(dispatch.clone()),
    )
}

fn outputs_for<'a>(body: &'a Value, call_id: &str) -> Vec<&'a Value> {
    body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call_output" && i["call_id"] == call_id)
        .collect()
}

#[test]
fn a_tool_finishing_during_the_wait_is_sent_for_real_not_as_aborted() {
    let ledger = Ledger::new();
    let d = dispatch(&ledger);
    runtime().block_on(
        async {
            let history: History = Arc::new(Mutex::new(vec![user("run the tests")]));
            history
                .lock()
                .push(json!({"type": "function_call", "call_id": "call_slow",
                                       "name": "run_tests", "arguments": "{}"}));
            let tool = spawn_tool(&history, &d, "call_slow", 300);
            // The user types while the tool runs; the client appends the message at once.
            tokio::time::sleep(Duration::from_millis(20)).await;
            history.lock().push(user("hurry up"));

            let guard = Guard::new(&ledger).settle_timeout(Duration::from_secs(5));
            let t0 = Instant::now();
            let (body, report) = guard
                .prepare_with_async(
                    "conv",
                    || json!({"model": "gpt-5", "input": history.lock().clone()}),
                )
                .await
                .unwrap();
            let waited = t0.elapsed();
            assert!(waited >= Duration::from_millis(200), "{waited:?}");
            assert!(waited < Duration::from_secs(4), "{waited:?}");
            assert!(
                !report
                    .findings
                    .iter()
                    .any(|f| matches!(f, Finding::LostOutput { .. })),
                "{:?}",
                report.findings
            );
            // The real output is sent where the client put it, after the user's message: the
            // Responses API pairs it with its call by id, so the body is left as built.
            assert!(report.is_clean() && report.changes.is_empty(), "{report}");
            let input = body["input"].as_array().unwrap();
            assert_eq!(input[2]["content"][0]["text"], "hurry up");
            assert_eq!(input[3]["type"], "function_call_output");
            assert_eq!(input[3]["output"], "call_slow: 42 tests passed");
            assert!(toolseq::check(&body, None).unwrap().is_clean());
            tool.await.unwrap();
        }
        .with_subscriber(d.clone()),
    );
}

#[test]
fn prepare_on_a_body_built_too_early_says_why_prepare_with_is_the_right_call() {
    let ledger = Ledger::new();
    let d = dispatch(&ledger);
    runtime().block_on(
        async {
            let history: History = Arc::new(Mutex::new(vec![user("go")]));
            history
                .lock()
                .push(json!({"type": "function_call", "call_id": "call_slow",
                                       "name": "run_tests", "arguments": "{}"}));
            let tool = spawn_tool(&history, &d, "call_slow", 200);
            history.lock().push(user("hurry up"));
            let guard = Guard::new(&ledger).settle_timeout(Duration::from_secs(5));
            let mut early = json!({"input": history.lock().clone()});
            let report = guard.prepare_async("conv", &mut early).await.unwrap();
            let lost = report.findings.iter().find_map(|f| match f {
                Finding::LostOutput { during_wait, .. } => Some(*during_wait),
                _ => None,
            });
            assert_eq!(lost, Some(true), "{:?}", report.findings);
            assert!(report.findings[0].to_string().contains("prepare_with"));
            tool.await.unwrap();
        }
        .with_subscriber(d.clone()),
    );
}

#[test]
fn a_tool_outliving_the_wait_is_answered_as_still_running_and_its_late_output_is_never_sent_twice()
{
    for deliver in [false, true] {
        let ledger = Ledger::new();
        let d = dispatch(&ledger);
        runtime().block_on(
            async {
                let history: History = Arc::new(Mutex::new(vec![user("run the tests")]));
                history.lock().push(json!({"type": "function_call", "call_id": "call_slow",
                                           "name": "run_tests", "arguments": "{}"}));
                let tool = spawn_tool(&history, &d, "call_slow", 700);
                history.lock().push(user("never mind, what time is it?"));
                let guard = Guard::new(&ledger)
                    .settle_timeout(Duration::from_millis(150))
                    .repair_options(RepairOptions::default().deliver_late_outputs(deliver));

                let (body, report) = guard
                    .prepare_with_async("conv", || json!({"input": history.lock().clone()}))
                    .await
                    .unwrap();
                assert!(matches!(&report.findings[..], [Finding::StillRunning { call_id, .. }] if call_id == "call_slow"));
                let answer = outputs_for(&body, "call_slow");
                assert_eq!(answer.len(), 1);
                assert_eq!(answer[0]["output"], RUNNING);
                // The client stores the repair, as the README says.
                {
                    let mut h = history.lock();
                    let mut stored = Value::Array(h.clone());
                    report.apply_to(&mut stored).unwrap();
                    *h = serde_json::from_value(stored).unwrap();
                }

                tool.await.unwrap(); // the real output lands, appended at the end
                history.lock().push(json!({"type": "message", "role": "assistant",
                                           "content": [{"type": "output_text", "text": "noon"}]}));
                history.lock().push(user("and the tests?"));

                let t0 = Instant::now();
                let (body, report) = guard
                    .prepare_with_async("conv", || json!({"input": history.lock().clone()}))
                    .await
                    .unwrap();
                // Answered synthetically, the call no longer holds requests up.
                assert!(t0.elapsed() < Duration::from_millis(140));
                let answer = outputs_for(&body, "call_slow");
                assert_eq!(answer.len(), 1, "{body:#}");
                assert_eq!(answer[0]["output"], RUNNING);
                let late = report.findings.iter().find_map(|f| match f {
                    Finding::LateOutput { call_id, late_by, item, delivered } => {
                        Some((call_id.clone(), *late_by, item.clone(), *delivered))
                    }
                    _ => None,
                });
                let (id, late_by, item, delivered) = late.expect("a late-output finding");
                assert_eq!(id, "call_slow");
                assert_eq!(item["output"], "call_slow: 42 tests passed");
                assert!(late_by.unwrap() >= Duration::from_millis(300), "{late_by:?}");
                assert_eq!(delivered, deliver);
                let text = serde_json::to_string(&body).unwrap();
                assert_eq!(text.contains("42 tests passed"), deliver);
                if deliver {
                    // Right after the call's output, before the assistant's reply.
                    let input = body["input"].as_array().unwrap();
                    assert_eq!(input[2]["output"], RUNNING);
                    assert_eq!(input[3]["role"], "user");
                    assert!(input[3]["content"][0]["text"].as_str().unwrap().contains("[late tool output]"));
                }
                assert!(toolseq::check(&body, None).unwrap().is_clean());
                // Stored, the next request needs no repair and repeats nothing.
                let mut stored = Value::Array(history.lock().clone());
                report.apply_to(&mut stored).unwrap();
                assert_eq!(stored, body["input"]);
                let again = report.apply_to(&mut stored).unwrap();
                assert!(again.changes.is_empty());
                assert_eq!(stored, body["input"]);
            }
            .with_subscriber(d.clone()),
        );
    }
}

#[test]
fn late_outputs_delivered_in_every_format_keep_the_history_valid() {
    for f in FORMATS {
        let ledger = Ledger::new();
        ledger.call_started("c", "call_a", Some("shell"), None);
        ledger.call_started("c", "call_b", Some("shell"), None);
        ledger.output_recorded("c", "call_b");
        let guard = Guard::new(&ledger)
            .settle_timeout(Duration::ZERO)
            .repair_options(RepairOptions::default().deliver_late_outputs(true));
        // Parallel calls; call_a still runs when the user speaks.
        let (_, first) = guard
            .prepare_with("c", || {
                body(
                    f,
                    &[
                        User("go"),
                        Call("call_a"),
                        Call("call_b"),
                        Output("call_b"),
                        User("next"),
                    ],
                )
            })
            .unwrap();
        assert!(
            first.changes.iter().any(|c| matches!(
                c,
                Change::Inserted {
                    still_running: true,
                    ..
                }
            )),
            "{f}"
        );
        ledger.output_recorded("c", "call_a");
        // The client stored the synthetic answer and appended the real one later.
        let stored = body(
            f,
            &[
                User("go"),
                Call("call_a"),
                Call("call_b"),
                Output("call_a"),
                Output("call_b"),
                User("next"),
                Assistant("ok"),
                Output("call_a"),
            ],
        );
        let (sent, report) = guard.prepare_with("c", || stored.clone()).unwrap();
        assert!(
            report.findings.iter().any(|x| matches!(
                x,
                Finding::LateOutput {
                    delivered: true,
                    ..
                }
            )),
            "{f}: {:?}",
            report.findings
        );
        assert!(
            toolseq::check(&sent, Some(f)).unwrap().is_clean(),
            "{f}: {sent:#}"
        );
        let seen = order(f, &sent);
        assert_eq!(
            seen.iter().filter(|s| s.starts_with("out:call_a")).count(),
            1,
            "{f}: {seen:?}"
        );
        assert!(
            serde_json::to_string(&sent)
                .unwrap()
                .contains("[late tool output]"),
            "{f}"
        );
    }
}
