//! The guard, driven through real tracing instrumentation, for every format.

mod common;

use std::time::{Duration, Instant};

use common::{body, order, Capture, Item::*, FORMATS};
use serde_json::Value;
use toolseq::ledger::Ledger;
use toolseq::{Error, Finding, Format, Guard, Policy, Rule};
use tracing::Level;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// registry + fmt (RUST_LOG-style filter, to a sink) + toolseq layer + a capture of all logs.
fn install(ledger: &Ledger) -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let sub = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(EnvFilter::new("warn")),
        )
        .with(toolseq::layer::layer(ledger))
        .with(capture.clone());
    (capture, tracing::subscriber::set_default(sub))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

const CANCELLED: &str = "cancelled: the user interrupted this tool call before it finished";
const RUNNING: &str = "still running: this tool call had not finished when the request was sent, so its result is not available";

#[test]
fn user_message_mid_rollout_is_sent_after_the_output() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let (_cap, _g) = install(&ledger);
        let turn = toolseq::conversation_span!("c").entered();
        toolseq::user_message!();
        let call = toolseq::tool_call_span!("call_a", "shell");
        // The user types while the tool runs; the client appends the message at once and the
        // output when the tool is done.
        toolseq::user_message!();
        {
            let _e = call.enter();
            toolseq::tool_output!("call_a");
        }
        drop(call);
        drop(turn);
        let mut b = body(
            f,
            &[User("go"), Call("call_a"), User("hurry"), Output("call_a")],
        );
        let report = Guard::new(&ledger).prepare("c", &mut b).unwrap();
        // OpenAI's Responses API pairs by call id, so the output may stay after the message.
        let moved = f != Format::Responses;
        assert_eq!(
            report.count(Rule::InterleavedMessage),
            usize::from(moved),
            "{f}"
        );
        let want = if moved {
            ["user:go", "call:call_a", "out:call_a:done", "user:hurry"]
        } else {
            ["user:go", "call:call_a", "user:hurry", "out:call_a:done"]
        };
        assert_eq!(order(f, &b), s(&want), "{f}");
        assert!(toolseq::check(&b, Some(f)).unwrap().is_clean());
    }
}

#[test]
fn normal_flow_touches_nothing_and_logs_nothing_above_debug() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let (cap, _g) = install(&ledger);
        let _turn = toolseq::conversation_span!("c").entered();
        toolseq::user_message!();
        for id in ["call_a", "call_b"] {
            let _call = toolseq::tool_call_span!(id, "shell").entered();
            toolseq::tool_output!(id);
        }
        let original = body(
            f,
            &[
                User("go"),
                Call("call_a"),
                Call("call_b"),
                Output("call_b"),
                Output("call_a"),
                Assistant("done"),
            ],
        );
        let mut b = original.clone();
        let report = Guard::new(&ledger).prepare("c", &mut b).unwrap();
        assert!(
            report.is_clean() && report.changes.is_empty() && report.findings.is_empty(),
            "{f}: {report}"
        );
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            serde_json::to_string(&original).unwrap()
        );
        assert!(
            cap.toolseq_at_least(Level::INFO).is_empty(),
            "{f}: {:?}",
            cap.toolseq_at_least(Level::INFO)
        );
        let summary: Vec<_> = cap
            .events()
            .into_iter()
            .filter(|e| e.target == "toolseq::guard")
            .collect();
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].level, Level::DEBUG);
    }
}

#[test]
fn interrupted_call_gets_a_cancelled_output_and_the_new_message_follows() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let (cap, _g) = install(&ledger);
        let _turn = toolseq::conversation_span!("c").entered();
        toolseq::user_message!();
        drop(toolseq::tool_call_span!("call_a", "shell")); // future dropped: no output
        toolseq::interrupt!();
        toolseq::user_message!();
        let mut b = body(f, &[User("go"), Call("call_a"), User("do something else")]);
        let report = Guard::new(&ledger).prepare("c", &mut b).unwrap();
        let out = format!("out:call_a:{CANCELLED}");
        assert_eq!(
            order(f, &b),
            s(&["user:go", "call:call_a", &out, "user:do something else"]),
            "{f}"
        );
        assert_eq!(
            report.findings,
            vec![Finding::Cancelled {
                call_id: "call_a".into()
            }]
        );
        let warns = cap.toolseq_at_least(Level::WARN);
        assert_eq!(warns.len(), 1, "{f}: {warns:?}");
        let w = &warns[0].fields;
        assert_eq!(w["rule"], "missing_output");
        assert_eq!(w["call_id"], "call_a");
        assert_eq!(w["action"], "inserted_cancelled_output");
        assert_eq!(w["conversation"], "c");
        assert!(w.contains_key("age_ms") && w.contains_key("index"));
        // Never the text of a message or tool output.
        assert!(!format!("{warns:?}").contains("do something else"));
    }
}

