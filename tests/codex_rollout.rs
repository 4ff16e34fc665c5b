//! Rollouts as the released Codex CLI (0.171.0) writes and resumes them: `metadata` beside a
//! `response_item`'s payload, `replacement_history_metadata` in step with
//! `replacement_history` (Codex drops a `compacted` line whose two arrays differ in length and
//! resumes as if it had never compacted: `tests/e2e` shows it with the real CLI), and rollbacks
//! cut at Codex's turn boundaries. The lines are shaped as that CLI wrote them in `tests/e2e`.

use std::io::Write;

use assert_cmd::Command;
use serde_json::{json, Value};
use toolseq::{check, repair, Format, RepairOptions, Rule};

fn line(t: &str, payload: Value) -> Value {
    json!({"timestamp": "2026-12-02T18:39:30.000Z", "ordinal": 7, "type": t, "payload": payload})
}
fn meta(seq: u64) -> Value {
    json!({"history_sequence": seq, "sampled_through_sequence": 0, "client_authored": false,
           "model_search_state": "unused"})
}
fn item(payload: Value, seq: u64) -> Value {
    let mut l = line("response_item", payload);
    l["metadata"] = meta(seq);
    l
}
fn message(role: &str, text: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]})
}
fn user(text: &str) -> Value {
    message("user", text)
}
fn call(id: &str) -> Value {
    json!({"type": "function_call", "call_id": id, "name": "exec_command",
           "arguments": "{\"cmd\":\"echo one\"}"})
}
fn output(id: &str) -> Value {
    json!({"type": "function_call_output", "call_id": id, "output": "one"})
}
fn compacted(history: Vec<Value>) -> Value {
    let metadata: Vec<Value> = (0..history.len() as u64).map(|k| meta(20 + k)).collect();
    line(
        "compacted",
        json!({"message": "", "replacement_history": history,
               "replacement_history_metadata": metadata, "window_number": 1}),
    )
}
fn rolled_back(n: u64) -> Value {
    line(
        "event_msg",
        json!({"type": "thread_rolled_back", "num_turns": n}),
    )
}
const ENV: &str = "<environment_context>\n  <cwd>/tmp/work</cwd>\n</environment_context>";
const ABORTED: &str = "<turn_aborted>\nThe user interrupted the previous turn.\n</turn_aborted>";

