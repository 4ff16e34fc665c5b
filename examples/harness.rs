//! Reproduces the interrupted-tool bug in a simulated agent loop (no network) and shows the guard
//! mending it.
//!
//! A fake model asks for two tool calls in parallel; one is slow; the user interrupts while it
//! runs (its future is dropped, so no output is ever recorded) and types a new message. The
//! history now holds a call with no output: a strict API refuses it with HTTP 400. The guard,
//! consulted before the request, answers the interrupted call and the request goes through.
//!
//! Run: `cargo run --example harness` (set `RUST_LOG` to change what the fmt layer prints; the
//! default shows toolseq's diagnostics at debug).

use std::time::Duration;

use serde_json::{json, Value};
use tracing::Instrument;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use toolseq::ledger::Ledger;
use toolseq::{Format, Guard};

const CONVERSATION: &str = "session-42";

/// A model API that validates the history the way the real ones do, and answers 400 if broken.
fn strict_api(format: Format, body: &Value) -> Result<(), String> {
    let report = toolseq::check(body, Some(format)).map_err(|e| e.to_string())?;
    match report.violations.first() {
        None => Ok(()),
        Some(v) => Err(format!(
            "HTTP 400: {}",
            report.api_error(v).unwrap_or_else(|| v.rule.to_string())
        )),
    }
}

