//! The ledger fed by the tracing layer, under real subscribers.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use toolseq::convention::Convention;
use toolseq::ledger::{CallState, Ledger, LedgerConfig, RecordKind};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// registry + fmt (with a `RUST_LOG`-style filter of its own, writing to a sink) + toolseq.
fn subscriber(ledger: &Ledger, env: &str) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(EnvFilter::new(env)),
        )
        .with(toolseq::layer::layer(ledger))
}

fn kinds(ledger: &Ledger, conv: &str) -> Vec<String> {
    ledger
        .snapshot(conv)
        .map(|s| {
            s.records
                .iter()
                .map(|r| match r.kind.call_id() {
                    Some(id) => format!("{}:{id}", r.kind.name()),
                    None => r.kind.name().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn records_land_in_order_with_inherited_conversation_even_when_rust_log_is_error() {
    let ledger = Ledger::new();
    tracing::subscriber::with_default(subscriber(&ledger, "error"), || {
        let turn = tracing::info_span!("turn", gen_ai.conversation.id = "c1");
        let _t = turn.enter();
        toolseq::user_message!();
        let outer = tracing::info_span!("dispatch"); // carries nothing: skipped on the way up
        let _o = outer.enter();
        {
            let a = toolseq::tool_call_span!("call_a", "shell");
            let _a = a.enter();
            toolseq::tool_output!("call_a");
        }
        let b = toolseq::tool_call_span!("call_b", "apply_patch", family = "custom");
        {
            let _b = b.enter();
            toolseq::user_message!(); // typed while call_b runs
            toolseq::interrupt!();
        }
        drop(b); // closed with no output
        let _r = toolseq::model_request_span!("gpt-5");
    });
    assert_eq!(
        kinds(&ledger, "c1"),
        [
            "user_message",
            "call_started:call_a",
            "output:call_a",
            "call_started:call_b",
            "user_message",
            "interrupt",
            "call_cancelled:call_b",
            "model_request"
        ]
    );
    let snap = ledger.snapshot("c1").unwrap();
    assert_eq!(snap.calls["call_a"].state, CallState::Answered);
    assert_eq!(snap.calls["call_b"].state, CallState::Cancelled);
    assert_eq!(snap.calls["call_b"].tool.as_deref(), Some("apply_patch"));
    assert!(
        matches!(&snap.records[4].kind, RecordKind::UserMessage { during } if during.len() == 1 && &*during[0] == "call_b")
    );
    assert!(ledger.snapshot("default").is_none());
}

/// An output event inside a call span spares the span's closing a trip to the ledger only when
/// it answered that span's own call in that span's conversation; otherwise the closing still
/// cancels the call.
#[test]
fn a_call_span_is_still_ended_when_the_output_inside_it_answered_something_else() {
    let ledger = Ledger::new();
    tracing::subscriber::with_default(subscriber(&ledger, "error"), || {
        let turn = toolseq::conversation_span!("c");
        let _t = turn.enter();
        {
            let a = toolseq::tool_call_span!("call_a", "shell");
            let _a = a.enter();
            toolseq::tool_output!("call_a");
        }
        {
            // Another call's output, reported from inside call_b's span.
            let b = toolseq::tool_call_span!("call_b", "shell");
            let _b = b.enter();
            toolseq::tool_output!("call_other");
        }
        {
            // call_d's output (the event names no call: it is the span's), but recorded in a
            // conversation nested inside the span.
            let d = toolseq::tool_call_span!("call_d", "shell");
            let _d = d.enter();
            let side = toolseq::conversation_span!("side");
            let _s = side.enter();
            tracing::info!(toolseq.event = "tool_output", "done");
        }
        {
            // An output naming no call answers the span's own.
            let e = toolseq::tool_call_span!("call_e", "shell");
            let _e = e.enter();
            tracing::info!(toolseq.event = "tool_output", "done");
        }
    });
    assert_eq!(
        kinds(&ledger, "c"),
        [
            "call_started:call_a",
            "output:call_a",
            "call_started:call_b",
            "output:call_other",
            "call_cancelled:call_b",
            "call_started:call_d",
            "call_cancelled:call_d",
            "call_started:call_e",
            "output:call_e",
        ]
    );
    assert_eq!(kinds(&ledger, "side"), ["output:call_d"]);
}

/// The layer notes on the span when its call's output is recorded, so that the span closing
/// need not ask the ledger. An output recorded in another conversation than the call's must not
/// be taken for it, even when that conversation is only known after the walk passed the span.
#[test]
fn an_output_in_another_conversation_leaves_its_call_to_be_cancelled() {
    let ledger = Ledger::new();
    tracing::subscriber::with_default(subscriber(&ledger, "error"), || {
        {
            // The event names the other conversation itself.
            let turn = toolseq::conversation_span!("c");
            let _t = turn.enter();
            let f = toolseq::tool_call_span!("call_f", "shell");
            let _f = f.enter();
            tracing::info!(
                toolseq.event = "tool_output",
                gen_ai.conversation.id = "side",
                "done"
            );
        }
        {
            // The span around the call learns its conversation after the call started there
            // with none: the output lands in it, the call stays in the default one.
            let turn = tracing::info_span!("turn", gen_ai.conversation.id = tracing::field::Empty);
            let _t = turn.enter();
            let g = toolseq::tool_call_span!("call_g", "shell");
            let _g = g.enter();
            turn.record("gen_ai.conversation.id", "late");
            toolseq::tool_output!("call_g");
        }
        {
            // The same, with no conversation anywhere: the output answers the call.
            let turn = tracing::info_span!("turn", gen_ai.conversation.id = tracing::field::Empty);
            let _t = turn.enter();
            let h = toolseq::tool_call_span!("call_h", "shell");
            let _h = h.enter();
            toolseq::tool_output!("call_h");
        }
    });
    assert_eq!(
        kinds(&ledger, "c"),
        ["call_started:call_f", "call_cancelled:call_f"]
    );
    assert_eq!(kinds(&ledger, "side"), ["output:call_f"]);
    assert_eq!(kinds(&ledger, "late"), ["output:call_g"]);
    assert_eq!(
        kinds(&ledger, "default"),
        [
            "call_started:call_g",
            "call_cancelled:call_g",
            "call_started:call_h",
            "output:call_h"
        ]
    );
}

#[test]
fn a_global_filter_would_blind_the_ledger() {
    // The documented mistake: `EnvFilter` on the whole registry drops toolseq's spans.
    let ledger = Ledger::new();
    let blind = tracing_subscriber::registry()
        .with(toolseq::layer::layer(&ledger))
        .with(EnvFilter::new("error"));
    tracing::subscriber::with_default(blind, || {
        let _a = toolseq::tool_call_span!("call_a", "shell").entered();
    });
    assert!(ledger.snapshot("default").is_none());
}

#[test]
fn client_names_are_mapped_and_odd_input_never_panics() {
    let ledger = Ledger::new();
    let conv = Convention::default()
        .call_span("handle_function_call")
        .call_id_field("call_id")
        .conversation_field("conversation_id");
    let sub = tracing_subscriber::registry().with(toolseq::layer::layer_with(&ledger, conv));
    tracing::subscriber::with_default(sub, || {
        let s = tracing::info_span!(
            "handle_function_call",
            call_id = "x1",
            conversation_id = "cx"
        );
        let _e = s.enter();
        toolseq::tool_output!("x1");
        drop(_e);
        drop(s);
        // A numeric id, an id recorded after creation, an id-less span and a quoted `?` id.
        let n = tracing::info_span!(
            "handle_function_call",
            call_id = 42u64,
            conversation_id = "cx"
        );
        let late = tracing::info_span!(
            "handle_function_call",
            call_id = tracing::field::Empty,
            conversation_id = "cx"
        );
        late.record("call_id", "late_1");
        let none = tracing::info_span!("handle_function_call", conversation_id = "cx");
        let quoted =
            tracing::info_span!("handle_function_call", call_id = ?"q1", conversation_id = "cx");
        // Closed out of creation order.
        drop(none);
        drop(late);
        drop(quoted);
        drop(n);
        // An output event with no call span and no id at all is ignored.
        tracing::info!(toolseq.event = "tool_output", "orphan event");
        tracing::info!(toolseq.event = "not-a-kind", "ignored");
    });
    let snap = ledger.snapshot("cx").unwrap();
    assert_eq!(snap.calls["x1"].state, CallState::Answered);
    for id in ["late_1", "q1"] {
        assert_eq!(snap.calls[id].state, CallState::Cancelled, "{id}");
    }
    // A numeric id is read as its decimal text.
    assert_eq!(snap.calls["42"].state, CallState::Cancelled);
}

#[test]
fn aborted_tokio_task_leaves_its_call_cancelled() {
    let ledger = Ledger::new();
    let _g = tracing::subscriber::set_default(subscriber(&ledger, "warn"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        use tracing::Instrument;
        let long = tokio::spawn(
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                toolseq::tool_output!("call_slow");
            }
            .instrument(toolseq::tool_call_span!("call_slow", "shell")),
        );
        let quick = tokio::spawn(
            async { toolseq::tool_output!("call_fast") }
                .instrument(toolseq::tool_call_span!("call_fast", "shell")),
        );
        quick.await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(ledger.running("default"), ["call_slow"]);
        long.abort();
        assert!(long.await.unwrap_err().is_cancelled());
    });
    let snap = ledger.snapshot("default").unwrap();
    assert_eq!(snap.calls["call_slow"].state, CallState::Cancelled);
    assert_eq!(snap.calls["call_fast"].state, CallState::Answered);
}

#[test]
fn dropped_future_leaves_its_call_cancelled() {
    let ledger = Ledger::new();
    let _g = tracing::subscriber::set_default(subscriber(&ledger, "warn"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        use tracing::Instrument;
        let tool = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            toolseq::tool_output!("call_1");
        }
        .instrument(toolseq::tool_call_span!("call_1", "shell", conversation = "c"));
        // The user interrupts: the select drops the tool future.
        tokio::select! {
            _ = tool => unreachable!(),
            _ = tokio::time::sleep(Duration::from_millis(5)) => toolseq::interrupt!(conversation = "c"),
        }
    });
    assert_eq!(
        kinds(&ledger, "c"),
        ["call_started:call_1", "call_cancelled:call_1", "interrupt"]
    );
}

#[test]
fn waiter_wakes_when_the_last_call_settles_and_times_out_otherwise() {
    let ledger = Ledger::new();
    ledger.call_started("c", "a", None, None);
    ledger.call_started("c", "b", None, None);
    let t0 = Instant::now();
    assert!(!ledger.wait_settled("c", Duration::from_millis(30)));
    assert!(t0.elapsed() >= Duration::from_millis(30));

    let l2 = ledger.clone();
    let settler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        l2.output_recorded("c", "a");
        std::thread::sleep(Duration::from_millis(20));
        l2.call_ended("c", "b", false);
    });
    let t0 = Instant::now();
    assert!(ledger.wait_settled("c", Duration::from_secs(10)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(40) && took < Duration::from_secs(5),
        "{took:?}"
    );
    settler.join().unwrap();
    assert!(ledger.wait_settled("unknown", Duration::ZERO));
}

#[test]
fn async_waiter_wakes_and_times_out_without_a_runtime_timer() {
    let ledger = Ledger::new();
    ledger.call_started("c", "a", None, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap(); // no time driver
    let t0 = Instant::now();
    assert!(!rt.block_on(ledger.settled("c", Some(Duration::from_millis(30)))));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let l2 = ledger.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        l2.output_recorded("c", "a");
    });
    assert!(rt.block_on(ledger.settled("c", Some(Duration::from_secs(10)))));
}

#[test]
fn stress_many_threads_many_conversations_within_caps() {
    let cfg = LedgerConfig {
        max_records: 64,
        max_conversations: 50,
        max_id_len: 16,
    };
    let ledger = Ledger::with_config(cfg);
    let threads = 4;
    let per_thread = 3000;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let ledger = ledger.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let sub = tracing_subscriber::registry().with(toolseq::layer::layer(&ledger));
                tracing::subscriber::with_default(sub, || {
                    barrier.wait();
                    for i in 0..per_thread {
                        // 20 hot conversations fill their record cap; a stream of cold ones
                        // pushes the least recently used out.
                        let conv = if i % 4 == 0 {
                            format!("cold-{}", (i + t) % 200)
                        } else {
                            format!("hot-{}", i % 20)
                        };
                        let id = format!("call-{t}-{i}-padding-beyond-the-cap");
                        let span = toolseq::tool_call_span!(id, "t", conversation = conv);
                        if i % 3 != 0 {
                            let _e = span.enter();
                            toolseq::tool_output!(id, conversation = conv);
                        }
                        drop(span);
                        if i % 10 == 0 {
                            toolseq::user_message!(conversation = conv);
                        }
                    }
                });
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = ledger.stats();
    assert!(stats.conversations <= 50, "{stats:?}");
    assert!(stats.records <= 50 * 64, "{stats:?}");
    assert!(
        stats.evicted_conversations > 0 && stats.evicted_records > 0,
        "{stats:?}"
    );
    assert!(stats.truncated_ids > 0);
    // No lost record: each call gives a start and an output or a cancellation, plus one user
    // message every tenth call; each is held or counted as evicted.
    let emitted = threads * (2 * per_thread + per_thread / 10);
    assert_eq!(
        stats.records as u64 + stats.evicted_records,
        emitted as u64,
        "{stats:?}"
    );
    // Every record is accounted for: held, evicted with its record cap, or gone with an evicted
    // conversation; and nothing is left running.
    for conv in ledger.conversations() {
        let snap = ledger.snapshot(&conv).unwrap();
        assert!(snap.running().is_empty(), "{conv}");
        assert!(snap.calls.keys().all(|k| k.len() <= 16));
        let seqs: Vec<u64> = snap.records.iter().map(|r| r.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "records out of order in {conv}"
        );
    }
}

#[test]
fn running_calls_are_never_evicted_and_dump_is_json_lines() {
    let ledger = Ledger::with_config(LedgerConfig {
        max_records: 4,
        ..LedgerConfig::default()
    });
    ledger.call_started("c", "keep", None, None);
    for i in 0..20 {
        ledger.call_started("c", &format!("x{i}"), None, None);
        ledger.output_recorded("c", &format!("x{i}"));
    }
    let snap = ledger.snapshot("c").unwrap();
    assert!(snap.records.len() <= 4);
    assert_eq!(snap.running(), ["keep"]);
    assert!(
        matches!(&snap.records[0].kind, RecordKind::CallStarted { call_id, .. } if &**call_id == "keep")
    );
    let mut buf = Vec::new();
    let n = ledger.dump_jsonl("c", &mut buf).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    assert_eq!(lines[0]["event"], "call_started");
    assert_eq!(lines[0]["call_id"], "keep");
    assert_eq!(lines[0]["conversation"], "c");
}

#[test]
fn a_settled_call_is_forgotten_when_its_first_record_goes_and_not_before() {
    let ledger = Ledger::with_config(LedgerConfig {
        max_records: 3,
        ..LedgerConfig::default()
    });
    let tracked = |ids: &[&str]| {
        let snap = ledger.snapshot("c").unwrap();
        let mut held: Vec<&str> = snap.calls.keys().map(String::as_str).collect();
        held.sort_unstable();
        assert_eq!(held, ids, "records: {:?}", kinds(&ledger, "c"));
    };
    // A call answered and one known only by its output.
    ledger.call_started("c", "a", Some("shell"), None);
    ledger.output_recorded("c", "a");
    ledger.output_recorded("c", "b");
    tracked(&["a", "b"]);
    // a's start goes: a is forgotten, though its output record stays.
    ledger.model_request("c");
    assert_eq!(
        kinds(&ledger, "c"),
        ["output:a", "output:b", "model_request"]
    );
    tracked(&["b"]);
    ledger.model_request("c");
    tracked(&["b"]);
    // b's only record goes.
    ledger.model_request("c");
    tracked(&[]);
    // A running call's start stays at the front while later records go past it.
    ledger.call_started("c", "r", None, None);
    ledger.note_repaired("c", "z");
    for _ in 0..3 {
        ledger.model_request("c");
    }
    assert_eq!(
        kinds(&ledger, "c"),
        ["call_started:r", "model_request", "model_request"]
    );
    tracked(&["r"]);
    // Cancelled, its start is the oldest record to go, and the call with it.
    ledger.call_ended("c", "r", false);
    assert_eq!(
        kinds(&ledger, "c"),
        ["model_request", "model_request", "call_cancelled:r"]
    );
    tracked(&[]);
}

#[test]
fn a_tool_name_is_kept_once_for_all_its_calls() {
    let ledger = Ledger::new();
    let sub = tracing_subscriber::registry().with(toolseq::layer::layer(&ledger));
    tracing::subscriber::with_default(sub, || {
        for id in ["t1", "t2"] {
            let span = toolseq::tool_call_span!(id, "shell");
            span.in_scope(|| toolseq::tool_output!(id));
        }
        // The tool named at creation, the call id recorded later.
        let late = tracing::info_span!(
            "execute_tool",
            gen_ai.tool.name = "apply_patch",
            gen_ai.tool.call.id = tracing::field::Empty
        );
        late.record("gen_ai.tool.call.id", "t3");
        // An id longer than any buffer the layer keeps is cut like any other.
        let long = "x".repeat(10_000);
        drop(toolseq::tool_call_span!(long, "shell"));
    });
    let snap = ledger.snapshot("default").unwrap();
    let tool = |id: &str| snap.calls[id].tool.clone().unwrap();
    assert!(Arc::ptr_eq(&tool("t1"), &tool("t2")));
    assert_eq!(&*tool("t3"), "apply_patch");
    let cut = "x".repeat(ledger.config().max_id_len);
    assert_eq!(&*tool(&cut), "shell");
    assert_eq!(snap.calls[cut.as_str()].state, CallState::Cancelled);
    // More names than the ledger keeps shared: each call still has its own.
    for i in 0..3000 {
        ledger.call_started("many", &format!("c{i}"), Some(&format!("tool{i}")), None);
    }
    let snap = ledger.snapshot("many").unwrap();
    for i in [0, 1023, 1024, 2999] {
        assert_eq!(
            snap.calls[&format!("c{i}")].tool.as_deref(),
            Some(&*format!("tool{i}"))
        );
    }
}

#[test]
fn two_layers_read_one_callsite_each_by_its_own_convention() {
    // One callsite, seen by a layer whose convention names it and by one whose does not: what
    // either made of it must not leak into the other, alone or side by side, on one thread.
    fn job(id: &str) {
        drop(tracing::info_span!("run_job", job.ref = %id));
    }
    let named = || {
        Convention::default()
            .call_span("run_job")
            .call_id_field("job.ref")
    };
    let (a, b) = (Ledger::new(), Ledger::new());
    let only_a = tracing_subscriber::registry().with(toolseq::layer::layer_with(&a, named()));
    tracing::subscriber::with_default(only_a, || job("j1"));
    let only_b = tracing_subscriber::registry().with(toolseq::layer::layer(&b));
    tracing::subscriber::with_default(only_b, || job("j2"));
    let both = tracing_subscriber::registry()
        .with(toolseq::layer::layer(&b))
        .with(toolseq::layer::layer_with(&a, named()));
    tracing::subscriber::with_default(both, || job("j3"));
    // A span that closes unanswered leaves its call cancelled.
    assert_eq!(
        kinds(&a, "default"),
        [
            "call_started:j1",
            "call_cancelled:j1",
            "call_started:j3",
            "call_cancelled:j3"
        ]
    );
    assert!(
        kinds(&b, "default").is_empty(),
        "{:?}",
        kinds(&b, "default")
    );
}

#[test]
fn three_ledgers_on_one_registry_each_keep_every_call() {
    // Three toolseq layers read the same spans (one ledger per agent, say): each keeps its own
    // state in the span, where a second state of one type used to panic the program's tracing.
    let (a, b, c) = (Ledger::new(), Ledger::new(), Ledger::new());
    let all = tracing_subscriber::registry()
        .with(toolseq::layer::layer(&a))
        .with(toolseq::layer::layer(&b))
        .with(toolseq::layer::layer(&c));
    tracing::subscriber::with_default(all, || {
        let answered = toolseq::tool_call_span!("call_1", "shell");
        answered.in_scope(|| toolseq::tool_output!("call_1"));
        drop(answered);
        // The id arrives by `record`, after the span started; the span closes unanswered.
        let late = tracing::info_span!("execute_tool", gen_ai.tool.call.id = tracing::field::Empty);
        late.record("gen_ai.tool.call.id", "call_2");
        drop(late);
    });
    for ledger in [&a, &b, &c] {
        assert_eq!(
            kinds(ledger, "default"),
            [
                "call_started:call_1",
                "output:call_1",
                "call_started:call_2",
                "call_cancelled:call_2"
            ]
        );
    }
}
