//! The released Codex CLI's own instrumentation, replayed through the layer.
//!
//! The capture is Codex 0.171.0's OpenTelemetry export of the `interactive` scenario of
//! `tests/e2e` (a prompt typed into a running turn; Esc while a long command runs, then a new
//! message; two parallel calls with the slow one interrupted), with the last request Codex
//! sent. `tests/e2e/run.py` runs this test again on the capture it has just made, through
//! `TOOLSEQ_CODEX_CAPTURE`; without it, the capture kept in `tests/data/codex-0.171.0` is read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use toolseq::convention::Convention;
use toolseq::ledger::{CallState, Ledger, RecordKind, DEFAULT_CONVERSATION};
use toolseq::otlp::Replay;
use toolseq::Guard;

/// The export's two files and the last request body.
struct Capture {
    traces: String,
    logs: String,
    last_request: Value,
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn capture() -> Capture {
    match std::env::var_os("TOOLSEQ_CODEX_CAPTURE") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let mut bodies: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    name.ends_with(".json") && !name.ends_with(".meta.json")
                })
                .collect();
            bodies.sort();
            let last = bodies.last().expect("the capture holds requests");
            Capture {
                traces: std::fs::read_to_string(dir.join("otlp-traces.jsonl")).unwrap(),
                logs: std::fs::read_to_string(dir.join("otlp-logs.jsonl")).unwrap(),
                last_request: serde_json::from_str(&std::fs::read_to_string(last).unwrap())
                    .unwrap(),
            }
        }
        None => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/codex-0.171.0");
            Capture {
                traces: gunzip(&dir.join("interactive-otlp-traces.jsonl.gz")),
                logs: gunzip(&dir.join("interactive-otlp-logs.jsonl.gz")),
                last_request: serde_json::from_str(&gunzip(
                    &dir.join("interactive-last-request.json.gz"),
                ))
                .unwrap(),
            }
        }
    }
}

fn text_of(item: &Value) -> String {
    match &item["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[test]
fn codex_s_own_export_replayed_gives_each_call_the_answer_codex_sent() {
    let capture = capture();
    let mut replay = Replay::new();
    replay.add_json_lines(&capture.traces).unwrap();
    replay.add_json_lines(&capture.logs).unwrap();
    let ledger = Ledger::new();
    let played = replay.feed(&ledger, Convention::default());
    assert!(played.spans > 0 && played.skipped == 0, "{played:?}");

    // Codex sends its conversation id as the prompt cache key.
    let body = &capture.last_request;
    let conversation = body["prompt_cache_key"].as_str().unwrap();
    let snap = ledger
        .snapshot(conversation)
        .expect("the ledger saw the thread");
    assert!(
        !ledger
            .conversations()
            .iter()
            .any(|c| c == DEFAULT_CONVERSATION),
        "{:?}",
        ledger.conversations()
    );

    // Every call Codex sent is settled, answered as Codex answered it.
    let items = body["input"].as_array().unwrap();
    let mut aborted = 0;
    for call in items.iter().filter(|i| i["type"] == "function_call") {
        let id = call["call_id"].as_str().unwrap();
        let output = items
            .iter()
            .find(|i| i["type"] == "function_call_output" && i["call_id"] == id)
            .and_then(|i| i["output"].as_str())
            .unwrap();
        let want = if output.contains("aborted by user") {
            aborted += 1;
            CallState::Aborted
        } else {
            CallState::Answered
        };
        assert_eq!(snap.calls[id].state, want, "{id}: {output}");
    }
    assert_eq!(aborted, 2, "the capture holds the two interrupted calls");

    // Each prompt is one queued user message: none is a message between a call and its output.
    let prompts = items
        .iter()
        .filter(|i| i["role"] == "user" && !text_of(i).trim_start().starts_with('<'))
        .count();
    let kinds: Vec<&RecordKind> = snap.records.iter().map(|r| &r.kind).collect();
    let queued = kinds
        .iter()
        .filter(|k| matches!(k, RecordKind::QueuedUserMessage { .. }))
        .count();
    assert_eq!(queued, prompts, "{kinds:?}");
    assert!(
        !kinds
            .iter()
            .any(|k| matches!(k, RecordKind::UserMessage { .. })),
        "{kinds:?}"
    );

    // A guard before that request has nothing to add: Codex's body is right as it is.
    let guard = Guard::new(&ledger).settle_timeout(Duration::from_millis(10));
    let (sent, report) = guard.prepare_with(conversation, || body.clone()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(&sent, body);
}