/// The same history as Chat Completions messages and as Anthropic messages.
fn as_chat(items: &[Value]) -> Value {
    let mut msgs: Vec<Value> = Vec::new();
    for it in items {
        match it["type"].as_str() {
            Some("function_call") => {
                let call = json!({"id": it["call_id"], "type": "function",
                                  "function": {"name": it["name"], "arguments": it["arguments"]}});
                match msgs.last_mut() {
                    Some(m) if m.get("tool_calls").is_some() => {
                        if let Some(calls) = m["tool_calls"].as_array_mut() {
                            calls.push(call)
                        }
                    }
                    _ => msgs
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            Some("function_call_output") => msgs.push(
                json!({"role": "tool", "tool_call_id": it["call_id"], "content": it["output"]}),
            ),
            _ => msgs.push(json!({"role": it["role"], "content": it["content"][0]["text"]})),
        }
    }
    json!({"model": "fake", "messages": msgs})
}

fn as_anthropic(items: &[Value]) -> Value {
    let mut msgs: Vec<Value> = Vec::new();
    for it in items {
        let (role, block) = match it["type"].as_str() {
            Some("function_call") => (
                "assistant",
                json!({"type": "tool_use", "id": it["call_id"], "name": it["name"], "input": {}}),
            ),
            Some("function_call_output") => (
                "user",
                json!({"type": "tool_result", "tool_use_id": it["call_id"], "content": it["output"]}),
            ),
            _ => (
                it["role"].as_str().unwrap_or("user"),
                json!({"type": "text", "text": it["content"][0]["text"]}),
            ),
        };
        match msgs.last_mut() {
            Some(m) if m["role"] == role => {
                if let Some(c) = m["content"].as_array_mut() {
                    c.push(block)
                }
            }
            _ => msgs.push(json!({"role": role, "content": [block]})),
        }
    }
    json!({"model": "fake", "max_tokens": 1024, "messages": msgs})
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A tool that takes time, instrumented with toolseq's one-line span helper.
async fn run_tool(name: &'static str, call_id: &'static str, millis: u64) -> Value {
    async move {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        toolseq::tool_output!(call_id);
        json!({"type": "function_call_output", "call_id": call_id, "output": format!("{name}: ok")})
    }
    .instrument(toolseq::tool_call_span!(call_id, name))
    .await
}

fn show(items: &Value) {
    for (i, it) in items.as_array().into_iter().flatten().enumerate() {
        let what = match it["type"].as_str() {
            Some("message") => format!("{} message", it["role"].as_str().unwrap_or("?")),
            Some(t) => format!("{t} {}", it["call_id"].as_str().unwrap_or("")),
            None => "?".into(),
        };
        println!("    [{i}] {what}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let ledger = Ledger::new();
    // RUST_LOG's filter goes on the fmt layer only; the toolseq layer brings its own filter.
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("toolseq=debug"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(true)
                .with_filter(env),
        )
        .with(toolseq::layer::layer(&ledger))
        .init();

    let turn = toolseq::conversation_span!(CONVERSATION);
    let mut history: Vec<Value> = Vec::new();
    async {
        println!("== turn 1: the user asks; the fake model calls two tools in parallel");
        history.push(user("run the tests and list the files"));
        toolseq::user_message!();
        history.push(json!({"type": "function_call", "call_id": "call_ls", "name": "list_files", "arguments": "{}"}));
        history.push(json!({"type": "function_call", "call_id": "call_test", "name": "run_tests", "arguments": "{}"}));

        let ls = run_tool("list_files", "call_ls", 30);
        let tests = run_tool("run_tests", "call_test", 60_000);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = tx.send(()); // the user presses Esc
        });
        let mut ls = std::pin::pin!(ls);
        let mut tests = std::pin::pin!(tests);
        let mut rx = rx;
        let mut ls_done = false;
        loop {
            tokio::select! {
                out = &mut ls, if !ls_done => { history.push(out); ls_done = true; }
                out = &mut tests => { history.push(out); break; }
                _ = &mut rx => {
                    println!("== the user interrupts while run_tests is still running");
                    toolseq::interrupt!();
                    break;
                }
            }
        }
    }
    .instrument(turn.clone())
    .await; // leaving the block drops the run_tests future: its output never arrives

    turn.in_scope(|| {
        println!("== the user types a new message");
        history.push(user("never mind the tests, just summarise"));
        toolseq::user_message!();
    });

    let items = Value::Array(history.clone());
    println!("\n== the client's history (an OpenAI Responses input):");
    show(&items);

    println!("\n== without the guard, a strict API refuses the request in every format:");
    let bodies = [
        (
            Format::Responses,
            json!({"model": "fake", "input": items.clone()}),
        ),
        (Format::Chat, as_chat(&history)),
        (Format::Anthropic, as_anthropic(&history)),
    ];
    for (format, body) in &bodies {
        let answer = strict_api(*format, body)
            .err()
            .unwrap_or_else(|| "accepted".into());
        println!("  {format:<9} -> {answer}");
    }

    println!(
        "\n== with the guard before the request (its diagnostics come from target toolseq::guard):"
    );
    let guard = Guard::new(&ledger).settle_timeout(Duration::from_millis(200));
    let [(_, mut body), rest @ ..] = bodies;
    let report = match guard.prepare(CONVERSATION, &mut body) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("guard refused: {e}");
            std::process::exit(1);
        }
    };
    let answer = strict_api(Format::Responses, &body)
        .err()
        .unwrap_or_else(|| "accepted".into());
    println!("  responses -> {answer}\n\n  what was sent:");
    show(&body["input"]);
    println!("\n  the report:\n{}", indent(&report.to_string()));
    // Store the repair, so the next turn's request needs none.
    let mut stored = items.clone();
    if let Err(e) = report.apply_to(&mut stored) {
        eprintln!("cannot store the repair: {e}");
    }

    println!("\n== the same repair on the other wire formats:");
    for (format, mut body) in rest {
        let opts = toolseq::RepairOptions::default();
        let changes = toolseq::repair(&mut body, Some(format), &opts)
            .map(|r| r.changes.len())
            .unwrap_or(0);
        let answer = strict_api(format, &body)
            .err()
            .unwrap_or_else(|| "accepted".into());
        println!("  {format:<9} -> {answer} ({changes} change)");
    }

    println!("\n== the ledger timeline:");
    if let Some(snap) = ledger.snapshot(CONVERSATION) {
        for r in &snap.records {
            let id = r.kind.call_id().unwrap_or("");
            println!(
                "  {:>8.1} ms  #{:<3} {} {id}",
                r.at.as_secs_f64() * 1e3,
                r.seq,
                r.kind.name()
            );
        }
    }

    let next = json!({"model": "fake", "input": stored});
    let clean = toolseq::check(&next, None)
        .map(|r| r.is_clean())
        .unwrap_or(false);
    println!("\n== next turn from the stored history needs no repair: {clean}");
    if !clean {
        std::process::exit(1);
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
