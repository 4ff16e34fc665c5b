//! Table-driven checks per format and per rule, and the exact shape of each repair.

use serde_json::{json, Value};
use toolseq::{check, repair, Change, Format, RepairOptions, Rule};

struct Case {
    name: &'static str,
    format: Format,
    body: Value,
    /// (rule, call id, index) in document order.
    expect: &'static [(Rule, &'static str, usize)],
}

fn fc(id: &str) -> Value {
    json!({"type": "function_call", "call_id": id, "name": "shell", "arguments": "{}"})
}
fn fco(id: &str) -> Value {
    json!({"type": "function_call_output", "call_id": id, "output": "ok"})
}
fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}
fn asst_calls(ids: &[&str]) -> Value {
    let calls: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}}))
        .collect();
    json!({"role": "assistant", "content": null, "tool_calls": calls})
}
fn tool(id: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": "ok"})
}
fn tool_use(ids: &[&str]) -> Value {
    let blocks: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "tool_use", "id": id, "name": "f", "input": {}}))
        .collect();
    json!({"role": "assistant", "content": blocks})
}
fn results(ids: &[&str], text: Option<&str>) -> Value {
    let mut blocks: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": "ok"}))
        .collect();
    if let Some(t) = text {
        blocks.push(json!({"type": "text", "text": t}));
    }
    json!({"role": "user", "content": blocks})
}

