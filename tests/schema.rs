//! The `serde` feature: a library report serialises to what `toolseq fix --json` prints for the
//! same body, record for record, in every format; and `fix` writes what the library's repair
//! makes of it, a clean body byte for byte.
#![cfg(all(feature = "serde", feature = "cli"))]

mod common;

use assert_cmd::Command;
use common::{body, Item};
use proptest::prelude::*;
use serde_json::{json, Value};
use toolseq::{repair, Format, RepairOptions};

/// The report `toolseq fix --json` writes for `body`, with the command line's flags for `opts`.
fn cli_report(body: &Value, flags: &[&str]) -> Value {
    cli_fix(&serde_json::to_vec(body).unwrap(), flags).0
}

/// What `toolseq fix --json` reports for a body written as `text`, and the file it writes.
fn cli_fix(text: &[u8], flags: &[&str]) -> (Value, Vec<u8>) {
    cli_fix_as("body.json", text, flags)
}

fn cli_fix_as(name: &str, text: &[u8], flags: &[&str]) -> (Value, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
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
    let report = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (report, std::fs::read(dir.path().join("out.json")).unwrap())
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
        pretty in any::<bool>(),
    ) {
        let mut b = body(format, &items);
        if format != Format::Gemini {
            let key = if format == Format::Bedrock { "modelId" } else { "model" };
            b[key] = json!(model);
        }
        let text = if pretty { serde_json::to_vec_pretty(&b) } else { serde_json::to_vec(&b) }.unwrap();
        let (cli, written) = cli_fix(&text, &[]);
        let lib = library_report(&b, &RepairOptions::default());
        // A body the checker calls clean comes back byte for byte, and a repaired one as the
        // library repairs it.
        let mut repaired = b.clone();
        repair(&mut repaired, None, &RepairOptions::default()).unwrap();
        if lib["violations"].as_array().unwrap().is_empty() {
            prop_assert_eq!(&written, &text);
        } else {
            prop_assert_eq!(&serde_json::from_slice::<Value>(&written).unwrap(), &repaired);
        }
        prop_assert_eq!(lib, cli, "for {}", b);
        // The same items as JSON Lines, and as a Codex rollout, streamed by `fix` line by line.
        // (An empty file is refused, as it should be: no items, no lines.)
        if format == Format::Responses && !items.is_empty() {
            let items = b["input"].as_array().unwrap();
            let want = repaired["input"].as_array().unwrap();
            let jsonl: String = items.iter().map(|i| format!("{i}\n")).collect();
            let (_, written) = cli_fix_as("items.jsonl", jsonl.as_bytes(), &[]);
            let got: Vec<Value> = written.split(|&c| c == b'\n').filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap()).collect();
            prop_assert_eq!(&got, want, "jsonl for {}", b);
            let rollout: String = items.iter()
                .map(|i| format!("{}\n", json!({"timestamp": "t", "type": "response_item", "payload": i})))
                .collect();
            let (_, written) = cli_fix_as("rollout.jsonl", rollout.as_bytes(), &[]);
            let got: Vec<Value> = written.split(|&c| c == b'\n').filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice::<Value>(l).unwrap()["payload"].clone()).collect();
            prop_assert_eq!(&got, want, "rollout for {}", b);
        }
    }
}