fn lengths(line: &Value) -> (usize, usize) {
    let p = &line["payload"];
    (
        p["replacement_history"].as_array().unwrap().len(),
        p["replacement_history_metadata"].as_array().unwrap().len(),
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

/// A compaction mid-turn: the call sits in the replacement history, its output lost.
fn compaction_that_lost_an_output() -> Vec<Value> {
    vec![
        line("session_meta", json!({"id": "s1"})),
        item(
            message(
                "developer",
                "<permissions instructions>x</permissions instructions>",
            ),
            1,
        ),
        item(user(ENV), 2),
        item(user("CALL echo one"), 3),
        compacted(vec![
            user(ENV),
            user("CALL echo one"),
            call("call_1"),
            user("Summary"),
        ]),
        item(message("assistant", "done"), 30),
    ]
}

#[test]
fn fix_keeps_replacement_history_metadata_in_step_with_the_history() {
    let mut body = Value::Array(compaction_that_lost_an_output());
    assert_eq!(
        rules(body.as_array().unwrap()),
        [(Rule::MissingOutput, 4, Some(2))]
    );
    let report = repair(&mut body, Some(Format::Rollout), &RepairOptions::default()).unwrap();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    let line = &body[4];
    assert_eq!(lengths(line), (5, 5));
    let p = &line["payload"];
    assert_eq!(p["replacement_history"][3]["type"], "function_call_output");
    // The items that were there keep their metadata; the new one gets Codex's default.
    assert_eq!(p["replacement_history_metadata"][2]["history_sequence"], 22);
    assert_eq!(
        p["replacement_history_metadata"][3],
        json!({"client_authored": false})
    );
    assert_eq!(p["replacement_history_metadata"][4]["history_sequence"], 23);
    assert!(check(&body, Some(Format::Rollout)).unwrap().is_clean());
}

#[test]
fn an_orphan_dropped_from_a_replacement_history_takes_its_metadata_along() {
    let mut lines = compaction_that_lost_an_output();
    lines[4] = compacted(vec![
        user("CALL echo one"),
        output("call_gone"),
        user("Summary"),
    ]);
    let mut body = Value::Array(lines);
    repair(&mut body, Some(Format::Rollout), &RepairOptions::default()).unwrap();
    assert_eq!(lengths(&body[4]), (2, 2));
    let metadata = &body[4]["payload"]["replacement_history_metadata"];
    assert_eq!(metadata[0]["history_sequence"], 20);
    assert_eq!(metadata[1]["history_sequence"], 22);
}

#[test]
fn arrays_of_different_lengths_are_left_for_codex_to_refuse() {
    let mut lines = compaction_that_lost_an_output();
    lines[4]["payload"]["replacement_history_metadata"] = json!([meta(1)]);
    let mut body = Value::Array(lines);
    repair(&mut body, Some(Format::Rollout), &RepairOptions::default()).unwrap();
    assert_eq!(
        body[4]["payload"]["replacement_history_metadata"],
        json!([meta(1)])
    );
}

#[test]
fn a_moved_output_line_takes_its_metadata_along() {
    // The output was written before its call: moved down next to it. (One written after a later
    // user message is where the API accepts it, and stays.)
    let mut body = Value::Array(vec![
        item(user("go"), 1),
        item(output("call_1"), 2),
        item(call("call_1"), 3),
        item(user("and then"), 4),
    ]);
    let report = repair(&mut body, Some(Format::Rollout), &RepairOptions::default()).unwrap();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    let lines = body.as_array().unwrap();
    assert_eq!(lines[2]["payload"]["type"], "function_call_output");
    assert_eq!(lines[2]["metadata"]["history_sequence"], 2);
    assert_eq!(lines[1]["metadata"]["history_sequence"], 3);
}

#[test]
fn the_command_line_fix_keeps_the_arrays_in_step_too() {
    let text: String = compaction_that_lost_an_output()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rollout-2026-12-02T18-39-30-s1.jsonl");
    std::fs::File::create(&input)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = dir.path().join("fixed.jsonl");
    Command::cargo_bin("toolseq")
        .unwrap()
        .args(["fix", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .code(0);
    let fixed: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lengths(&fixed[4]), (5, 5));
    assert!(check(&Value::Array(fixed), Some(Format::Rollout))
        .unwrap()
        .is_clean());
}

#[test]
fn a_rollback_cuts_at_codex_turns_not_at_contextual_messages() {
    // The second turn was interrupted: its call is unanswered. Codex's `<turn_aborted>` marker
    // and the environment update before the third turn are not turns of their own, so rolling
    // back one turn drops the third turn only, and the broken second turn stays.
    let lines = vec![
        item(user(ENV), 1),
        item(user("first"), 2),
        item(user("second"), 3),
        item(call("call_1"), 4),
        item(user(ABORTED), 5),
        item(user(ENV), 6),
        item(user("third"), 7),
        rolled_back(1),
    ];
    assert_eq!(rules(&lines), [(Rule::MissingOutput, 3, None)]);
    // Counting every user message as a turn, the marker alone would have gone.
    let mut two = lines.clone();
    two[7] = rolled_back(2);
    assert_eq!(rules(&two), []);
}

#[test]
fn rolling_back_more_turns_than_there_are_keeps_what_precedes_the_first() {
    let lines = vec![
        item(
            message(
                "developer",
                "<permissions instructions>x</permissions instructions>",
            ),
            1,
        ),
        item(user(ENV), 2),
        item(call("call_early"), 3),
        item(user("first"), 4),
        item(call("call_1"), 5),
        rolled_back(5),
    ];
    // The call before the first turn stays, unanswered; the turn's call goes.
    assert_eq!(rules(&lines), [(Rule::MissingOutput, 2, None)]);
}

#[test]
fn a_user_prompt_that_merely_looks_like_markup_is_a_turn() {
    let lines = vec![
        item(user("first"), 1),
        item(call("call_1"), 2),
        item(user("<b>bold</b> is not context"), 3),
        rolled_back(1),
    ];
    assert_eq!(rules(&lines), [(Rule::MissingOutput, 1, None)]);
}
