//! The `serde` feature: a library report serialises to what `toolseq fix --json` prints for the
//! same body, record for record, in every format.
#![cfg(all(feature = "serde", feature = "cli"))]

mod common;

use assert_cmd::Command;
use common::{body, Item};
use proptest::prelude::*;
use serde_json::{json, Value};
use toolseq::{repair, Format, RepairOptions};

/// The report `toolseq fix --json` writes for `body`, with the command line's flags for `opts`.
fn cli_report(body: &Value, flags: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, serde_json::to_vec(body).unwrap()).unwrap();
    let out = Command::cargo_bin("toolseq")
        .unwrap()
        .arg("fix")
        .arg("--json")
        .args(flags)
        .arg(&file)
        .arg("-o")
        .arg(dir.path().join("out.json"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn library_report(body: &Value, opts: &RepairOptions) -> Value {
    let mut body = body.clone();
    json!(repair(&mut body, None, opts).unwrap())
}

fn same(body: &Value, opts: &RepairOptions, flags: &[&str]) {
    let cli = cli_report(body, flags);
    let lib = library_report(body, opts);
    assert_eq!(lib, cli, "for {body}");
}

#[test]
fn reports_serialise_to_the_command_lines_records() {
    let default = RepairOptions::default();
    // A reused id answered once, a missing output, an orphan and a duplicate output.
    for format in [
        Format::Responses,
        Format::Chat,
        Format::Anthropic,
        Format::Bedrock,
    ] {
        let b = body(
            format,
            &[
                Item::User("go"),
                Item::Call("c1"),
                Item::Output("c1"),
                Item::Call("c1"),
                Item::Output("c1"),
                Item::Call("c2"),
                Item::User("stop"),
                Item::Output("c9"),
            ],
        );
        same(&b, &default, &[]);
    }
    // An id Mistral refuses, renamed on the call and its output; an unanswered call renamed too,
    // whose inserted output carries the new id.
    let mistral = json!({"model": "mistral-large-latest", "messages": [
        {"role": "user", "content": "list"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_Ab3", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
            {"id": "call_Zz9", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_Ab3", "content": "a.txt"},
        {"role": "user", "content": "and?"}]});
    let lib = library_report(&mistral, &default);
    let insert = lib["repairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "insert_output")
        .unwrap();
    assert_ne!(insert["call_id"], "call_Zz9", "{lib}");
    same(&mistral, &default, &[]);
    // Outputs whose calls may be stored server-side are `not_checked`.
    let stateful = json!({"model": "gpt-5", "previous_response_id": "resp_1", "input": [
        {"type": "function_call_output", "call_id": "call_old", "output": "ok"},
        {"type": "message", "role": "user", "content": "next"}]});
    assert_eq!(
        library_report(&stateful, &default)["not_checked"][0]["reason"],
        "previous_response_id"
    );
    same(&stateful, &default, &[]);
    // Item ids stripped from a stateless replay, an empty `tool_calls` list.
    let ids = json!({"model": "gpt-5", "store": false, "input": [
        {"type": "message", "role": "user", "content": "go"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"}]});
    same(&ids, &default, &[]);
    let empty_calls = json!({"model": "gpt-4.1", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "tool_calls": []},
        {"role": "user", "content": "bye"}]});
    same(&empty_calls, &default, &[]);
    // Gemini: results and text in one turn separated; a call without its signature, with the
    // opt-in; a response that is no object reshaped.
    let gemini = json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": "a.txt"}},
                                   {"text": "and now?"}]}]});
    same(&gemini, &default, &[]);
    let opts = RepairOptions::default()
        .model("gemini-3-pro-preview")
        .thought_signature_bypass(true);
    same(
        &gemini,
        &opts,
        &[
            "--model",
            "gemini-3-pro-preview",
            "--bypass-thought-signatures",
        ],
    );
    // DeepSeek's thinking mode, with the placeholder opted in.
    let deepseek = json!({"model": "deepseek-reasoner", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a"}]});
    same(
        &deepseek,
        &RepairOptions::default().placeholders(true),
        &["--placeholders"],
    );
    // A clean body: no repairs.
    let clean = body(
        Format::Anthropic,
        &[Item::User("go"), Item::Call("t"), Item::Output("t")],
    );
    assert_eq!(library_report(&clean, &default)["repairs"], json!([]));
    same(&clean, &default, &[]);
}

#[test]
fn a_guards_findings_serialise_beside_the_schema() {
    let f = toolseq::Finding::Cancelled {
        call_id: "call_1".into(),
    };
    assert_eq!(
        json!(f),
        json!({"finding": "cancelled", "call_id": "call_1"})
    );
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        Just(Item::User("u")),
        Just(Item::Assistant("a")),
        prop::sample::select(vec!["c1", "c2", "c3"]).prop_map(Item::Call),
        prop::sample::select(vec!["c1", "c2", "c3"]).prop_map(Item::Output),
    ]
}

proptest! {
    // Each case runs the command line: few cases, every format.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn any_history_serialises_as_the_command_line_reports_it(
        format in prop::sample::select(vec![Format::Responses, Format::Chat, Format::Anthropic, Format::Gemini, Format::Bedrock]),
        items in prop::collection::vec(item(), 0..9),
        model in prop::sample::select(vec!["m", "mistral-large-latest", "claude-opus-4-6", "gpt-5"]),
    ) {
        let mut b = body(format, &items);
        if format != Format::Gemini {
            let key = if format == Format::Bedrock { "modelId" } else { "model" };
            b[key] = json!(model);
        }
        let cli = cli_report(&b, &[]);
        let lib = library_report(&b, &RepairOptions::default());
        prop_assert_eq!(lib, cli, "for {}", b);
    }
}