fn cases() -> Vec<Case> {
    use Format::*;
    use Rule::*;
    vec![
        Case {
            name: "responses: clean parallel calls answered out of order",
            format: Responses,
            body: json!({"input": [user("hi"), fc("a"), fc("b"), fco("b"), fco("a")]}),
            expect: &[],
        },
        Case {
            name: "responses: interrupted local_shell_call followed by a user message",
            format: Responses,
            body: json!({"input": [
                user("run it"),
                {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "status": "in_progress",
                 "action": {"type": "exec", "command": ["sleep", "100"]}},
                user("stop, do something else")]}),
            expect: &[(MissingOutput, "call_1", 1)],
        },
        Case {
            name: "responses: function_call_output answering a local_shell_call is not an orphan",
            format: Responses,
            body: json!([
                {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "action": {}},
                {"type": "function_call_output", "call_id": "call_1", "output": "done"}]),
            expect: &[],
        },
        Case {
            name: "responses: local shell output keyed by item id instead of call_id",
            format: Responses,
            body: json!([
                {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "action": {}},
                {"type": "function_call_output", "call_id": "lsh_1", "output": "done"}]),
            expect: &[(MissingOutput, "call_1", 0), (OrphanOutput, "lsh_1", 1)],
        },
        Case {
            name: "responses: mix of function, custom and local shell calls with an orphan",
            format: Responses,
            body: json!([
                fc("f1"),
                {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin"},
                {"type": "local_shell_call", "id": "lsh", "call_id": "s1", "action": {}},
                fco("f1"),
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "ok"},
                {"type": "function_call_output", "call_id": "s1", "output": "ok"},
                {"type": "function_call_output", "call_id": "gone", "output": "ok"}]),
            expect: &[(OrphanOutput, "gone", 6)],
        },
        Case {
            name: "responses: server-executed tool_search_output needs no call",
            format: Responses,
            body: json!([
                {"type": "tool_search_output", "execution": "server", "call_id": null, "tools": []},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"}]),
            expect: &[],
        },
        Case {
            name: "responses: client tool_search pairs",
            format: Responses,
            body: json!([
                {"type": "tool_search_call", "call_id": "ts1", "execution": "client", "arguments": {}},
                {"type": "tool_search_output", "call_id": "ts1", "execution": "client", "tools": []},
                {"type": "tool_search_call", "call_id": "ts2", "execution": "client", "arguments": {}}]),
            expect: &[(MissingOutput, "ts2", 2)],
        },
        Case {
            name: "responses: custom output answering a function call is a kind_mismatch",
            format: Responses,
            body: json!([fc("a"), {"type": "custom_tool_call_output", "call_id": "a", "output": "x"}]),
            expect: &[(MissingOutput, "a", 0), (KindMismatch, "a", 1)],
        },
        Case {
            name: "responses: output with empty and with absent call_id",
            format: Responses,
            body: json!([fc("a"), {"type": "function_call_output", "call_id": "", "output": "x"},
                         {"type": "function_call_output", "output": "x"}, fco("a")]),
            expect: &[(EmptyCallId, "", 1), (EmptyCallId, "", 2)],
        },
        // OpenAI pairs by `call_id`: an output after a later message is accepted (the
        // DeepSeek profile below refuses it).
        Case {
            name: "responses: user message between call and output",
            format: Responses,
            body: json!([fc("a"), user("hurry"), fco("a")]),
            expect: &[],
        },
        Case {
            name: "responses: output before its call, duplicates",
            format: Responses,
            body: json!([fco("a"), fc("a"), fc("b"), fco("b"), fco("b"), fc("b")]),
            // The second call `b` is another call under a used id, answered by nothing.
            expect: &[(OutputBeforeCall, "a", 0), (DuplicateOutput, "b", 4), (ReusedCallId, "b", 5),
                      (MissingOutput, "b", 5)],
        },
        Case {
            name: "responses: malformed items",
            format: Responses,
            body: json!([42, {"foo": 1}, {"type": 7}, {"type": "function_call", "call_id": 12}, "text"]),
            expect: &[(MalformedItem, "", 0), (MalformedItem, "", 1), (MalformedItem, "", 2),
                      (MalformedItem, "", 3), (MalformedItem, "", 4)],
        },
        Case {
            name: "chat: clean parallel calls answered out of order",
            format: Chat,
            body: json!({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                        asst_calls(&["a", "b"]), tool("b"), tool("a"), {"role": "assistant", "content": "done"}]}),
            expect: &[],
        },
        Case {
            name: "chat: interrupted call then a user message",
            format: Chat,
            body: json!({"messages": [{"role": "user", "content": "u"}, asst_calls(&["a", "b"]), tool("a"),
                        {"role": "user", "content": "stop"}]}),
            expect: &[(MissingOutput, "b", 1)],
        },
        Case {
            name: "chat: output after an intervening user message",
            format: Chat,
            body: json!({"messages": [asst_calls(&["a"]), {"role": "user", "content": "x"}, tool("a")]}),
            expect: &[(InterleavedMessage, "a", 2)],
        },
        Case {
            name: "chat: results of an older turn re-sent, orphan tool message",
            format: Chat,
            body: json!({"messages": [asst_calls(&["a"]), tool("a"), asst_calls(&["b"]), tool("b"), tool("a"), tool("zz")]}),
            expect: &[(DuplicateOutput, "a", 4), (OrphanOutput, "zz", 5)],
        },
        Case {
            name: "chat: two assistant messages in a row each with calls",
            format: Chat,
            body: json!({"messages": [asst_calls(&["a"]), asst_calls(&["b"]), tool("a"), tool("b")]}),
            expect: &[(InterleavedMessage, "a", 2)],
        },
        Case {
            name: "chat: empty tool_call_id, malformed tool_calls (the first also has no function name)",
            format: Chat,
            body: json!({"messages": [{"role": "assistant", "tool_calls": [{"id": ""}, 5]}, tool(""),
                        {"role": "assistant", "tool_calls": "x"}, {"content": "no role"}]}),
            expect: &[(EmptyCallId, "", 0), (MalformedItem, "", 0), (MalformedItem, "", 0),
                      (EmptyCallId, "", 1), (MalformedItem, "", 2), (MalformedItem, "", 3)],
        },
        Case {
            name: "anthropic: clean, parallel results out of order, text after results",
            format: Anthropic,
            body: json!({"system": "s", "messages": [{"role": "user", "content": "u"}, tool_use(&["a", "b"]),
                         results(&["b", "a"], Some("and also"))]}),
            expect: &[],
        },
        Case {
            name: "anthropic: interrupted tool_use then a user message",
            format: Anthropic,
            body: json!({"messages": [tool_use(&["a"]), {"role": "user", "content": "stop"}]}),
            expect: &[(MissingOutput, "a", 0)],
        },
        Case {
            name: "anthropic: tool_result not first in its user message",
            format: Anthropic,
            body: json!({"messages": [tool_use(&["a"]), {"role": "user", "content": [
                {"type": "text", "text": "first"}, {"type": "tool_result", "tool_use_id": "a", "content": "x"}]}]}),
            expect: &[(InterleavedMessage, "a", 1)],
        },
        Case {
            name: "anthropic: result two messages later, unknown id, duplicate result and duplicate tool_use",
            format: Anthropic,
            body: json!({"messages": [tool_use(&["a", "b"]), results(&["a"], None), tool_use(&["c", "c"]),
                         results(&["c", "c", "b", "nope"], None)]}),
            // Two parallel calls under one id, each answered by one of the two results.
            expect: &[(ReusedCallId, "c", 2), (InterleavedMessage, "b", 3), (OrphanOutput, "nope", 3)],
        },
    ]
}

fn found(body: &Value, format: Format) -> Vec<(Rule, String, usize)> {
    check(body, Some(format))
        .unwrap()
        .violations
        .iter()
        .map(|v| (v.rule, v.call_id.clone().unwrap_or_default(), v.index))
        .collect()
}

#[test]
fn every_case_finds_exactly_its_violations() {
    for case in cases() {
        let want: Vec<(Rule, String, usize)> = case
            .expect
            .iter()
            .map(|&(r, id, i)| (r, id.to_owned(), i))
            .collect();
        assert_eq!(found(&case.body, case.format), want, "{}", case.name);
        // Detection agrees with the table's format.
        let detected = check(&case.body, None).unwrap().detection.format;
        assert_eq!(detected, case.format, "{}: detected", case.name);
    }
}

#[test]
fn every_case_repairs_to_clean_and_repair_is_idempotent() {
    for case in cases() {
        let mut body = case.body.clone();
        let report = repair(&mut body, Some(case.format), &RepairOptions::default()).unwrap();
        let left: Vec<_> = check(&body, Some(case.format))
            .unwrap()
            .violations
            .into_iter()
            .filter(|v| v.repairable())
            .collect();
        assert!(left.is_empty(), "{}: left {left:?}\n{body:#}", case.name);
        if case.expect.is_empty() {
            assert_eq!(body, case.body, "{}: clean body touched", case.name);
            assert!(report.changes.is_empty());
        }
        let once = body.clone();
        repair(&mut body, Some(case.format), &RepairOptions::default()).unwrap();
        assert_eq!(body, once, "{}: second repair changed the body", case.name);
    }
}

#[test]
fn responses_repair_inserts_after_call_and_moves_output_up() {
    let mut body = json!({"input": [user("go"),
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "action": {}},
        user("stop"), fc("f"), fco("f"),
        {"type": "custom_tool_call", "call_id": "c", "name": "p", "input": ""}]});
    let opts = RepairOptions::default().missing_text("interrupted");
    let report = repair(&mut body, None, &opts).unwrap();
    assert_eq!(
        body["input"],
        json!([user("go"),
            {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "action": {}},
            {"type": "function_call_output", "call_id": "call_1", "output": "interrupted"},
            user("stop"), fc("f"), fco("f"),
            {"type": "custom_tool_call", "call_id": "c", "name": "p", "input": ""},
            {"type": "custom_tool_call_output", "call_id": "c", "output": "interrupted"}])
    );
    assert_eq!(report.changes.len(), 2);
}

