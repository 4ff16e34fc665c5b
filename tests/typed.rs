//! Typed histories: async-openai's items checked and repaired in place agree with the JSON path
//! on every violation and every change, and serialise to the JSON path's repaired body.
#![cfg(feature = "async-openai")]

use async_openai::types::chat::ChatCompletionRequestMessage;
use async_openai::types::responses::InputItem;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use toolseq::typed::{self, HistoryItem};
use toolseq::{Error, Finding, Format, RepairOptions, Report, Rule};

fn typed_items<T: DeserializeOwned>(items: &[Value]) -> Vec<T> {
    items
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}")))
        .collect()
}

/// Checks and repairs `history` both ways and asserts the two paths agree.
fn agree<T: HistoryItem + std::fmt::Debug>(mut history: Vec<T>, opts: &RepairOptions) -> Report {
    let list = serde_json::to_value(&history).unwrap();
    let key = if T::FORMAT == Format::Chat {
        "messages"
    } else {
        "input"
    };
    let mut body = json!({ key: list });
    let checked = match &opts.model {
        Some(model) => toolseq::check_for(&body, Some(T::FORMAT), model).unwrap(),
        None => {
            let checked = toolseq::check(&body, Some(T::FORMAT)).unwrap();
            assert_eq!(typed::check(&history).violations, checked.violations);
            checked
        }
    };
    let typed_checked = typed::check_with(&history, opts).unwrap();
    assert_eq!(typed_checked.violations, checked.violations);
    assert_eq!(typed_checked.profile, checked.profile);
    assert_eq!(typed_checked.findings, checked.findings);

    let by_json = toolseq::repair(&mut body, Some(T::FORMAT), opts).unwrap();
    let by_type = typed::repair(&mut history, opts).unwrap();
    assert_eq!(by_type.violations, by_json.violations);
    assert_eq!(by_type.changes, by_json.changes, "{body:#}");
    assert_eq!(by_type.items, by_json.items);
    assert_eq!(by_type.detection.format, T::FORMAT);
    assert_eq!(serde_json::to_value(&history).unwrap(), body[key]);
    // Repaired, the typed history leaves nothing repairable, and a second repair changes nothing.
    let again = typed::repair(&mut history, opts).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(!again.violations.iter().any(|v| v.repairable()), "{again}");
    by_type
}

// ---- Responses -------------------------------------------------------------------------------

/// One Responses item for call `c`; `n` makes its item ids unique.
fn responses_item(kind: u8, c: &str, n: usize) -> Value {
    match kind {
        0 => json!({"type": "message", "role": "user", "content": format!("go {n}")}),
        1 => json!({"type": "function_call", "call_id": c, "name": "ls", "arguments": "{}"}),
        2 => json!({"type": "function_call_output", "call_id": c, "output": "ok"}),
        3 => {
            json!({"type": "custom_tool_call", "id": format!("ctc_{n}"), "call_id": c, "name": "patch", "input": "x"})
        }
        4 => json!({"type": "custom_tool_call_output", "call_id": c, "output": "done"}),
        5 => {
            json!({"type": "local_shell_call", "id": format!("lsh_{n}"), "call_id": c, "status": "completed",
                    "action": {"command": ["ls"], "env": {}}})
        }
        6 => json!({"type": "local_shell_call_output", "id": c, "output": "a b"}),
        7 => {
            json!({"type": "mcp_approval_request", "id": c, "name": "rm", "server_label": "fs", "arguments": "{}"})
        }
        8 => json!({"type": "mcp_approval_response", "approval_request_id": c, "approve": true}),
        9 => json!({"type": "shell_call", "call_id": c, "action": {"commands": ["ls"]}}),
        10 => json!({"type": "shell_call_output", "call_id": c, "output": []}),
        11 => json!({"type": "apply_patch_call", "call_id": c, "status": "completed",
                     "operation": {"type": "delete_file", "path": "a.txt"}}),
        12 => json!({"type": "apply_patch_call_output", "call_id": c, "status": "completed"}),
        13 => {
            json!({"type": "tool_search_call", "call_id": c, "execution": "client", "arguments": {}})
        }
        14 => {
            json!({"type": "tool_search_output", "call_id": c, "execution": "client", "tools": []})
        }
        15 => {
            json!({"type": "program", "id": format!("pg_{n}"), "call_id": c, "code": "1", "fingerprint": "f"})
        }
        16 => {
            json!({"type": "program_output", "id": format!("po_{n}"), "call_id": c, "result": "1", "status": "completed"})
        }
        17 => {
            json!({"type": "computer_call", "id": format!("cu_{n}"), "call_id": c, "status": "completed",
                     "action": {"type": "screenshot"}, "pending_safety_checks": []})
        }
        18 => json!({"type": "computer_call_output", "call_id": c,
                     "output": {"type": "computer_screenshot", "image_url": "data:"}}),
        19 => json!({"type": "web_search_call", "id": format!("ws_{n}"), "status": "completed",
                     "action": {"type": "search", "query": "q"}}),
        20 => {
            json!({"type": "message", "role": "assistant", "id": format!("msg_{n}"), "status": "completed",
                     "content": [{"type": "output_text", "text": "hi", "annotations": []}]})
        }
        _ => json!({"type": "function_call", "call_id": "", "name": "ls", "arguments": "{}"}),
    }
}

