//! Do no harm: a call that may have run is never removed, and a body `check` calls clean is
//! never changed. Each case quotes the refusal it prevents and has the clean twin a naive
//! checker would flag.
//!
//! - Reused ids: Anthropic refuses ``messages.3.content.0: `tool_use` ids must be unique``;
//!   pydantic-ai's history cleaning keeps the reused `toolu_1`, toolseq used to delete the
//!   second call. Now the second call is another call, under a fresh id.
//! - Server tools: Anthropic accepts a `server_tool_use` left without its result (a paused turn)
//!   while the next user message holds only client `tool_result` blocks, and refuses it with
//!   user text there (`'web_search' tool use with id … was found without a corresponding
//!   'web_search_tool_result' block`). A repair never answers it with a client `tool_result`.

use serde_json::{json, Value};
use toolseq::{check, repair, Change, Format, RepairOptions, Rule};

fn assistant(blocks: Value) -> Value {
    json!({"role": "assistant", "content": blocks})
}
fn user(blocks: Value) -> Value {
    json!({"role": "user", "content": blocks})
}
fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}
fn tool_use(id: &str, path: &str) -> Value {
    json!({"type": "tool_use", "id": id, "name": "read_file", "input": {"path": path}})
}
fn result(id: &str, out: &str) -> Value {
    json!({"type": "tool_result", "tool_use_id": id, "content": out})
}
fn anthropic(messages: Vec<Value>) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 1024,
           "tools": [{"name": "read_file", "input_schema": {"type": "object"}}],
           "messages": messages})
}
fn rules(body: &Value, format: Format) -> Vec<(Rule, String, usize)> {
    check(body, Some(format))
        .unwrap()
        .violations
        .iter()
        .map(|v| (v.rule, v.call_id.clone().unwrap_or_default(), v.index))
        .collect()
}
fn tool_uses(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_use")
        .map(|b| {
            (
                b["id"].as_str().unwrap().to_owned(),
                b["input"]["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_model_reusing_a_tool_use_id_gets_a_fresh_id_not_a_deleted_call() {
    let mut body = anthropic(vec![
        user(json!([text("read both files")])),
        assistant(json!([tool_use("toolu_1", "a.txt")])),
        user(json!([result("toolu_1", "A")])),
        assistant(json!([tool_use("toolu_1", "b.txt")])),
        user(json!([result("toolu_1", "B")])),
    ]);
    let report = check(&body, Some(Format::Anthropic)).unwrap();
    assert_eq!(
        rules(&body, Format::Anthropic),
        [(Rule::ReusedCallId, "toolu_1".into(), 3)]
    );
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "messages.3.content.0: `tool_use` ids must be unique"
    );
    let report = repair(
        &mut body,
        Some(Format::Anthropic),
        &RepairOptions::default(),
    )
    .unwrap();
    assert!(
        !report
            .changes
            .iter()
            .any(|c| matches!(c, Change::Removed { .. })),
        "{:?}",
        report.changes
    );
    let uses = tool_uses(&body);
    assert_eq!(uses.len(), 2, "both calls ran and both stay");
    assert_eq!(uses[0], ("toolu_1".into(), "a.txt".into()));
    let fresh = &uses[1].0;
    assert_ne!(fresh, "toolu_1");
    assert_eq!(uses[1].1, "b.txt");
    // The result after the second call answers it, under its new id; the first keeps its own.
    assert_eq!(body["messages"][4]["content"][0]["tool_use_id"], *fresh);
    assert_eq!(body["messages"][2]["content"][0]["tool_use_id"], "toolu_1");
    assert_eq!(
        report.renamed_call_ids().get("toolu_1"),
        Some(&fresh.as_str())
    );
    assert!(check(&body, Some(Format::Anthropic)).unwrap().is_clean());
}

#[test]
fn an_unanswered_first_call_keeps_its_place_and_the_result_stays_with_the_second() {
    // The first call was interrupted; later the model used the same id again.
    let body = json!({"input": [
        {"type": "message", "role": "user", "content": "go"},
        {"type": "function_call", "id": "fc_a", "call_id": "call_1", "name": "ls", "arguments": "{}"},
        {"type": "message", "role": "user", "content": "never mind, list /tmp"},
        {"type": "function_call", "id": "fc_b", "call_id": "call_1", "name": "ls", "arguments": "{\"d\":\"/tmp\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "x y"}]});
    assert_eq!(
        rules(&body, Format::Responses),
        [
            (Rule::MissingOutput, "call_1".into(), 1),
            (Rule::ReusedCallId, "call_1".into(), 3)
        ]
    );
    let mut fixed = body.clone();
    let report = repair(
        &mut fixed,
        Some(Format::Responses),
        &RepairOptions::default(),
    )
    .unwrap();
    let input = fixed["input"].as_array().unwrap();
    assert_eq!(input.len(), 6, "{fixed:#}");
    // Nothing moved up to answer the first call: it gets a synthetic output of its own.
    assert!(!report
        .changes
        .iter()
        .any(|c| matches!(c, Change::Moved { .. } | Change::Removed { .. })));
    assert_eq!(input[2]["call_id"], "call_1");
    assert_eq!(input[2]["output"], "aborted");
    let fresh = input[4]["call_id"].as_str().unwrap();
    assert_ne!(fresh, "call_1");
    assert_eq!(input[5]["call_id"], fresh);
    assert_eq!(input[5]["output"], "x y");
    assert!(check(&fixed, Some(Format::Responses)).unwrap().is_clean());
}

#[test]
fn the_same_item_recorded_twice_is_still_one_call() {
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "{}"});
    let mut body = json!({"input": [call.clone(),
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"}, call]});
    assert_eq!(
        rules(&body, Format::Responses),
        [(Rule::DuplicateCall, "call_1".into(), 2)]
    );
    let report = repair(
        &mut body,
        Some(Format::Responses),
        &RepairOptions::default(),
    )
    .unwrap();
    assert!(matches!(
        &report.changes[..],
        [Change::Removed {
            rule: Rule::DuplicateCall,
            index: 2,
            ..
        }]
    ));
    // Its clean twin: two calls with ids of their own.
    let twin = anthropic(vec![
        assistant(json!([tool_use("toolu_1", "a.txt")])),
        user(json!([result("toolu_1", "A")])),
        assistant(json!([tool_use("toolu_2", "a.txt")])),
        user(json!([result("toolu_2", "A")])),
    ]);
    assert_eq!(rules(&twin, Format::Anthropic), []);
}

fn server_use(id: &str) -> Value {
    json!({"type": "server_tool_use", "id": id, "name": "web_search", "input": {"query": "toolseq"}})
}

#[test]
fn a_paused_server_tool_is_clean_and_fix_leaves_it_byte_for_byte() {
    let body = anthropic(vec![
        user(json!([text("search, then read the file")])),
        assistant(json!([
            server_use("srvtoolu_1"),
            tool_use("toolu_1", "a.txt")
        ])),
        user(json!([result("toolu_1", "A")])),
    ]);
    assert_eq!(rules(&body, Format::Anthropic), []);
    let mut fixed = body.clone();
    let report = repair(
        &mut fixed,
        Some(Format::Anthropic),
        &RepairOptions::default(),
    )
    .unwrap();
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(fixed, body);
}

#[test]
fn a_server_tool_left_unanswered_before_user_text_is_refused_and_never_answered_by_the_client() {
    let body = anthropic(vec![
        user(json!([text("search, then read the file")])),
        assistant(json!([
            server_use("srvtoolu_1"),
            tool_use("toolu_1", "a.txt")
        ])),
        user(json!([result("toolu_1", "A"), text("and hurry")])),
    ]);
    let report = check(&body, Some(Format::Anthropic)).unwrap();
    assert_eq!(
        rules(&body, Format::Anthropic),
        [(Rule::MissingOutput, "srvtoolu_1".into(), 1)]
    );
    let v = &report.violations[0];
    assert!(!v.repairable());
    assert!(report
        .api_error(v)
        .unwrap()
        .contains("without a corresponding result block"));
    let mut fixed = body.clone();
    let report = repair(
        &mut fixed,
        Some(Format::Anthropic),
        &RepairOptions::default(),
    )
    .unwrap();
    assert!(
        !report
            .changes
            .iter()
            .any(|c| matches!(c, Change::Inserted { .. })),
        "{:?}",
        report.changes
    );
    assert!(!fixed.to_string().contains("\"tool_use_id\":\"srvtoolu_1\""));
}

#[test]
fn a_repair_never_leaves_the_model_s_message_last_where_the_user_s_was() {
    // The last user message held only a result whose call is gone: removing it alone would
    // leave "sure" last, which the API reads as a prefill to continue.
    let mut body = anthropic(vec![
        user(json!([text("go")])),
        assistant(json!([text("sure")])),
        user(json!([result("toolu_gone", "ok")])),
    ]);
    let report = repair(
        &mut body,
        Some(Format::Anthropic),
        &RepairOptions::default(),
    )
    .unwrap();
    assert!(matches!(
        &report.changes[..],
        [Change::Removed {
            rule: Rule::OrphanOutput,
            ..
        }]
    ));
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user", "{body:#}");
    assert!(check(&body, Some(Format::Anthropic)).unwrap().is_clean());
    // Its twin: a body that ends on the model's message on purpose (a prefill) keeps ending so.
    let mut prefill = anthropic(vec![
        user(json!([text("go"), result("toolu_gone", "ok")])),
        assistant(json!([text("{\"answer\": ")])),
    ]);
    repair(
        &mut prefill,
        Some(Format::Anthropic),
        &RepairOptions::default(),
    )
    .unwrap();
    let last = prefill["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "assistant");
    assert_eq!(prefill["messages"].as_array().unwrap().len(), 2);
}
