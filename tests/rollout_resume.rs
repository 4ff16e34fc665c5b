//! Codex rollouts checked as Codex resumes them: compaction (with and without a replacement
//! history, mid-turn too), rolled-back turns, inter-agent messages, the optional `ordinal`.

use serde_json::{json, Value};
use toolseq::{check, repair, Format, RepairOptions, Rule};

fn line(t: &str, payload: Value) -> Value {
    json!({"timestamp": "2026-11-24T10:00:00.000Z", "ordinal": 7, "type": t, "payload": payload})
}
fn item(payload: Value) -> Value {
    line("response_item", payload)
}
fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}
fn call(id: &str) -> Value {
    json!({"type": "function_call", "call_id": id, "name": "shell", "arguments": "{}"})
}
fn output(id: &str) -> Value {
    json!({"type": "function_call_output", "call_id": id, "output": "ok"})
}
fn compacted(replacement: Option<Vec<Value>>) -> Value {
    match replacement {
        Some(r) => line(
            "compacted",
            json!({"message": "summary", "replacement_history": r}),
        ),
        None => line(
            "compacted",
            json!({"message": "summary of the work so far"}),
        ),
    }
}
fn rolled_back(n: u64) -> Value {
    line(
        "event_msg",
        json!({"type": "thread_rolled_back", "num_turns": n}),
    )
}

fn rules(lines: &[Value]) -> Vec<(Rule, usize, Option<usize>)> {
    check(&Value::Array(lines.to_vec()), Some(Format::Rollout))
        .unwrap()
        .violations
        .iter()
        .map(|v| (v.rule, v.index, v.block))
        .collect()
}

#[test]
fn what_compaction_or_a_rollback_removed_is_not_reported() {
    let meta = line("session_meta", json!({"id": "s1"}));
    // A call interrupted before a compaction that dropped it: Codex never sends it again.
    let body = [
        meta.clone(),
        item(user("go")),
        item(call("a")),
        compacted(Some(vec![user("go"), user("summary")])),
        item(user("next")),
    ];
    assert_eq!(rules(&body), []);
    // Legacy compaction keeps only the user messages.
    let body = [
        meta.clone(),
        item(user("go")),
        item(call("a")),
        compacted(None),
        item(user("next")),
    ];
    assert_eq!(rules(&body), []);
    // A call in a rolled-back turn.
    let body = [
        meta.clone(),
        item(user("first")),
        item(call("a")),
        item(output("a")),
        item(user("second")),
        item(call("b")),
        rolled_back(1),
        item(user("instead")),
    ];
    assert_eq!(rules(&body), []);
    // Without the rollback the same lines are broken: a naive checker's verdict.
    let mut naive = body.to_vec();
    naive.remove(6);
    assert_eq!(rules(&naive), [(Rule::MissingOutput, 5, None)]);
    // Rolling back more turns than there are leaves nothing to check.
    let body = [item(user("a")), item(call("x")), rolled_back(5)];
    assert_eq!(rules(&body), []);
}

#[test]
fn mid_turn_compaction_keeps_or_drops_the_call() {
    // The call sits in the replacement history and its output after the compacted line: clean.
    let kept = [
        item(user("go")),
        item(call("a")),
        compacted(Some(vec![user("go"), call("a")])),
        item(output("a")),
    ];
    assert_eq!(rules(&kept), []);
    // The compaction dropped the call: the output after it is an orphan.
    let dropped = [
        item(user("go")),
        item(call("a")),
        compacted(Some(vec![user("go")])),
        item(output("a")),
    ];
    assert_eq!(rules(&dropped), [(Rule::OrphanOutput, 3, None)]);
    let mut fixed = Value::Array(dropped.to_vec());
    let report = repair(&mut fixed, Some(Format::Rollout), &RepairOptions::default()).unwrap();
    assert_eq!(report.changes.len(), 1);
    assert_eq!(fixed.as_array().unwrap().len(), 3);
    assert!(check(&fixed, Some(Format::Rollout)).unwrap().is_clean());
}

#[test]
fn a_call_in_the_replacement_history_is_answered_inside_it() {
    let body = [
        item(user("go")),
        compacted(Some(vec![user("go"), call("b"), user("summary")])),
        item(user("next")),
    ];
    let found = check(&Value::Array(body.to_vec()), Some(Format::Rollout)).unwrap();
    assert_eq!(found.violations.len(), 1);
    assert_eq!(found.violations[0].rule, Rule::MissingOutput);
    assert_eq!(
        found.location(&found.violations[0]),
        "item[1].replacement_history[1]"
    );
    let mut fixed = Value::Array(body.to_vec());
    repair(&mut fixed, Some(Format::Rollout), &RepairOptions::default()).unwrap();
    let lines = fixed.as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], body[0]);
    assert_eq!(lines[2], body[2]);
    let history = lines[1]["payload"]["replacement_history"]
        .as_array()
        .unwrap();
    assert_eq!(history[2]["type"], "function_call_output");
    assert_eq!(history[2]["call_id"], "b");
    assert_eq!(history[3], user("summary"));
    assert!(check(&fixed, Some(Format::Rollout)).unwrap().is_clean());
    // An output after the compacted line, with the summary between: where OpenAI accepts it,
    // and left there; a DeepSeek model, which pairs by position, has it moved into the history.
    let body = [
        compacted(Some(vec![user("go"), call("b"), user("summary")])),
        item(output("b")),
    ];
    assert_eq!(rules(&body), []);
    assert_eq!(deepseek_rules(&body), [(Rule::InterleavedMessage, 1, None)]);
    let mut fixed = Value::Array(body.to_vec());
    let opts = RepairOptions::default().model("deepseek-v4-pro");
    repair(&mut fixed, Some(Format::Rollout), &opts).unwrap();
    let lines = fixed.as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["payload"]["replacement_history"][2]["type"],
        "function_call_output"
    );
    assert!(deepseek_rules(lines).is_empty());
}

/// [`rules`] for a DeepSeek model, whose Responses endpoint pairs by position.
fn deepseek_rules(lines: &[Value]) -> Vec<(Rule, usize, Option<usize>)> {
    toolseq::check_for(
        &Value::Array(lines.to_vec()),
        Some(Format::Rollout),
        "deepseek-v4-pro",
    )
    .unwrap()
    .violations
    .iter()
    .map(|v| (v.rule, v.index, v.block))
    .collect()
}

#[test]
fn inter_agent_messages_are_model_input() {
    let body = [
        item(call("a")),
        line(
            "inter_agent_communication",
            json!({"from": "agent-2", "text": "done"}),
        ),
        item(output("a")),
    ];
    // Sent to the model as a message: between a call and its output where a DeepSeek model
    // pairs by position.
    assert_eq!(rules(&body), []);
    assert_eq!(deepseek_rules(&body), [(Rule::InterleavedMessage, 2, None)]);
}
