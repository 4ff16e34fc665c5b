//! The `toolseq` binary on the files in `tests/data/`.
#![cfg(feature = "cli")]

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn toolseq() -> Command {
    let mut c = Command::cargo_bin("toolseq").unwrap();
    c.env_remove("NO_COLOR");
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = toolseq().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolseq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// (file, format detected, expected exit code, a fragment the report must hold)
const CHECKS: &[(&str, &str, i32, &str)] = &[
    (
        "responses_body.json",
        "responses",
        1,
        "No tool output found for local shell call call_1.",
    ),
    ("responses_clean.json", "responses", 0, "clean"),
    (
        "chat_array.json",
        "chat",
        1,
        "interleaved_message  call call_b  index 4",
    ),
    (
        "anthropic_body.json",
        "anthropic",
        1,
        "messages.1: `tool_use` ids were found without `tool_result`",
    ),
    (
        "items.jsonl",
        "responses",
        1,
        "orphan_output        call c  item 5, line 6",
    ),
    ("anthropic.jsonl", "anthropic", 1, "line 2"),
    (
        "rollout.jsonl",
        "rollout",
        1,
        "missing_output       call call_9  item 3, line 4",
    ),
    ("rollout_clean.jsonl", "rollout", 0, "clean"),
];

#[test]
fn check_reports_each_shape_with_exit_code() {
    for &(file, format, code, fragment) in CHECKS {
        let (got, out, _) = run(&["check", &data(file)]);
        assert_eq!(got, code, "{file}: {out}");
        assert!(out.contains(&format!(": {format} (")), "{file}: {out}");
        assert!(out.contains(fragment), "{file}: {out}");
        assert!(!out.contains('\x1b'), "colour off a terminal");
    }
}

#[test]
fn unreadable_input_exits_2_with_file_line_and_column() {
    for (file, fragment) in [
        (
            "garbage.txt",
            "garbage.txt:1:1: expected a JSON object or array",
        ),
        ("empty.json", "empty.json: the input is empty"),
        (
            "truncated.jsonl",
            "truncated.jsonl:2:25: EOF while parsing a string (the last line is truncated)",
        ),
        (
            "non_utf8.jsonl",
            "non_utf8.jsonl:2:47: invalid unicode code point",
        ),
        ("bad_json.json", "bad_json.json:2:3: trailing comma"),
        ("does-not-exist.json", "does-not-exist.json: No such file"),
    ] {
        let (code, out, err) = run(&["check", &data(file)]);
        assert_eq!(code, 2, "{file}");
        assert!(out.is_empty());
        assert!(err.contains(fragment), "{file}: {err}");
    }
    let (code, _, err) = run(&["check", "--format", "yaml", &data("items.jsonl")]);
    assert_eq!(code, 2, "{err}");
    // A body that is JSON but not a history.
    let path = tmp("not-history.json");
    std::fs::write(&path, r#"{"model": "m"}"#).unwrap();
    let (code, _, err) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a conversation history"), "{err}");
}

#[test]
fn json_output_follows_the_documented_schema() {
    let (code, out, _) = run(&["check", "--json", &data("rollout.jsonl")]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "rollout");
    assert_eq!(v["items"], 7);
    assert_eq!(v["violations"][0]["rule"], "missing_output");
    assert_eq!(v["violations"][0]["call_id"], "call_9");
    assert_eq!(v["violations"][0]["index"], 3);
    assert_eq!(v["violations"][0]["line"], 4);
    assert_eq!(v["repairs"][0]["action"], "insert_output");
    assert_eq!(v["repairs"][1]["action"], "remove");
    assert_eq!(v["repairs"][1]["rule"], "orphan_output");
    let (_, out, _) = run(&["check", "--json", &data("responses_body.json")]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["violations"][0]["line"],
        Value::Null,
        "no line numbers for a document"
    );
}

#[test]
fn fix_then_check_is_clean_and_a_clean_file_comes_back_unchanged() {
    for &(file, _, code, _) in CHECKS {
        let out = tmp(&format!("fixed-{file}"));
        let (got, _, err) = run(&["fix", &data(file), "-o", out.to_str().unwrap()]);
        assert_eq!(got, 0, "{file}: {err}");
        let (after, report, _) = run(&["check", out.to_str().unwrap()]);
        assert_eq!(after, 0, "{file}: {report}");
        let before = std::fs::read(data(file)).unwrap();
        let fixed = std::fs::read(&out).unwrap();
        if code == 0 {
            assert_eq!(fixed, before, "{file}: clean file rewritten");
            assert!(err.contains("clean"));
        } else {
            assert!(
                err.contains("violation(s)"),
                "{file}: report on stderr: {err}"
            );
        }
    }
}

#[test]
fn fix_keeps_rollout_lines_that_are_not_items_byte_for_byte() {
    let out = tmp("rollout-fixed.jsonl");
    run(&["fix", &data("rollout.jsonl"), "-o", out.to_str().unwrap()]);
    let before = std::fs::read_to_string(data("rollout.jsonl")).unwrap();
    let after = std::fs::read_to_string(&out).unwrap();
    let before: Vec<&str> = before.lines().collect();
    let after: Vec<&str> = after.lines().collect();
    // The orphan output (last line) is removed, one synthetic line follows the call (line 4).
    assert_eq!(after.len(), before.len());
    assert_eq!(after[..4], before[..4]);
    let synthetic: Value = serde_json::from_str(after[4]).unwrap();
    assert_eq!(synthetic["payload"]["call_id"], "call_9");
    assert_eq!(synthetic["timestamp"], "2025-09-01T10:00:03.000Z");
    assert_eq!(after[5..], before[4..6]);
}

#[test]
fn fix_reads_stdin_writes_stdout_and_never_overwrites_its_input() {
    let input = std::fs::read(data("items.jsonl")).unwrap();
    let out = toolseq()
        .args(["fix", "-", "--text", "interrupted"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let types: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            format!(
                "{}:{}",
                v["type"].as_str().unwrap(),
                v["call_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            "message:",
            "function_call:a",
            "function_call_output:a",
            "function_call:b",
            "function_call_output:b",
            "message:",
        ]
    );
    let copy = tmp("self.jsonl");
    std::fs::copy(data("items.jsonl"), &copy).unwrap();
    let (code, _, err) = run(&["fix", copy.to_str().unwrap(), "-o", copy.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("refusing to write the output"), "{err}");
    assert!(!err.contains("cannot read"), "{err}");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(data("items.jsonl")).unwrap()
    );
}

#[test]
fn timeline_marks_where_the_order_broke() {
    let (code, out, _) = run(&["timeline", &data("ledger_dump.jsonl")]);
    assert_eq!(code, 0);
    assert!(out.contains("conversation c1") && out.contains("conversation c2"));
    assert!(
        out.contains("user_message  <-- arrived while call_a still running"),
        "{out}"
    );
    assert!(out.contains("call_a  <-- cancelled"), "{out}");
    assert!(
        out.contains("still running at the end of the dump: call_z"),
        "{out}"
    );
    let (code, _, err) = run(&["timeline", &data("items.jsonl")]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn timeline_reads_a_real_ledger_dump() {
    let ledger = toolseq::ledger::Ledger::new();
    ledger.call_started("conv", "call_1", Some("shell"), None);
    ledger.user_message("conv");
    ledger.call_ended("conv", "call_1", false);
    let path = tmp("dump.jsonl");
    ledger
        .dump_jsonl("conv", std::fs::File::create(&path).unwrap())
        .unwrap();
    let (code, out, _) = run(&["timeline", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("arrived while call_1 still running"), "{out}");
}

#[test]
fn a_body_continuing_a_stored_response_is_checked_clean_and_fixed_byte_for_byte() {
    let file = data("stateful_body.json");
    let (code, out, _) = run(&["check", &file]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 output(s) may answer calls stored server-side (`previous_response_id`)"),
        "{out}"
    );
    let (_, out, _) = run(&["check", "--json", &file]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["violations"].as_array().unwrap().len(), 0);
    assert_eq!(v["not_checked"][1]["call_id"], "call_b");
    assert_eq!(v["not_checked"][1]["reason"], "previous_response_id");
    let fixed = tmp("stateful-fixed.json");
    let (code, _, err) = run(&["fix", &file, "-o", fixed.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(&fixed).unwrap(),
        std::fs::read(&file).unwrap()
    );
}

#[test]
fn fix_rewrites_refused_ids_and_drops_duplicate_reasoning_line_by_line() {
    let long = format!("call_{}", "y".repeat(80));
    let lines = [
        r#"{"type":"message","role":"user","content":"go"}"#.to_owned(),
        r#"{"type":"reasoning","id":"rs_1","summary":[]}"#.to_owned(),
        format!(
            r#"{{"type":"function_call","id":"fc_1","call_id":"{long}","name":"ls","arguments":"{{}}"}}"#
        ),
        r#"{"type":"reasoning","id":"rs_1","summary":[]}"#.to_owned(),
        r#"{"type":"function_call","id":"fc_2","call_id":"call_b","name":"ls","arguments":"{}"}"#
            .to_owned(),
        format!(r#"{{"type":"function_call_output","call_id":"{long}","output":"ok"}}"#),
        r#"{"type": "function_call_output", "call_id": "call_b", "output": "ok"}"#.to_owned(),
    ];
    let input = tmp("ids.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let (code, out, _) = run(&["check", "--json", input.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rule_set"], toolseq::Rule::SET_VERSION);
    let found: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        ["call_id_too_long", "duplicate_item_id", "call_id_too_long"]
    );
    assert_eq!(v["violations"][1]["item_id"], "rs_1");
    let (_, human, _) = run(&["check", input.to_str().unwrap()]);
    assert!(
        human.contains(&format!("rule set v{}", toolseq::Rule::SET_VERSION)),
        "{human}"
    );

    let fixed = tmp("ids-fixed.jsonl");
    let (code, _, err) = run(&[
        "fix",
        input.to_str().unwrap(),
        "-o",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&fixed).unwrap();
    let out: Vec<&str> = text.lines().collect();
    assert_eq!(out.len(), 6, "{text}");
    // Lines the repair does not name are copied byte for byte.
    assert_eq!(out[0], lines[0]);
    assert_eq!(out[1], lines[1]);
    assert_eq!(out[3], lines[4]);
    assert_eq!(out[5], lines[6]);
    let call: Value = serde_json::from_str(out[2]).unwrap();
    let answer: Value = serde_json::from_str(out[4]).unwrap();
    assert_eq!(call["call_id"], answer["call_id"]);
    assert!(call["call_id"].as_str().unwrap().len() <= 64);
    let (code, report, _) = run(&["check", fixed.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn fix_mends_rollouts_as_codex_resumes_them_inside_and_after_the_replacement_history() {
    let lines = [
        r#"{"timestamp":"t0","type":"session_meta","payload":{"id":"s"}}"#,
        r#"{"timestamp":"t1","type":"response_item","payload":{"type":"message","role":"user","content":"go"}}"#,
        r#"{"timestamp":"t2","type":"response_item","payload":{"type":"function_call","call_id":"call_old","name":"ls","arguments":"{}"}}"#,
        r#"{"timestamp":"t3","ordinal":4,"type":"compacted","payload":{"message":"s","replacement_history":[{"type":"message","role":"user","content":"go"},{"type":"function_call","call_id":"call_kept","name":"ls","arguments":"{}"},{"type":"message","role":"user","content":"summary"}]}}"#,
        r#"{"timestamp":"t4","type":"response_item","payload":{"type":"function_call_output","call_id":"call_gone","output":"x"}}"#,
        r#"{"timestamp": "t5", "type": "event_msg", "payload": {"type": "token_count"}}"#,
        r#"{"timestamp":"t6","type":"response_item","payload":{"type":"message","role":"user","content":"next"}}"#,
    ];
    let input = tmp("compacted.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let (code, out, _) = run(&["check", input.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    // call_old went with the compaction: not reported. call_kept lacks its output; call_gone's
    // call was dropped by the compaction.
    assert!(!out.contains("call_old"), "{out}");
    assert!(
        out.contains("missing_output       call call_kept  item 3.1, line 4"),
        "{out}"
    );
    assert!(
        out.contains("orphan_output        call call_gone  item 4, line 5"),
        "{out}"
    );

    let fixed = tmp("compacted-fixed.jsonl");
    let (code, _, err) = run(&[
        "fix",
        input.to_str().unwrap(),
        "-o",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&fixed).unwrap();
    let out: Vec<&str> = text.lines().collect();
    assert_eq!(out.len(), 6, "{text}");
    for (i, same) in [(0, 0), (1, 1), (2, 2), (4, 5), (5, 6)] {
        assert_eq!(
            out[i], lines[same],
            "line {same} must be copied byte for byte"
        );
    }
    let compacted: Value = serde_json::from_str(out[3]).unwrap();
    let history = compacted["payload"]["replacement_history"]
        .as_array()
        .unwrap();
    assert_eq!(history[2]["type"], "function_call_output");
    assert_eq!(history[2]["call_id"], "call_kept");
    assert_eq!(compacted["ordinal"], 4);
    let (code, report, _) = run(&["check", fixed.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_broken_bedrock_body_exits_1_and_an_unknown_shape_exits_2_never_0() {
    let path = tmp("bedrock.json");
    std::fs::write(
        &path,
        r#"{"messages": [{"role": "user", "content": [{"text": "list"}]},
                        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "ls", "input": {}}}]},
                        {"role": "user", "content": [{"text": "stop"}]}]}"#,
    )
    .unwrap();
    let (code, out, _) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bedrock") && out.contains("missing_output"),
        "{out}"
    );
    assert!(
        out.contains("Expected toolResult blocks at messages.2.content"),
        "{out}"
    );
    let (code, out, _) = run(&["check", "--format", "bedrock", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");

    let odd = tmp("odd.json");
    std::fs::write(
        &odd,
        r#"{"messages": [{"role": "user", "content": [{"mystery": 1}]}]}"#,
    )
    .unwrap();
    let (code, out, err) = run(&["check", odd.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("mystery"), "{err}");
}

#[test]
fn gemini_documents_and_lines_are_checked_and_fixed() {
    let doc = tmp("gemini.json");
    std::fs::write(
        &doc,
        r#"{"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {}}}]},
                        {"role": "user", "parts": [{"text": "hurry"}]}]}"#,
    )
    .unwrap();
    let (code, out, _) = run(&["check", doc.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("weather#0@contents[1]"), "{out}");
    // Answered, the call's response turn is followed by the user's text: two client turns in a
    // row, which Gemini refuses. Only a placeholder model turn between mends that, opted in.
    assert!(out.contains("roles_not_alternating"), "{out}");
    let fixed = tmp("gemini.fixed.json");
    let (d, f) = (doc.to_str().unwrap(), fixed.to_str().unwrap());
    let (code, out, err) = run(&["fix", d, "-o", f]);
    assert_eq!(code, 1, "{out}{err}");
    let (code, out, _) = run(&["check", f]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("roles_not_alternating") && !out.contains("missing_output"),
        "{out}"
    );
    let (code, out, err) = run(&["fix", "--placeholders", d, "-o", f]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["check", f]);
    assert_eq!(code, 0, "{out}");
    let turns: Value = serde_json::from_str(&std::fs::read_to_string(&fixed).unwrap()).unwrap();
    let roles: Vec<&str> = turns["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "model", "user", "model", "user"]);
    // One content per line: read whole, since responses without ids pair by place.
    let lines = tmp("gemini.jsonl");
    std::fs::write(
        &lines,
        "{\"role\": \"user\", \"parts\": [{\"text\": \"go\"}]}\n{\"role\": \"model\", \"parts\": [{\"functionCall\": {\"name\": \"ls\", \"args\": {}}}]}\n{\"role\": \"user\", \"parts\": [{\"functionResponse\": {\"name\": \"ls\", \"response\": {}}}]}\n",
    )
    .unwrap();
    let (code, out, err) = run(&["check", "--format", "gemini", lines.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn model_profiles_from_the_body_or_the_command_line() {
    let chat = serde_json::json!({"model": "devstral-medium-2512", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_PTLP8xhu3uwZk4l3nlnrrJha", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_PTLP8xhu3uwZk4l3nlnrrJha", "content": "a.txt"}]});
    let input = tmp("mistral.json");
    std::fs::write(&input, serde_json::to_string_pretty(&chat).unwrap()).unwrap();
    let path = input.to_str().unwrap();

    let (code, out, _) = run(&["check", path]);
    assert_eq!(code, 1);
    assert!(
        out.contains("profile mistral (body `model` is `devstral-medium-2512`: a Mistral model)"),
        "{out}"
    );
    assert!(out.contains("API would answer: Tool call id was call_PTLP8xhu3uwZk4l3nlnrrJha but must be a-z, A-Z, 0-9, with a length of 9."), "{out}");

    // Routed to DeepSeek instead, the same history breaks another rule.
    let (code, out, _) = run(&["check", "--json", "--model", "deepseek-reasoner", path]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["profile"]["name"], "deepseek-thinking");
    assert_eq!(v["violations"][0]["rule"], "missing_reasoning_content");
    assert_eq!(v["repairs"], serde_json::json!([]));
    // OpenAI takes it: its ids are under 40 characters.
    let (code, out, _) = run(&["check", "--json", "--model", "gpt-4.1", path]);
    assert_eq!((code, &v["format"]), (0, &Value::from("chat")));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["profile"]["name"],
        "openai-chat"
    );

    let fixed = tmp("mistral.fixed.json");
    let (code, _, err) = run(&["fix", path, "-o", fixed.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let body: Value = serde_json::from_slice(&std::fs::read(&fixed).unwrap()).unwrap();
    let new = body["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(new.len(), 9);
    assert_eq!(body["messages"][2]["tool_call_id"], new);
    assert_eq!(run(&["check", fixed.to_str().unwrap()]).0, 0);

    // A profile for another API is refused, not silently ignored.
    let (code, _, err) = run(&["check", "--model", "anthropic-thinking", path]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "profile `anthropic-thinking` applies to anthropic histories, not to a chat body"
        ),
        "{err}"
    );
}

#[test]
fn gemini_signatures_are_bypassed_only_when_asked() {
    let lines = [
        r#"{"role":"user","parts":[{"text":"read a"}]}"#,
        r#"{"role":"model","parts":[{"functionCall":{"name":"read","args":{}}}]}"#,
        r#"{"role":"user","parts":[{"functionResponse":{"name":"read","response":{"ok":true}}}]}"#,
    ];
    let input = tmp("gemini3.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let path = input.to_str().unwrap();
    let m = "--model=gemini-3-pro-preview";
    let (code, out, _) = run(&["check", m, path]);
    assert_eq!(code, 1);
    assert!(out.contains("missing_thought_signature"), "{out}");
    // Left as it is by default: the fix exits 1 and copies the file.
    let (code, out, _) = run(&["fix", m, path]);
    assert_eq!(code, 1);
    assert_eq!(out, lines.join("\n") + "\n");
    let (code, out, err) = run(&["fix", m, "--bypass-thought-signatures", path]);
    assert_eq!(code, 0, "{err}");
    let model: Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        model["parts"][0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
    assert!(out.lines().next() == Some(lines[0]));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn a_byte_order_mark_is_accepted_in_documents_and_lines() {
    let doc = tmp("bom.json");
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(std::fs::read(data("responses_body.json")).unwrap());
    std::fs::write(&doc, &bytes).unwrap();
    let (code, out, err) = run(&["check", doc.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("No tool output found for local shell call call_1."),
        "{out}"
    );

    let lines = tmp("bom.jsonl");
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(std::fs::read(data("rollout_clean.jsonl")).unwrap());
    std::fs::write(&lines, &bytes).unwrap();
    assert_eq!(run(&["check", lines.to_str().unwrap()]).0, 0);
}

#[test]
fn gzipped_session_logs_are_read_and_fixed() {
    let plain = std::fs::read(data("rollout.jsonl")).unwrap();
    let input = tmp("rollout.jsonl.gz");
    std::fs::write(&input, gzip(&plain)).unwrap();
    let path = input.to_str().unwrap();
    let (code, from_gz, _) = run(&["check", "--json", path]);
    let (_, from_plain, _) = run(&["check", "--json", &data("rollout.jsonl")]);
    assert_eq!(code, 1);
    assert_eq!(from_gz, from_plain);

    // A `.gz` output is compressed; any other name gets the text.
    let out_gz = tmp("rollout.fixed.jsonl.gz");
    assert_eq!(run(&["fix", path, "-o", out_gz.to_str().unwrap()]).0, 0);
    let fixed = gunzip(&std::fs::read(&out_gz).unwrap());
    let (_, to_stdout, _) = run(&["fix", &data("rollout.jsonl")]);
    assert_eq!(fixed, to_stdout);
    assert_eq!(run(&["check", out_gz.to_str().unwrap()]).0, 0);
}

#[test]
fn a_folder_is_walked_in_parallel_and_an_unreadable_file_does_not_stop_it() {
    let dir = tmp("sessions");
    let _ = std::fs::remove_dir_all(&dir);
    let day = dir.join("2026").join("11").join("24");
    std::fs::create_dir_all(&day).unwrap();
    for (name, from) in [
        ("rollout-1.jsonl", "rollout.jsonl"),
        ("rollout-2.jsonl", "rollout_clean.jsonl"),
        ("rollout-4.jsonl", "items.jsonl"),
    ] {
        std::fs::copy(data(from), day.join(name)).unwrap();
    }
    // Garbage in the middle of the walk, a gzipped log, and a file that is not a history.
    std::fs::copy(data("truncated.jsonl"), day.join("rollout-3.jsonl")).unwrap();
    let gz = gzip(&std::fs::read(data("rollout.jsonl")).unwrap());
    std::fs::write(day.join("rollout-5.jsonl.gz"), gz).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a history").unwrap();
    let d = dir.to_str().unwrap();

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].ends_with("rollout-1.jsonl: 2 violation(s): 1 missing_output, 1 orphan_output"),
        "{out}"
    );
    assert!(
        lines[1].contains("rollout-3.jsonl: cannot read: 2:"),
        "{out}"
    );
    assert!(
        lines[2].ends_with("rollout-4.jsonl: 2 violation(s): 1 missing_output, 1 orphan_output"),
        "{out}"
    );
    assert!(
        lines[3].ends_with("rollout-5.jsonl.gz: 2 violation(s): 1 missing_output, 1 orphan_output"),
        "{out}"
    );
    assert!(
        out.contains("5 file(s): 1 clean, 3 broken, 1 unreadable;"),
        "{out}"
    );
    assert!(
        out.contains("missing_output                              3      3"),
        "{out}"
    );
    assert!(!out.contains("notes.txt"));

    let (code, out, _) = run(&["check", "--json", d]);
    assert_eq!(code, 1);
    let objects: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 5);
    assert!(objects[1]["file"]
        .as_str()
        .unwrap()
        .ends_with("rollout-2.jsonl"));
    assert_eq!(objects[1]["violations"], serde_json::json!([]));
    assert!(objects[2]["error"].as_str().unwrap().contains("truncated"));
    assert_eq!(objects[4]["format"], "rollout");

    // Several files named at once; only unreadable ones: exit 2, never 0.
    let clean = day.join("rollout-2.jsonl");
    let (code, out, _) = run(&["check", clean.to_str().unwrap(), &data("garbage.txt")]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("2 file(s): 1 clean, 0 broken, 1 unreadable"),
        "{out}"
    );
}

/// A rollout over several of the checker's 1 MiB chunks, with a 5 MiB line among them: `n`
/// turns of a call and its output, every seventh output missing.
fn big_rollout(n: usize) -> (String, usize) {
    let mut text = String::new();
    let mut missing = 0;
    let filler = "y".repeat(3000);
    for t in 0..n {
        let call = serde_json::json!({"timestamp": t, "type": "response_item", "payload":
            {"type": "function_call", "call_id": format!("call_{t}"), "name": "shell", "arguments": "{}"}});
        text.push_str(&format!("{call}\n"));
        if t == n / 3 {
            // A blank line and a line longer than a chunk: line numbers must stay right after it.
            let huge = "z".repeat(5 << 20);
            let msg = serde_json::json!({"timestamp": t, "type": "event_msg", "payload": {"type": "agent_message", "message": huge}});
            text.push_str(&format!("\n{msg}\n"));
        }
        if t % 7 == 0 {
            missing += 1;
            continue;
        }
        let out = serde_json::json!({"timestamp": t, "type": "response_item", "payload":
            {"type": "function_call_output", "call_id": format!("call_{t}"), "output": filler}});
        text.push_str(&format!("{out}\n"));
    }
    (text, missing)
}

/// The chunks the checker reads JSON Lines in: the whole lines in the MiB from where the last
/// chunk ended, or in more MiB until a line ends. Each as `(start, end, read_to)`, `read_to`
/// being how far the checker had to read to find its end.
fn chunks(text: &[u8]) -> Vec<(usize, usize, usize)> {
    let mib = 1 << 20;
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut want = mib;
        let (end, read_to) = loop {
            let read_to = (start + want).min(text.len());
            if read_to == text.len() {
                break (read_to, read_to);
            }
            match text[start..read_to].iter().rposition(|&b| b == b'\n') {
                Some(i) => break (start + i + 1, read_to),
                None => want += mib,
            }
        };
        out.push((start, end, read_to));
        start = end;
    }
    out
}

#[test]
fn a_rollout_over_many_chunks_is_read_as_its_values_are() {
    let (text, missing) = big_rollout(6000);
    assert!(text.len() > 20 << 20);
    let path = tmp("big_rollout.jsonl");
    std::fs::write(&path, &text).unwrap();
    let (code, out, err) = run(&["check", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let violations = report["violations"].as_array().unwrap();
    assert_eq!(violations.len(), missing);
    // Each violation names the line its call is on, counted across chunks and the long line.
    let lines: Vec<&str> = text.split('\n').collect();
    for v in violations {
        let line = v["line"].as_u64().unwrap() as usize;
        let id = v["call_id"].as_str().unwrap();
        assert!(
            lines[line - 1].contains(&format!("\"call_id\":\"{id}\"")),
            "{v}"
        );
    }
    // The library reading every line as a value finds the same.
    let values: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_value = toolseq::check(&Value::Array(values), Some(toolseq::Format::Rollout)).unwrap();
    assert_eq!(by_value.violations.len(), violations.len());
    for (a, b) in by_value.violations.iter().zip(violations) {
        assert_eq!(a.call_id.as_deref(), b["call_id"].as_str());
        assert_eq!(a.index as u64, b["index"].as_u64().unwrap());
    }
}

#[test]
fn a_broken_line_deep_in_a_large_rollout_is_named_by_line_and_column() {
    let (text, _) = big_rollout(4000);
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    // In a later chunk, in the half of it a second thread reads.
    let broken = lines.len() * 4 / 5;
    lines[broken] = r#"{"timestamp": 1, "type": "response_item", "payload": {"type": }}"#.into();
    let path = tmp("broken_rollout.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let (code, _, err) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "broken_rollout.jsonl:{}:63: expected value",
            broken + 1
        )),
        "{err}"
    );
}

/// A read that fails part way (a gzipped log cut short) is reported at the line its chunk
/// starts on: the lines of the chunks before it were counted and added.
#[test]
fn a_read_failing_part_way_names_the_line_its_chunk_starts_on() {
    use std::io::Read;
    let (text, _) = big_rollout(6000);
    let gz = gzip(text.as_bytes());
    let cut = &gz[..gz.len() / 2];
    // What can be read before the failure.
    let mut read = Vec::new();
    let failure = flate2::read::MultiGzDecoder::new(cut)
        .read_to_end(&mut read)
        .unwrap_err();
    // The first chunk that needs a byte past what can be read fails.
    let (failed_at, ..) = chunks(text.as_bytes())
        .into_iter()
        .find(|&(.., read_to)| read_to > read.len())
        .unwrap();
    assert!(failed_at > 0, "the failure must come after some chunks");
    let line = 1 + text[..failed_at].matches('\n').count();
    let path = tmp("cut_short.jsonl.gz");
    std::fs::write(&path, cut).unwrap();
    let (code, _, err) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("cut_short.jsonl.gz:{line}: {failure}")),
        "{err} (expected line {line})"
    );
}

#[test]
fn of_two_broken_lines_in_different_chunks_the_first_is_named() {
    let (text, _) = big_rollout(4000);
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    // Chunks are parsed on several threads at once. The first broken line ends the third
    // chunk (the 5 MiB line comes later) and the second starts the fourth, so the fourth chunk
    // fails first.
    let (_, third_end, _) = chunks(text.as_bytes())[2];
    let first = text[..third_end].matches('\n').count() - 1;
    let second = first + 2;
    // Each broken line as long as the one it replaces, so that the chunks stay where they were.
    for (at, broken) in [
        (first, r#"{"type": "response_item", "payload": [}"#),
        (
            second,
            r#"{"type": "response_item", "payload": {"type": }}"#,
        ),
    ] {
        lines[at] = format!("{broken:<width$}", width = lines[at].len());
    }
    let path = tmp("two_broken_rollout.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    for _ in 0..5 {
        let (code, _, err) = run(&["check", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!(
                "two_broken_rollout.jsonl:{}:39: expected value",
                first + 1
            )),
            "{err}"
        );
    }
}

/// `fix` never destroys its input through its output path: not through a link to the input
/// planted at the old predictable temporary name, not through a hard link or a second path to
/// the input, and it leaves no temporary file behind.
#[cfg(unix)]
#[test]
fn fix_never_writes_through_a_planted_link_or_to_its_input_by_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("log.jsonl");
    std::fs::copy(data("items.jsonl"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let out = dir.path().join("fixed.jsonl");
    // Someone who can write the folder plants the name `fix` used to write to.
    std::os::unix::fs::symlink(&input, dir.path().join("fixed.jsonl.toolseq-tmp")).unwrap();
    let (code, _, err) = run(&["fix", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&input).unwrap(), original);
    assert!(std::fs::read(&out).unwrap() != original);
    // A hard link and a path through `..` are the input by identity.
    let hard = dir.path().join("hard.jsonl");
    std::fs::hard_link(&input, &hard).unwrap();
    let dotted = dir.path().join("sub");
    std::fs::create_dir(&dotted).unwrap();
    let dotted = dotted.join("../log.jsonl");
    let linked = dir.path().join("linked.jsonl");
    std::os::unix::fs::symlink(&input, &linked).unwrap();
    for same in [&hard, &dotted, &linked] {
        let (code, _, err) = run(&["fix", input.to_str().unwrap(), "-o", same.to_str().unwrap()]);
        assert_eq!(code, 2, "{}: {err}", same.display());
        assert!(err.contains("over the input itself"), "{err}");
        assert_eq!(std::fs::read(&input).unwrap(), original);
    }
    // Nothing of toolseq's is left in the folder.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".toolseq-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A file name found while walking a folder reaches the terminal escaped (it could set the
/// title or clear the screen, or reorder the line with a bidi override); `--json` keeps it exact.
#[cfg(unix)]
#[test]
fn file_names_from_a_folder_are_escaped_on_the_terminal_and_exact_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\u{1b}]0;owned\u{7}\u{202e}lnosj.jsonl";
    std::fs::write(
        dir.path().join(name),
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"}\n",
    )
    .unwrap();
    let (code, out, _) = run(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(
        out.contains("evil\\u{1b}]0;owned\\u{7}\\u{202e}lnosj.jsonl"),
        "{out}"
    );
    let (_, out, _) = run(&["check", "--json", dir.path().to_str().unwrap()]);
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(v["file"].as_str().unwrap().ends_with(name));
}

/// A FIFO or a process substitution is read once: detection and parsing read the same bytes,
/// and nothing waits for a second writer.
#[cfg(unix)]
#[test]
fn a_fifo_and_a_process_substitution_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let line =
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"}\n";
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, line).unwrap())
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_toolseq"))
        .args(["check", fifo.to_str().unwrap()])
        .output()
        .unwrap();
    writer.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("missing_output"), "{text}");
    // `toolseq check <(cat log.jsonl)`, as a shell runs it.
    let file = dir.path().join("log.jsonl");
    std::fs::write(&file, line).unwrap();
    let bin = env!("CARGO_BIN_EXE_toolseq");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("'{bin}' check <(cat '{}')", file.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("missing_output"), "{text}");
}

#[test]
fn a_decompression_bomb_and_an_endless_line_stop_at_a_limit_that_names_its_option() {
    // 100 MiB of short lines in a file of about 0.7 MB: past 100 times its size and the
    // 64 MiB floor.
    let line = br#"{"type":"message","role":"user","content":"hi"}"#;
    let mut lines = Vec::with_capacity(100 << 20);
    while lines.len() < 100 << 20 {
        lines.extend_from_slice(line);
        lines.push(b'\n');
    }
    let bomb = tmp("bomb.jsonl.gz");
    std::fs::write(&bomb, gzip(&lines)).unwrap();
    drop(lines);
    let (code, out, err) = run(&["check", bomb.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("expands past") && err.contains("--max-inflate"),
        "{err}"
    );
    // Raised, it is read: the limit is the only thing in the way.
    let (code, out, err) = run(&["check", "--max-inflate", "100000", bomb.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    // One line of 2 MiB, under a limit of 1 MiB: as JSON Lines and as a one-line body.
    let text = "x".repeat(2 << 20);
    let long = tmp("long.jsonl");
    let item = serde_json::json!({"type": "message", "role": "user", "content": text});
    std::fs::write(&long, format!("{item}\n{item}\n")).unwrap();
    let body = tmp("long.json");
    std::fs::write(&body, serde_json::json!({"input": [item]}).to_string()).unwrap();
    for file in [&long, &body] {
        let (code, out, err) = run(&["check", "--max-line", "1M", file.to_str().unwrap()]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains("longer than 1 MiB") && err.contains("--max-line"),
            "{err}"
        );
        let (code, out, err) = run(&["check", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, _, err) = run(&["check", "--max-line", "lots", body.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a size"), "{err}");
}

#[test]
fn fix_splices_a_compact_body_and_keeps_every_byte_it_does_not_repair() {
    // Spacing, escapes and number spellings a tree would rewrite.
    let items = [
        r#"{"role":"user","type":"message","content":"caf\u00e9 \ud83d\ude00"}"#,
        r#"{"type":"function_call_output","call_id":"c2","output":"early"}"#,
        r#"{"type":"function_call","call_id":"c1","name":"x","arguments":"{\"n\": 1.50}"}"#,
        r#"{"type":"function_call","call_id":"c2","name":"y","arguments":"{}"}"#,
        r#"{"type":"function_call_output","call_id":"zz","output":"orphan"}"#,
    ];
    let head = r#"{"model":"gpt-5", "temperature":1.0e0,"input":["#;
    let tail = r#"],"tools":[]}"#;
    let body = format!("{head}{}{tail}", items.join(" , "));
    let input = tmp("compact.json");
    std::fs::write(&input, &body).unwrap();
    let out = tmp("compact-fixed.json");
    let (code, _, err) = run(&["fix", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let fixed = std::fs::read_to_string(&out).unwrap();
    let inserted = r#"{"type":"function_call_output","call_id":"c1","output":"aborted"}"#;
    let want = [items[0], items[2], inserted, items[3], items[1]].join(" , ");
    assert_eq!(fixed, format!("{head}{want}{tail}"));
    assert_eq!(run(&["check", out.to_str().unwrap()]).0, 0);

    // A pretty body is spliced too, the new item indented as the others are (two spaces or
    // four); one with `input` twice is rewritten from a tree, read as serde_json reads it (the
    // last one) by the check and the repair alike.
    let value: Value = serde_json::from_str(&body).unwrap();
    let want: Value = serde_json::from_str(&fixed).unwrap();
    for indent in [&b"  "[..], b"    "] {
        let pretty = |v: &Value| {
            let mut buf = Vec::new();
            let f = serde_json::ser::PrettyFormatter::with_indent(indent);
            serde::Serialize::serialize(
                v,
                &mut serde_json::Serializer::with_formatter(&mut buf, f),
            )
            .unwrap();
            String::from_utf8(buf).unwrap()
        };
        let input = tmp("pretty.json");
        std::fs::write(&input, pretty(&value)).unwrap();
        let (code, _, err) = run(&["fix", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), pretty(&want));
    }
    let twice = tmp("twice.json");
    std::fs::write(
        &twice,
        format!(r#"{{"input":[{}],{}"#, items[0], &body[1..]),
    )
    .unwrap();
    let (code, _, err) = run(&["fix", twice.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (after, report, _) = run(&["check", out.to_str().unwrap()]);
    assert_eq!(after, 0, "{report}");
    let fixed: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(fixed, want);
}

#[test]
fn an_output_of_the_wrong_shape_is_reshaped_by_fix_and_named_in_json() {
    let body = serde_json::json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": ["a.txt"]}}]}]});
    let input = tmp("gemini-list.json");
    std::fs::write(&input, body.to_string()).unwrap();
    let (code, out, _) = run(&["check", "--json", input.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["violations"][0]["rule"], "invalid_output_shape");
    assert_eq!(v["repairs"][0]["action"], "reshape_output");
    let fixed = tmp("gemini-list-fixed.json");
    let (code, _, err) = run(&[
        "fix",
        input.to_str().unwrap(),
        "-o",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&fixed).unwrap()).unwrap();
    assert_eq!(
        after["contents"][2]["parts"][0]["functionResponse"]["response"],
        serde_json::json!({"output": ["a.txt"]})
    );
    assert_eq!(run(&["check", fixed.to_str().unwrap()]).0, 0);
}

#[test]
fn placeholders_are_put_only_when_fix_is_asked_to() {
    let body = serde_json::json!({"model": "deepseek-reasoner", "messages": [
        {"role": "user", "content": "list the files"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}]});
    let input = tmp("deepseek.json");
    std::fs::write(&input, body.to_string()).unwrap();
    let out = tmp("deepseek-fixed.json");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    // Left, and said to be left: exit 1.
    let (code, _, err) = run(&["fix", i, "-o", o]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(&["fix", "--placeholders", i, "-o", o]);
    assert_eq!(code, 0, "{err}");
    let fixed: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(fixed["messages"][1]["reasoning_content"], "");
    assert_eq!(run(&["check", o]).0, 0);
    let (_, json, _) = run(&["check", "--json", i]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["repairs"],
        serde_json::json!([]),
        "check plans no placeholder"
    );
}

#[test]
fn help_lists_the_exit_codes_and_an_empty_folder_is_an_error() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit status: 0")
            && out.contains("1 when a violation")
            && out.contains("2 when"),
        "{out}"
    );
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("notes.txt"), "not a session").unwrap();
    let (code, _, err) = run(&["check", empty.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds no .json or .jsonl file"), "{err}");
}

#[test]
fn fix_in_place_replaces_the_file_whole_and_only_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.jsonl");
    std::fs::copy(data("items.jsonl"), &file).unwrap();
    let (before, _, _) = run(&["check", file.to_str().unwrap()]);
    assert_eq!(before, 1);
    // Through a link: the file it points to is replaced, the link stays a link.
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (code, out, err) = run(&["fix", "--in-place", link.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let (after, report, _) = run(&["check", file.to_str().unwrap()]);
    assert_eq!(after, 0, "{report}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    // Neither stdin nor a gzipped file can be replaced in place; -o and --in-place exclude
    // each other.
    let (code, _, err) = run(&["fix", "--in-place", "-"]);
    assert_eq!(code, 2);
    assert!(err.contains("refusing --in-place on stdin"), "{err}");
    let gz = dir.path().join("log.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(data("items.jsonl")).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let original = std::fs::read(&gz).unwrap();
    let (code, _, err) = run(&["fix", "--in-place", gz.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("gzip"), "{err}");
    assert_eq!(std::fs::read(&gz).unwrap(), original);
    let (code, _, _) = run(&["fix", "--in-place", "-o", "x.jsonl", file.to_str().unwrap()]);
    assert_eq!(code, 2);
}

#[test]
fn items_lists_what_the_api_sees_and_marks_violations_in_place() {
    let body = tmp("items-body.json");
    std::fs::write(
        &body,
        r#"{"model": "gpt-4.1", "input": [
            {"type": "message", "role": "user", "content": "the secret plan"},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "ls", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}]}"#,
    )
    .unwrap();
    let (code, out, err) = run(&["items", body.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[2].contains("call_1") && lines[2].contains("fc_1") && !lines[2].contains("<--"),
        "{out}"
    );
    assert!(
        lines[3].contains("call_2") && lines[3].contains("<-- missing_output"),
        "{out}"
    );
    assert!(
        !out.contains("secret") && !out.contains("a.txt"),
        "text shown: {out}"
    );
    let (_, json, _) = run(&["items", "--json", body.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["entries"][2]["violations"][0], "missing_output");
    assert_eq!(v["entries"][1]["item_id"], "fc_1");
    assert_eq!(v["entries"][3]["kind"], "output");

    // A rollout: each item's line and time, and the lines that changed the history.
    let rollout = tmp("items-rollout.jsonl");
    let lines = [
        r#"{"timestamp":"2026-01-01T00:00:00Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"go"}]}}"#,
        r#"{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"function_call","call_id":"call_1","name":"ls","arguments":"{}"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"turn_aborted","reason":"interrupted"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:03Z","type":"compacted","payload":{"message":"summary","replacement_history":[{"type":"message","role":"user","content":[{"type":"input_text","text":"go"}]}]}}"#,
        r#"{"timestamp":"2026-01-01T00:00:04Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"next"}]}}"#,
    ];
    std::fs::write(&rollout, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = run(&["items", rollout.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(
        out.contains("line 3 2026-01-01T00:00:02Z: turn_aborted (interrupted)"),
        "{out}"
    );
    assert!(
        out.contains("line 4 2026-01-01T00:00:03Z: compacted: the 1 items"),
        "{out}"
    );
    assert!(
        !out.contains("call_1"),
        "the compaction dropped the call: {out}"
    );
    assert!(
        out.contains("line 5") && out.contains("2026-01-01T00:00:04Z"),
        "{out}"
    );
}

#[test]
fn fix_drops_a_last_line_cut_off_by_a_crash_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crashed.jsonl");
    let mut text = std::fs::read_to_string(data("items.jsonl")).unwrap();
    let whole = text.lines().count();
    let cut = r#"{"type":"function_call_output","call_id":"call_z","outp"#;
    text.push_str(cut);
    std::fs::write(&file, &text).unwrap();
    // Without the flag: the cut-off line is an error that names it.
    let (code, _, err) = run(&["fix", file.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("the last line is truncated"), "{err}");
    let out = dir.path().join("fixed.jsonl");
    let (code, _, err) = run(&[
        "fix",
        "--drop-truncated-tail",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let said = format!("line {}: {} bytes cut off mid-record", whole + 1, cut.len());
    assert!(err.contains(&said), "{err}");
    let fixed = std::fs::read_to_string(&out).unwrap();
    assert!(!fixed.contains("call_z"));
    assert_eq!(run(&["check", out.to_str().unwrap()]).0, 0);
    let (_, _, json) = run(&[
        "fix",
        "--json",
        "--drop-truncated-tail",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["dropped_tail"]["line"], whole + 1);
    // A whole last line, even without a line ending, is kept.
    let whole_file = dir.path().join("whole.jsonl");
    std::fs::write(&whole_file, text.trim_end_matches(cut).trim_end()).unwrap();
    let (code, _, err) = run(&[
        "fix",
        "--drop-truncated-tail",
        whole_file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("dropped_tail"), "{err}");
}