/// DeepSeek's Responses endpoint pairs by position: a hook's developer message between a call
/// and its output (deepseek-ai/DeepSeek-V3#1588, Codex with deepseek-v4-pro) and a reasoning
/// item between parallel calls are refused with `No tool output found for tool call call_…`;
/// OpenAI accepts both bodies. Parallel calls followed by their outputs, in any order, are
/// accepted by both.
#[test]
fn deepseek_responses_pairs_by_position_where_openai_pairs_by_id() {
    let developer = json!({"type": "message", "role": "developer", "content": "hook context"});
    let reasoning = json!({"type": "reasoning", "summary": [], "encrypted_content": "e"});
    let cases = [
        (
            json!([user("go"), fc("a"), developer.clone(), fco("a")]),
            vec![(Rule::InterleavedMessage, "a".to_owned(), 3)],
        ),
        (
            json!([
                user("go"),
                reasoning.clone(),
                fc("a"),
                reasoning.clone(),
                fc("b"),
                fco("a"),
                fco("b")
            ]),
            vec![(Rule::InterleavedMessage, "a".to_owned(), 5)],
        ),
        (
            json!([
                user("go"),
                reasoning.clone(),
                fc("a"),
                fc("b"),
                fco("b"),
                fco("a"),
                user("next")
            ]),
            vec![],
        ),
    ];
    for (items, want) in cases {
        let body = json!({"model": "deepseek-v4-pro", "input": items});
        let openai = json!({"model": "gpt-5", "input": items});
        assert!(check(&openai, None).unwrap().is_clean(), "{openai:#}");
        let report = check(&body, None).unwrap();
        assert_eq!(
            report.profile.as_ref().unwrap().profile,
            toolseq::Profile::DeepseekResponses
        );
        let got: Vec<_> = report
            .violations
            .iter()
            .map(|v| (v.rule, v.call_id.clone().unwrap_or_default(), v.index))
            .collect();
        assert_eq!(got, want, "{body:#}");
        let mut fixed = body.clone();
        let report = repair(&mut fixed, None, &RepairOptions::default()).unwrap();
        assert!(check(&fixed, None).unwrap().is_clean(), "{fixed:#}");
        if want.is_empty() {
            assert_eq!(fixed, body);
            assert!(report.changes.is_empty());
        }
        // Nothing the client sent is lost: the repair only moves outputs.
        assert_eq!(
            fixed["input"].as_array().unwrap().len(),
            items.as_array().unwrap().len()
        );
    }
}