/// A Responses history without reasoning items: every pairing family, orphans, duplicates,
/// misplaced and missing outputs, an empty call id.
fn wide_responses() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((0u8..22, 0usize..4, any::<bool>()), 0..28).prop_map(|ops| {
        let mut items: Vec<Value> = Vec::new();
        for (n, (kind, c, replay)) in ops.into_iter().enumerate() {
            match items.get(n % 3) {
                // The same item sent twice, ids and all. Not an assistant message: the JSON path
                // drops a replayed message's id, which the typed one requires (tested below).
                Some(earlier) if replay && n % 5 == 0 && earlier["role"] != "assistant" => {
                    items.push(earlier.clone())
                }
                _ => items.push(responses_item(kind, &format!("call_{c}"), n)),
            }
        }
        items
    })
}

/// A Responses history with reasoning items and server ids on function calls and outputs:
/// reasoning without its item, items without their reasoning, replayed reasoning, references.
fn reasoning_responses() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((0u8..6, 0usize..3, 0usize..4), 0..24).prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(n, (kind, c, id))| {
                let c = format!("call_{c}");
                match kind {
                    0 => json!({"type": "message", "role": "user", "content": "go"}),
                    1 => json!({"type": "reasoning", "id": format!("rs_{id}"), "summary": []}),
                    2 => json!({"type": "function_call", "id": format!("fc_{n}"), "call_id": c, "name": "ls", "arguments": "{}"}),
                    3 => json!({"type": "function_call", "id": format!("fc_{id}"), "call_id": c, "name": "ls", "arguments": "{}"}),
                    4 => json!({"type": "function_call_output", "call_id": c, "output": "ok"}),
                    _ => json!({"type": "item_reference", "id": format!("rs_{id}")}),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn typed_responses_agree_with_the_json_path(items in wide_responses()) {
        agree(typed_items::<InputItem>(&items), &RepairOptions::default());
    }

    #[test]
    fn typed_responses_with_reasoning_agree_with_the_json_path(items in reasoning_responses()) {
        agree(typed_items::<InputItem>(&items), &RepairOptions::default());
    }

    #[test]
    fn typed_chat_agrees_with_the_json_path(messages in chat_history(), mistral in any::<bool>()) {
        let opts = if mistral { RepairOptions::default().model("mistral") } else { RepairOptions::default() };
        agree(typed_items::<ChatCompletionRequestMessage>(&messages), &opts);
    }
}

// ---- Chat Completions ------------------------------------------------------------------------

fn tool_call(c: &str, name: &str) -> Value {
    json!({"id": c, "type": "function", "function": {"name": name, "arguments": "{}"}})
}

/// A Chat history: parallel calls, an empty `tool_calls`, nameless and custom calls, duplicate
/// calls and outputs, orphans, interleaved messages, missing outputs.
fn chat_history() -> impl Strategy<Value = Vec<Value>> {
    let call = (0usize..4, 0u8..8).prop_map(|(c, k)| match k {
        0 => tool_call(&format!("call{c}"), ""),
        1 => json!({"id": format!("call{c}"), "type": "custom", "custom_tool": {"name": "p", "input": "x"}}),
        _ => tool_call(&format!("call{c}"), "ls"),
    });
    let message = prop_oneof![
        Just(json!({"role": "user", "content": "go"})),
        Just(json!({"role": "system", "content": "be brief"})),
        Just(json!({"role": "assistant", "content": "thinking aloud"})),
        Just(json!({"role": "assistant", "tool_calls": []})),
        (prop::collection::vec(call, 1..4), any::<bool>()).prop_map(|(calls, text)| {
            let mut m = json!({"role": "assistant", "tool_calls": calls});
            if text {
                m["content"] = json!("let me look");
            }
            m
        }),
        (0usize..5).prop_map(
            |c| json!({"role": "tool", "tool_call_id": format!("call{c}"), "content": "ok"})
        ),
        (0usize..4).prop_map(
            |c| json!({"role": "tool", "tool_call_id": format!("call{c}"), "content": "ok"})
        ),
    ];
    prop::collection::vec(message, 0..16)
}

// ---- Cases the generators do not reach -------------------------------------------------------

#[test]
fn every_responses_family_is_answered_with_its_own_typed_output() {
    for (call, output) in [
        (1, 2),
        (3, 4),
        (5, 6),
        (7, 8),
        (9, 10),
        (11, 12),
        (13, 14),
        (15, 16),
        (17, 18),
    ] {
        let items = [
            responses_item(0, "c", 0),
            responses_item(call, "c", 1),
            responses_item(0, "c", 2),
        ];
        let report = agree(typed_items::<InputItem>(&items), &RepairOptions::default());
        assert_eq!(report.count(Rule::MissingOutput), 1, "{}", items[1]);
        assert_eq!(report.changes.len(), 1);
        let answered = [responses_item(call, "c", 1), responses_item(output, "c", 2)];
        assert!(
            typed::check(&typed_items::<InputItem>(&answered)).is_clean(),
            "{}",
            answered[1]
        );
    }
}

#[test]
fn an_id_the_typed_item_requires_is_kept_and_its_violation_reported() {
    // An assistant message's server id without its reasoning: the JSON path drops the id; the
    // typed `OutputMessage` requires one, so it stays and the report still says so.
    let items = [
        responses_item(0, "", 0),
        json!({"type": "reasoning", "id": "rs_1", "summary": []}),
        json!({"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "ls", "arguments": "{}"}),
        responses_item(2, "c1", 2),
        responses_item(0, "", 3),
        responses_item(20, "", 4),
    ];
    let mut history = typed_items::<InputItem>(&items);
    let before = serde_json::to_value(&history).unwrap();
    let report = typed::repair(&mut history, &RepairOptions::default()).unwrap();
    assert_eq!(report.count(Rule::MissingReasoning), 1);
    assert!(report.changes.is_empty());
    assert_eq!(serde_json::to_value(&history).unwrap(), before);
    // The JSON path, free to drop the id, does.
    let mut body = json!({"input": before});
    let by_json = toolseq::repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert!(matches!(
        &by_json.changes[..],
        [toolseq::Change::Stripped {
            field: "id",
            index: 5,
            ..
        }]
    ));
    assert_eq!(typed::check(&history).count(Rule::MissingReasoning), 1);
}

#[test]
fn a_history_continuing_a_stored_one_keeps_outputs_whose_call_is_stored() {
    let items = [
        responses_item(2, "call_stored", 0),
        responses_item(0, "", 1),
    ];
    let mut history = typed_items::<InputItem>(&items);
    assert_eq!(typed::check(&history).count(Rule::OrphanOutput), 1);
    let stored = RepairOptions::default().server_history(true);
    let report = typed::repair(&mut history, &stored).unwrap();
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(history.len(), 2);
    assert!(
        matches!(&report.findings[..], [Finding::ServerSide { call_id, reason: "server_history", .. }] if call_id == "call_stored"),
        "{:?}",
        report.findings
    );
}

#[test]
fn mistral_ids_are_renamed_on_the_typed_call_and_its_output() {
    let messages = [
        json!({"role": "user", "content": "go"}),
        json!({"role": "assistant", "tool_calls": [tool_call("call_abc_123", "ls")]}),
        json!({"role": "tool", "tool_call_id": "call_abc_123", "content": "ok"}),
    ];
    let report = agree(
        typed_items::<ChatCompletionRequestMessage>(&messages),
        &RepairOptions::default().model("devstral-medium-2512"),
    );
    let renamed = report.renamed_call_ids();
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed["call_abc_123"].len(), 9);
}

/// A Claude history held as JSON values under a typed wrapper: checked, never repaired item by
/// item (its outputs are blocks inside user messages).
#[derive(serde::Serialize)]
struct Claude(Value);

impl HistoryItem for Claude {
    const FORMAT: Format = Format::Anthropic;

    fn read<'a>(&'a self, index: usize, out: &mut toolseq::typed::Entries<'a>) {
        let one =
            toolseq::__private::wire::read_items(std::slice::from_ref(&self.0), Format::Anthropic);
        out.extend(one.entries.into_iter().map(|mut e| {
            e.index = index;
            e.into_owned()
        }));
    }

    fn synthetic(_: toolseq::typed::Family, _: &str, _: &str) -> Option<Self> {
        None
    }
}

#[test]
fn a_typed_history_whose_outputs_are_blocks_is_checked_but_not_repaired() {
    let mut history = vec![
        Claude(json!({"role": "user", "content": "go"})),
        Claude(
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]}),
        ),
        Claude(json!({"role": "user", "content": "stop"})),
    ];
    assert_eq!(typed::check(&history).count(Rule::MissingOutput), 1);
    let err = typed::repair(&mut history, &RepairOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)));
    assert!(err.to_string().contains("anthropic"), "{err}");
    assert_eq!(history.len(), 3);
}