#[test]
fn gemini_and_bedrock_histories_are_guarded_in_their_own_shapes() {
    for f in [Format::Gemini, Format::Bedrock] {
        let ledger = Ledger::new();
        let (_cap, _g) = install(&ledger);
        let _turn = toolseq::conversation_span!("c").entered();
        toolseq::user_message!();
        {
            let _done = toolseq::tool_call_span!("call_b", "shell").entered();
            toolseq::tool_output!("call_b");
        }
        drop(toolseq::tool_call_span!("call_a", "shell")); // future dropped: no output
        toolseq::interrupt!();
        toolseq::user_message!();
        let mut b = body(
            f,
            &[
                User("go"),
                Call("call_a"),
                Call("call_b"),
                Output("call_b"),
                User("stop"),
            ],
        );
        let report = Guard::new(&ledger).format(f).prepare("c", &mut b).unwrap();
        let out = format!("out:call_a:{CANCELLED}");
        assert_eq!(
            order(f, &b),
            s(&[
                "user:go",
                "call:call_a",
                "call:call_b",
                "out:call_b:done",
                &out,
                "user:stop"
            ]),
            "{f}: {b:#}"
        );
        assert_eq!(
            report.findings,
            vec![Finding::Cancelled {
                call_id: "call_a".into()
            }],
            "{f}"
        );
        // Bedrock refuses results and the user's text in one turn, and the guard splits them;
        // Gemini takes the turn, and split without a placeholder model turn it would refuse
        // two client turns in a row, so the turn stays.
        let after = toolseq::check(&b, Some(f)).unwrap();
        let mixed = usize::from(f == Format::Gemini);
        assert_eq!(after.count(Rule::MixedResultTurn), mixed, "{f}: {after}");
        assert_eq!(after.count(Rule::MissingOutput), 0, "{f}: {after}");
    }
}

#[test]
fn parallel_calls_with_one_interrupted() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let (_cap, _g) = install(&ledger);
        let _turn = toolseq::conversation_span!("c").entered();
        let a = toolseq::tool_call_span!("call_a", "shell");
        let b_span = toolseq::tool_call_span!("call_b", "shell");
        let c = toolseq::tool_call_span!("call_c", "shell");
        a.in_scope(|| toolseq::tool_output!("call_a"));
        c.in_scope(|| toolseq::tool_output!("call_c"));
        drop((a, b_span, c));
        let mut b = body(
            f,
            &[
                User("go"),
                Call("call_a"),
                Call("call_b"),
                Call("call_c"),
                Output("call_a"),
                Output("call_c"),
                User("next"),
            ],
        );
        Guard::new(&ledger).prepare("c", &mut b).unwrap();
        let got = order(f, &b);
        let out_b = format!("out:call_b:{CANCELLED}");
        assert!(got.contains(&out_b), "{f}: {got:?}");
        assert_eq!(got.last().unwrap(), "user:next");
        assert!(
            toolseq::check(&b, Some(f)).unwrap().is_clean(),
            "{f}: {got:?}"
        );
    }
}

#[test]
fn resumed_session_missing_outputs_is_answered_and_noted_once() {
    for f in FORMATS {
        let ledger = Ledger::new(); // a new process: the ledger saw none of the old calls
        let (cap, _g) = install(&ledger);
        let guard = Guard::new(&ledger);
        let history = [
            User("go"),
            Call("call_old1"),
            Call("call_old2"),
            Output("call_old2"),
            User("resumed"),
        ];
        ledger.user_message("c");
        let mut b = body(f, &history);
        let report = guard.prepare("c", &mut b).unwrap();
        assert!(
            order(f, &b).contains(&"out:call_old1:aborted".to_owned()),
            "{f}"
        );
        assert!(report
            .findings
            .iter()
            .any(|x| matches!(x, Finding::UnseenCall { .. })));
        let mut again = body(f, &history);
        guard.prepare("c", &mut again).unwrap();
        let unseen = cap
            .events()
            .into_iter()
            .filter(|e| {
                e.fields
                    .get("message")
                    .is_some_and(|m| m.contains("never saw"))
            })
            .count();
        assert_eq!(unseen, 1, "{f}");
    }
}

