//! Writes a synthetic Codex rollout of about N megabytes to stdout, for measuring the checker on
//! large files: `cargo run --release --example gen_rollout -- 200 > big.jsonl`. A second
//! argument sets the bytes of each tool output (2000 unless told): smaller outputs make more
//! lines of the same size, each an entry the checker keeps.
//!
//! Turns hold a user message, reasoning, parallel shell calls with outputs of a few kilobytes, and
//! an assistant message; one turn in fifty is interrupted (a call without output) and one in a
//! hundred carries an output whose call was compacted away.

use std::io::{self, BufWriter, Write};

use serde_json::json;

fn main() -> io::Result<()> {
    let megabytes: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let output: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let target = megabytes << 20;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut written = 0u64;
    let line = |out: &mut BufWriter<_>,
                kind: &str,
                payload: serde_json::Value,
                n: u64|
     -> io::Result<u64> {
        let ts = format!(
            "2025-09-01T{:02}:{:02}:{:02}.{:03}Z",
            (n / 3_600_000) % 24,
            (n / 60_000) % 60,
            (n / 1000) % 60,
            n % 1000
        );
        let s = json!({"timestamp": ts, "type": kind, "payload": payload}).to_string();
        out.write_all(s.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(s.len() as u64 + 1)
    };
    written += line(
        &mut out,
        "session_meta",
        json!({"id": "gen", "cwd": "/work", "originator": "gen_rollout"}),
        0,
    )?;
    let filler = "x".repeat(output.max(600));
    let mut n = 1u64;
    let mut turn = 0u64;
    while written < target {
        turn += 1;
        let msg = |role: &str, text: String| json!({"type": "message", "role": role, "content": [{"type": if role == "user" {"input_text"} else {"output_text"}, "text": text}]});
        written += line(
            &mut out,
            "response_item",
            msg("user", format!("turn {turn}: please look at the build")),
            n,
        )?;
        written += line(
            &mut out,
            "turn_context",
            json!({"model": "gpt-5", "cwd": "/work"}),
            n,
        )?;
        written += line(
            &mut out,
            "response_item",
            json!({"type": "reasoning", "summary": [], "encrypted_content": &filler[..600]}),
            n,
        )?;
        let calls: Vec<String> = (0..3).map(|k| format!("call_{turn}_{k}")).collect();
        for c in &calls {
            n += 1;
            written += line(
                &mut out,
                "response_item",
                json!({"type": "local_shell_call", "id": format!("lsh_{c}"), "call_id": c, "status": "completed", "action": {"type": "exec", "command": ["cargo", "build"]}}),
                n,
            )?;
        }
        for (k, c) in calls.iter().enumerate() {
            n += 1;
            if turn % 50 == 0 && k == 2 {
                written += line(
                    &mut out,
                    "event_msg",
                    json!({"type": "turn_aborted", "reason": "interrupted"}),
                    n,
                )?;
                continue;
            }
            written += line(
                &mut out,
                "response_item",
                json!({"type": "function_call_output", "call_id": c, "output": &filler[..output]}),
                n,
            )?;
        }
        if turn % 100 == 0 {
            written += line(
                &mut out,
                "response_item",
                json!({"type": "function_call_output", "call_id": format!("compacted_{turn}"), "output": "{}"}),
                n,
            )?;
        }
        written += line(
            &mut out,
            "response_item",
            msg("assistant", format!("turn {turn} done")),
            n,
        )?;
    }
    out.flush()
}