#[test]
fn removed_items_are_returned_whole() {
    let mut body = json!([fc("a"), fco("a"), fco("a"), fco("ghost")]);
    let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert_eq!(body, json!([fc("a"), fco("a")]));
    let removed: Vec<(Rule, Value)> = report
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Removed { rule, item, .. } => Some((*rule, item.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        vec![
            (Rule::DuplicateOutput, fco("a")),
            (Rule::OrphanOutput, fco("ghost"))
        ]
    );
}

#[test]
fn chat_repair_answers_in_call_order_right_after_the_assistant_message() {
    let mut body = json!({"messages": [{"role": "user", "content": "u"}, asst_calls(&["a", "b", "c"]),
        tool("b"), {"role": "user", "content": "stop"}, tool("a")]});
    repair(&mut body, None, &RepairOptions::default()).unwrap();
    let ids: Vec<String> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["role"].as_str().unwrap(),
                m["tool_call_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        ids,
        ["user:", "assistant:", "tool:b", "tool:a", "tool:c", "user:"]
    );
    assert_eq!(body["messages"][4]["content"], "aborted");
}

#[test]
fn anthropic_repair_puts_results_first_in_the_next_user_message() {
    let mut body =
        json!({"messages": [tool_use(&["a", "b"]), {"role": "user", "content": "stop"}]});
    repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "aborted", "is_error": true},
            {"type": "tool_result", "tool_use_id": "b", "content": "aborted", "is_error": true},
            {"type": "text", "text": "stop"}]})
    );
    assert_eq!(
        body["messages"].as_array().unwrap().len(),
        2,
        "no second user message"
    );

    // Anthropic combines consecutive messages of one role into one turn: a result after the
    // call's message and an assistant text message is in the very next turn, and accepted.
    let merged = json!({"messages": [tool_use(&["a"]), {"role": "assistant", "content": "hm"}, results(&["a"], None)]});
    let mut body = merged.clone();
    let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert!(
        report.violations.is_empty() && report.changes.is_empty(),
        "{report}"
    );
    assert_eq!(body, merged);
    // A user message between them is a turn of its own: the result sent late moves up, first
    // in the next user message.
    let mut body = json!({"messages": [tool_use(&["a"]), {"role": "user", "content": "hm"},
                                       {"role": "assistant", "content": "ok"}, results(&["a"], None)]});
    let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert_eq!(report.violations[0].rule, toolseq::Rule::InterleavedMessage);
    assert_eq!(body["messages"][1]["content"][0]["tool_use_id"], "a");
    assert!(check(&body, None).unwrap().is_clean());
}

#[test]
fn api_errors_name_ids_and_positions() {
    let body = json!({"messages": [{"role": "user", "content": "u"}, tool_use(&["toolu_X"]), {"role": "user", "content": "x"}]});
    let r = check(&body, None).unwrap();
    assert_eq!(
        r.api_error(&r.violations[0]).unwrap(),
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_X. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    );
    let body = json!({"messages": [asst_calls(&["call_X"]), {"role": "user", "content": "x"}]});
    let r = check(&body, None).unwrap();
    assert!(r
        .api_error(&r.violations[0])
        .unwrap()
        .ends_with("did not have response messages: call_X"));
    let r = check(&json!([fco("call_X")]), None).unwrap();
    assert_eq!(
        r.api_error(&r.violations[0]).unwrap(),
        "No tool call found for function call output with call_id call_X."
    );
    let shown = r.to_string();
    assert!(
        shown.contains("orphan_output")
            && shown.contains("input[0]")
            && shown.contains("API would answer"),
        "{shown}"
    );
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_the_body_alone() {
    for bad in [
        json!(3),
        json!("x"),
        json!({"model": "m"}),
        json!({"messages": 5}),
        json!({"input": {"a": 1}}),
    ] {
        let mut body = bad.clone();
        let err = repair(&mut body, None, &RepairOptions::default());
        assert!(err.is_err() || bad.get("input").is_some(), "{bad}");
        assert_eq!(body, bad);
    }
    assert!(repair(
        &mut json!({"input": {"a": 1}}),
        None,
        &RepairOptions::default()
    )
    .is_err());
    // A string `input` is a valid Responses request with no items.
    assert!(check(&json!({"input": "hello"}), None).unwrap().is_clean());
}

#[test]
fn rollout_lines_check_and_repair() {
    let line = |payload: Value| json!({"timestamp": "2025-01-01T00:00:00Z", "type": "response_item", "payload": payload});
    let mut body = json!([
        {"timestamp": "t", "type": "session_meta", "payload": {"id": "s"}},
        line(fc("a")),
        {"timestamp": "t", "type": "event_msg", "payload": {"type": "turn_aborted"}},
        line(user("next"))]);
    let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert_eq!(report.detection.format, Format::Rollout);
    assert_eq!(report.violations[0].rule, Rule::MissingOutput);
    assert_eq!(body[2]["payload"]["type"], "function_call_output");
    assert_eq!(body[2]["timestamp"], "2025-01-01T00:00:00Z");
    assert!(check(&body, None).unwrap().is_clean());
}
