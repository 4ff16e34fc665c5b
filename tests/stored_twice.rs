//! A call stored twice is one call; a second call under an id is a call of its own.
//!
//! A client that writes its history twice over (a retry that appends the model's turn again,
//! a resume that replays a turn) leaves a call repeated word for word in its turn, with one
//! output: Anthropic then refuses ``messages.1.content.1: `tool_use` ids must be unique``.
//! The copy is removed: the model did not ask twice, and nothing of it could have run apart
//! (an output of it would carry the same id). Each twin a naive "same id twice" rule would
//! treat alike is a call that may have run, and stays: another call in the same turn, a copy
//! with an output of its own, a copy in a later turn (a client counting ids from one again),
//! a copy under another server item id.

mod common;

use common::{body, Item};
use serde_json::{json, Value};
use toolseq::{check, repair, Change, Format, RepairOptions, Rule};

const FORMATS: [Format; 5] = [
    Format::Responses,
    Format::Chat,
    Format::Anthropic,
    Format::Bedrock,
    Format::Gemini,
];

/// Visits the calls of a body in order: each one's id and what it asks.
fn each_call(format: Format, body: &mut Value, mut visit: impl FnMut(String, &mut Value)) {
    let mut call = |c: &mut Value, id: &str, args: &str| {
        let id = c[id].as_str().unwrap_or_default().to_owned();
        match args.split_once('.') {
            Some((holder, args)) => visit(id, &mut c[holder][args]),
            None => visit(id, &mut c[args]),
        }
    };
    let (list, field) = match format {
        Format::Responses => {
            for i in body["input"].as_array_mut().unwrap() {
                if i["type"] == "function_call" {
                    call(i, "call_id", "arguments");
                }
            }
            return;
        }
        Format::Chat => ("messages", "tool_calls"),
        Format::Gemini => ("contents", "parts"),
        _ => ("messages", "content"),
    };
    for m in body[list].as_array_mut().unwrap() {
        for b in m[field].as_array_mut().into_iter().flatten() {
            match format {
                Format::Chat => call(b, "id", "function.arguments"),
                Format::Anthropic if b["type"] == "tool_use" => call(b, "id", "input"),
                Format::Bedrock if b.get("toolUse").is_some() => {
                    call(&mut b["toolUse"], "toolUseId", "input")
                }
                Format::Gemini if b.get("functionCall").is_some() => {
                    call(&mut b["functionCall"], "id", "args")
                }
                _ => {}
            }
        }
    }
}

/// The calls of a body, in order, as (id, arguments) with the arguments as JSON text.
fn calls(format: Format, body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    each_call(format, &mut body.clone(), |id, args| {
        let args = match args {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        out.push((id, args));
    });
    out
}

/// Gives the `nth` call other arguments: another call under the same id.
fn ask_otherwise(format: Format, body: &mut Value, nth: usize) {
    let mut k = 0;
    each_call(format, body, |_, args| {
        if k == nth {
            *args = match format {
                Format::Responses | Format::Chat => json!("{\"path\":\"b.txt\"}"),
                _ => json!({"path": "b.txt"}),
            };
        }
        k += 1;
    });
}

fn rules(format: Format, body: &Value) -> Vec<Rule> {
    check(body, Some(format))
        .unwrap()
        .violations
        .iter()
        .map(|v| v.rule)
        .collect()
}

fn mend(format: Format, body: &Value) -> (Value, toolseq::Report) {
    let mut fixed = body.clone();
    let report = repair(&mut fixed, Some(format), &RepairOptions::default()).unwrap();
    let after = check(&fixed, Some(format)).unwrap();
    assert!(after.is_clean(), "{format}: {after}\n{fixed:#}");
    (fixed, report)
}

fn removed_calls(report: &toolseq::Report) -> usize {
    report
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c,
                Change::Removed {
                    rule: Rule::DuplicateCall,
                    ..
                }
            )
        })
        .count()
}

use Item::{Assistant, Call, Output, User};

#[test]
fn a_call_stored_twice_in_its_turn_is_one_call_in_every_format() {
    for format in FORMATS {
        let stored_twice = body(format, &[User("go"), Call("c1"), Call("c1"), Output("c1")]);
        assert_eq!(
            rules(format, &stored_twice),
            [Rule::DuplicateCall],
            "{format}"
        );
        let (fixed, report) = mend(format, &stored_twice);
        assert_eq!(removed_calls(&report), 1, "{format}: {:?}", report.changes);
        assert_eq!(
            calls(format, &fixed),
            calls(format, &body(format, &[Call("c1")])),
            "{format}"
        );
    }
    // In the API's own words.
    let anthropic = body(
        Format::Anthropic,
        &[User("go"), Call("c1"), Call("c1"), Output("c1")],
    );
    let report = check(&anthropic, None).unwrap();
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "messages.1.content.1: `tool_use` ids must be unique"
    );
}

#[test]
fn another_call_under_the_same_id_in_the_same_turn_stays() {
    for format in FORMATS {
        let mut two = body(format, &[User("go"), Call("c1"), Call("c1"), Output("c1")]);
        ask_otherwise(format, &mut two, 1);
        // The second call, under a fresh id, has no output yet.
        assert_eq!(
            rules(format, &two),
            [Rule::ReusedCallId, Rule::MissingOutput],
            "{format}"
        );
        let (fixed, report) = mend(format, &two);
        assert_eq!(removed_calls(&report), 0, "{format}: {:?}", report.changes);
        let after = calls(format, &fixed);
        assert_eq!(after.len(), 2, "{format}");
        assert_ne!(after[0].0, after[1].0, "{format}: a fresh id");
        assert!(
            report
                .changes
                .iter()
                .any(|c| matches!(c, Change::Inserted { .. })),
            "{format}"
        );
    }
}