#[test]
fn output_dropped_by_compaction_is_reported_lost() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let (cap, _g) = install(&ledger);
        let _turn = toolseq::conversation_span!("c").entered();
        toolseq::tool_call_span!("call_a", "shell").in_scope(|| toolseq::tool_output!("call_a"));
        // Compaction kept the call and dropped its output.
        let mut b = body(
            f,
            &[User("go"), Call("call_a"), User("summary of earlier work")],
        );
        let report = Guard::new(&ledger).prepare("c", &mut b).unwrap();
        assert!(
            matches!(&report.findings[..], [Finding::LostOutput { call_id, .. }] if call_id == "call_a"),
            "{f}: {:?}",
            report.findings
        );
        assert!(cap
            .toolseq_at_least(Level::WARN)
            .iter()
            .any(|e| e.fields["message"].contains("lost output")));
        assert!(toolseq::check(&b, Some(f)).unwrap().is_clean());
    }
}

#[test]
fn block_refuses_with_the_report_and_observe_leaves_bytes_alone() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let broken = body(f, &[User("go"), Call("call_a"), User("next")]);
        let mut b = broken.clone();
        match Guard::new(&ledger)
            .policy(Policy::Block)
            .prepare("c", &mut b)
        {
            Err(Error::Blocked(report)) => {
                assert_eq!(report.violations[0].rule, Rule::MissingOutput);
                assert!(report.changes.is_empty());
            }
            other => panic!("{f}: expected a block, got {other:?}"),
        }
        assert_eq!(b, broken);
        let text = serde_json::to_string(&broken).unwrap();
        let mut b: Value = serde_json::from_str(&text).unwrap();
        let report = Guard::new(&ledger)
            .policy(Policy::Observe)
            .prepare("c", &mut b)
            .unwrap();
        assert_eq!(report.violations.len(), 1);
        assert_eq!(serde_json::to_string(&b).unwrap(), text);
    }
}

#[test]
fn blocking_settle_waits_for_a_call_that_finishes_in_time_and_not_for_one_that_does_not() {
    for f in FORMATS {
        let ledger = Ledger::new();
        let (_cap, _g) = install(&ledger);
        let span = toolseq::tool_call_span!("call_a", "shell", conversation = "c");
        let l2 = ledger.clone();
        let finisher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            l2.output_recorded("c", "call_a");
        });
        let guard = Guard::new(&ledger).settle_timeout(Duration::from_secs(5));
        let mut b = body(f, &[User("go"), Call("call_a"), Output("call_a")]);
        let t0 = Instant::now();
        let report = guard.prepare("c", &mut b).unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(40) && t0.elapsed() < Duration::from_secs(4));
        assert!(report.is_clean());
        finisher.join().unwrap();
        drop(span);

        let _slow = toolseq::tool_call_span!("call_slow", "shell", conversation = "c2");
        let guard = Guard::new(&ledger).settle_timeout(Duration::from_millis(60));
        let mut b = body(f, &[User("go"), Call("call_slow"), User("hello?")]);
        let t0 = Instant::now();
        let report = guard.prepare("c2", &mut b).unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(60));
        assert!(
            matches!(&report.findings[..], [Finding::StillRunning { call_id, .. }] if call_id == "call_slow")
        );
        assert!(
            order(f, &b).contains(&format!("out:call_slow:{RUNNING}")),
            "{f}"
        );
    }
}