// ---- The guard on typed items, with real tasks and a real subscriber --------------------------

#[test]
fn the_guard_waits_for_a_running_tool_then_builds_the_typed_items_and_answers_an_aborted_one() {
    use std::sync::Arc;
    use std::time::Duration;

    use parking_lot::Mutex;
    use tracing::instrument::WithSubscriber;
    use tracing::Instrument;
    use tracing_subscriber::prelude::*;

    let ledger = toolseq::ledger::Ledger::new();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(tracing_subscriber::EnvFilter::new("warn")),
            )
            .with(toolseq::layer::layer(&ledger)),
    );
    let history: Arc<Mutex<Vec<InputItem>>> = Arc::new(Mutex::new(typed_items(&[
        responses_item(0, "", 0),
        responses_item(1, "call_fast", 1),
        responses_item(1, "call_hung", 2),
    ])));
    let spawn = |call_id: &'static str, millis: u64| {
        let history = history.clone();
        let span = toolseq::tool_call_span!(call_id, "ls", conversation = "conv");
        tokio::spawn(
            async move {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                history
                    .lock()
                    .extend(typed_items::<InputItem>(&[responses_item(2, call_id, 9)]));
                toolseq::tool_output!(call_id);
            }
            .instrument(span)
            .with_subscriber(dispatch.clone()),
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(
        async {
            let fast = spawn("call_fast", 150);
            let hung = spawn("call_hung", 60_000);
            tokio::time::sleep(Duration::from_millis(20)).await;
            hung.abort();
            let _ = hung.await;
            let guard = toolseq::Guard::new(&ledger).settle_timeout(Duration::from_secs(5));
            let (items, report) = guard
                .prepare_items_with_async("conv", || history.lock().clone())
                .await
                .unwrap();
            // The fast tool's real output was waited for; the aborted one is answered as cancelled.
            assert_eq!(report.count(Rule::MissingOutput), 1, "{report}");
            assert!(report.findings.contains(&Finding::Cancelled {
                call_id: "call_hung".into()
            }));
            let sent = serde_json::to_value(&items).unwrap();
            let outputs: Vec<(&str, &str)> = sent
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["type"] == "function_call_output")
                .map(|i| {
                    (
                        i["call_id"].as_str().unwrap(),
                        i["output"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(outputs.len(), 2, "{sent:#}");
            assert!(outputs.contains(&("call_fast", "ok")));
            assert!(outputs
                .iter()
                .any(|(id, text)| *id == "call_hung" && text.starts_with("cancelled")));
            assert!(typed::check(&items).is_clean());
            fast.await.unwrap();
        }
        .with_subscriber(dispatch.clone()),
    );
}

#[cfg(feature = "async-openai")]
#[test]
fn a_typed_history_stores_the_guards_repair_and_the_next_request_needs_none() {
    use async_openai::types::responses::InputItem;
    let ledger = toolseq::ledger::Ledger::new();
    let guard = toolseq::Guard::new(&ledger).settle_timeout(std::time::Duration::ZERO);
    let mut stored: Vec<InputItem> = serde_json::from_value(serde_json::json!([
        {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"},
        {"type": "message", "role": "user", "content": "go on"}]))
    .unwrap();
    let (sent, report) = guard.prepare_items_with("conv", || stored.clone()).unwrap();
    assert_eq!(report.changes.len(), 1);
    report.apply_to_typed(&mut stored).unwrap();
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        serde_json::to_value(&sent).unwrap()
    );
    let (_, again) = guard.prepare_items_with("conv", || stored.clone()).unwrap();
    assert!(again.is_clean(), "{again}");
}