#[test]
fn a_copy_with_an_output_of_its_own_may_have_run_and_stays() {
    for format in FORMATS {
        let both_ran = body(
            format,
            &[
                User("go"),
                Call("c1"),
                Call("c1"),
                Output("c1"),
                Output("c1"),
            ],
        );
        assert_eq!(rules(format, &both_ran), [Rule::ReusedCallId], "{format}");
        let (fixed, report) = mend(format, &both_ran);
        assert!(
            !report
                .changes
                .iter()
                .any(|c| matches!(c, Change::Removed { .. })),
            "{format}: {:?}",
            report.changes
        );
        assert_eq!(calls(format, &fixed).len(), 2, "{format}");
    }
}

#[test]
fn a_copy_in_a_later_turn_is_a_call_of_its_own() {
    // A client counting ids from one again: the model asked the same thing twice.
    for format in FORMATS {
        let again = body(
            format,
            &[
                User("go"),
                Call("c1"),
                Output("c1"),
                Assistant("done"),
                User("again"),
                Call("c1"),
            ],
        );
        let found = rules(format, &again);
        assert!(found.contains(&Rule::ReusedCallId), "{format}: {found:?}");
        assert!(!found.contains(&Rule::DuplicateCall), "{format}: {found:?}");
        let (fixed, report) = mend(format, &again);
        assert_eq!(removed_calls(&report), 0, "{format}: {:?}", report.changes);
        assert_eq!(calls(format, &fixed).len(), 2, "{format}");
    }
}

#[test]
fn a_copy_under_another_server_item_id_is_another_call() {
    let call = |item: &str| json!({"type": "function_call", "id": item, "call_id": "call_1", "name": "ls", "arguments": "{}"});
    let out = json!({"type": "function_call_output", "call_id": "call_1", "output": "a"});
    let two_items = json!({"input": [call("fc_1"), call("fc_2"), out]});
    assert_eq!(
        rules(Format::Responses, &two_items),
        [Rule::ReusedCallId, Rule::MissingOutput]
    );
    let (_, report) = mend(Format::Responses, &two_items);
    assert_eq!(removed_calls(&report), 0);
    // One server id on both, or on one of them only: the same item stored twice.
    for stored_twice in [
        json!({"input": [call("fc_1"), call("fc_1"), out]}),
        json!({"input": [call("fc_1"), {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"}, out]}),
    ] {
        assert_eq!(
            rules(Format::Responses, &stored_twice),
            [Rule::DuplicateCall],
            "{stored_twice}"
        );
    }
}

#[cfg(feature = "cli")]
#[test]
fn the_command_line_reading_text_tells_them_apart_as_the_library_does() {
    use assert_cmd::Command;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "stored_twice",
            body(
                Format::Responses,
                &[User("go"), Call("c1"), Call("c1"), Output("c1")],
            ),
        ),
        (
            "both_ran",
            body(
                Format::Responses,
                &[
                    User("go"),
                    Call("c1"),
                    Call("c1"),
                    Output("c1"),
                    Output("c1"),
                ],
            ),
        ),
        (
            "again",
            body(
                Format::Responses,
                &[Call("c1"), Output("c1"), User("again"), Call("c1")],
            ),
        ),
    ];
    for (name, b) in cases {
        let library: Vec<&str> = check(&b, None)
            .unwrap()
            .violations
            .iter()
            .map(|v| v.rule.name())
            .collect();
        // A body, JSON Lines of items, and a rollout: three readers of text.
        let items = b["input"].as_array().unwrap();
        let rollout: Vec<String> = items
            .iter()
            .map(|i| {
                json!({"timestamp": "2026-12-04T00:00:00Z", "type": "response_item", "payload": i})
                    .to_string()
            })
            .collect();
        let files = [
            (format!("{name}.json"), b.to_string()),
            (
                format!("{name}.jsonl"),
                items
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (format!("{name}-rollout.jsonl"), rollout.join("\n")),
        ];
        for (file, text) in files {
            let path = dir.path().join(&file);
            std::fs::write(&path, text + "\n").unwrap();
            let out = Command::cargo_bin("toolseq")
                .unwrap()
                .args(["check", "--json"])
                .arg(&path)
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            let cli: Vec<&str> = report["violations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["rule"].as_str().unwrap())
                .collect();
            assert_eq!(cli, library, "{file}");
        }
    }
}

#[cfg(feature = "async-openai")]
#[test]
fn a_typed_history_tells_them_apart_as_the_json_path_does() {
    use async_openai::types::responses::InputItem;
    for items in [
        vec![User("go"), Call("c1"), Call("c1"), Output("c1")],
        vec![
            User("go"),
            Call("c1"),
            Call("c1"),
            Output("c1"),
            Output("c1"),
        ],
    ] {
        let b = body(Format::Responses, &items);
        let mut typed: Vec<InputItem> = serde_json::from_value(b["input"].clone()).unwrap();
        let json = check(&b, None).unwrap();
        assert_eq!(toolseq::typed::check(&typed).violations, json.violations);
        let report = toolseq::typed::repair(&mut typed, &RepairOptions::default()).unwrap();
        assert_eq!(
            removed_calls(&report),
            removed_calls(&mend(Format::Responses, &b).1)
        );
    }
}