#[test]
fn async_settle_under_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for f in FORMATS {
        let ledger = Ledger::new();
        rt.block_on(async {
            use tracing::Instrument;
            let dispatch = tracing::Dispatch::new(
                tracing_subscriber::registry().with(toolseq::layer::layer(&ledger)),
            );
            let _g = tracing::dispatcher::set_default(&dispatch);
            let d2 = dispatch.clone();
            let tool = tokio::spawn(
                async move {
                    let _g = tracing::dispatcher::set_default(&d2);
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    toolseq::tool_output!("call_a");
                }
                .instrument(toolseq::tool_call_span!(
                    "call_a",
                    "shell",
                    conversation = "c"
                )),
            );
            let guard = Guard::new(&ledger).settle_timeout(Duration::from_secs(5));
            let mut b = body(f, &[User("go"), Call("call_a"), Output("call_a")]);
            let report = guard.prepare_async("c", &mut b).await.unwrap();
            assert!(report.is_clean(), "{f}");
            tool.await.unwrap();

            let slow = tokio::spawn(tokio::time::sleep(Duration::from_secs(30)).instrument(
                toolseq::tool_call_span!("call_slow", "shell", conversation = "c2"),
            ));
            tokio::task::yield_now().await;
            let guard = Guard::new(&ledger).settle_timeout(Duration::from_millis(50));
            let mut b = body(f, &[User("go"), Call("call_slow"), User("hello?")]);
            let t0 = Instant::now();
            let report = guard.prepare_async("c2", &mut b).await.unwrap();
            assert!(t0.elapsed() >= Duration::from_millis(50));
            assert!(
                matches!(&report.findings[..], [Finding::StillRunning { .. }]),
                "{f}: {:?}",
                report.findings
            );
            slow.abort();
        });
    }
}

#[test]
fn flight_recorder_writes_the_ledger_and_the_verdict() {
    let dir = std::env::temp_dir().join(format!("toolseq-flight-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flight.jsonl");
    let _ = std::fs::remove_file(&path);
    let ledger = Ledger::new();
    ledger.call_started("c", "call_a", Some("shell"), None);
    ledger.call_ended("c", "call_a", false);
    let guard = Guard::new(&ledger).flight_recorder(&path);
    let mut b = body(
        Format::Chat,
        &[User("secret text"), Call("call_a"), User("more secret")],
    );
    guard.prepare("c", &mut b).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "call_started");
    assert_eq!(lines.last().unwrap()["event"], "guard_verdict");
    assert_eq!(
        lines.last().unwrap()["violations"][0]["rule"],
        "missing_output"
    );
    assert!(!text.contains("secret"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The WARN line says what was done to the item: a call id rewritten is not "removed", and a
/// refusal whose words are not known leaves `api_error` out rather than empty.
#[test]
fn warnings_name_the_repair_made_and_only_the_api_words_known() {
    let ledger = Ledger::new();
    let (cap, _g) = install(&ledger);
    let _turn = toolseq::conversation_span!("c").entered();
    toolseq::user_message!();
    let mut b = serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
        "tools": [{"name": "read_file", "input_schema": {"type": "object"}}],
        "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "functions.read_file:0",
            "name": "read_file", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "functions.read_file:0",
            "content": "text"}]}]});
    let report = Guard::new(&ledger)
        .format(Format::Anthropic)
        .prepare("c", &mut b)
        .unwrap();
    assert_eq!(report.count(Rule::InvalidCallId), 2, "{report}");
    let violations = |cap: &Capture| {
        let mut warns = cap.toolseq_at_least(Level::WARN);
        warns.retain(|w| {
            w.fields.get("message").map(String::as_str) == Some("tool pairing violation")
        });
        warns
    };
    let warns = violations(&cap);
    let actions: Vec<&str> = warns.iter().map(|w| w.fields["action"].as_str()).collect();
    assert_eq!(actions, ["rewrote_call_id", "rewrote_call_id"], "{warns:?}");
    assert!(warns.iter().all(|w| w.fields.contains_key("api_error")));

    // A Chat call without a tool name is reported with no words of the API's to quote.
    let ledger = Ledger::new();
    let (cap, _g) = install(&ledger);
    let _turn = toolseq::conversation_span!("c").entered();
    toolseq::user_message!();
    let mut chat = body(
        Format::Chat,
        &[User("go"), Call("call_1"), Output("call_1")],
    );
    chat["messages"][2]["tool_calls"][0]["function"]["name"] = "".into();
    let report = Guard::new(&ledger).prepare("c", &mut chat).unwrap();
    assert_eq!(report.count(Rule::MalformedItem), 1, "{report}");
    let warns = violations(&cap);
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert_eq!(warns[0].fields["action"], "left");
    assert!(!warns[0].fields.contains_key("api_error"), "{warns:?}");
}
