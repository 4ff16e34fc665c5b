//! Reproduces the interrupted-tool bug in a simulated agent loop (no network) and shows the guard
//! mending it.
//!
//! A fake model asks for three tool calls in parallel. The user interrupts one (its task is
//! aborted, so no output is ever recorded) and types a new message while another is still
//! running. A body built at that moment lacks both outputs: a strict API refuses it with HTTP
//! 400. The guard waits for the running tool, then has the body built (`prepare_with`), so the
//! real output that landed meanwhile is sent, and answers the interrupted call as cancelled.
//!
//! Run: `cargo run --example harness` (set `RUST_LOG` to change what the fmt layer prints; the
//! default shows toolseq's diagnostics at debug).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::JoinHandle;

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

type History = Arc<Mutex<Vec<Value>>>;

/// A tool that takes time, as its own task, instrumented with toolseq's one-line span helper.
/// Its output goes into the history first, then the ledger hears of it, so a guard woken by
/// that builds a body holding it.
fn spawn_tool(
    history: &History,
    name: &'static str,
    call_id: &'static str,
    millis: u64,
) -> JoinHandle<()> {
    let history = history.clone();
    tokio::spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            history
                .lock()
                .push(json!({"type": "function_call_output", "call_id": call_id,
                                       "output": format!("{name}: ok")}));
            toolseq::tool_output!(call_id);
        }
        .instrument(toolseq::tool_call_span!(call_id, name)),
    )
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
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(true)
                .with_ansi(colour)
                .with_filter(env),
        )
        .with(toolseq::layer::layer(&ledger))
        .init();

    let turn = toolseq::conversation_span!(CONVERSATION);
    let history: History = Arc::new(Mutex::new(Vec::new()));
    async {
        println!("== turn 1: the user asks; the fake model calls three tools in parallel");
        history
            .lock()
            .push(user("list the files, build, and run the tests"));
        toolseq::user_message!();
        for (id, name) in [
            ("call_ls", "list_files"),
            ("call_build", "build"),
            ("call_test", "run_tests"),
        ] {
            history.lock().push(
                json!({"type": "function_call", "call_id": id, "name": name, "arguments": "{}"}),
            );
        }
        let _ls = spawn_tool(&history, "list_files", "call_ls", 30);
        let _build = spawn_tool(&history, "build", "call_build", 600);
        let tests = spawn_tool(&history, "run_tests", "call_test", 60_000);

        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("== at 300 ms the user presses Esc: run_tests is dropped (build keeps running)");
        tests.abort();
        toolseq::interrupt!();
        println!("== ... and types a new message; build will finish 300 ms later");
        history
            .lock()
            .push(user("never mind the tests, just summarise"));
        toolseq::user_message!();
    }
    .instrument(turn.clone())
    .await;

    // What a client that builds the body when the user hits enter would send.
    let early: Vec<Value> = history.lock().clone();
    let items = Value::Array(early.clone());
    println!("\n== the body built when the user hit enter (an OpenAI Responses input):");
    show(&items);

    println!("\n== without the guard, a strict API refuses it in every format:");
    let bodies = [
        (
            Format::Responses,
            json!({"model": "fake", "input": items.clone()}),
        ),
        (Format::Chat, as_chat(&early)),
        (Format::Anthropic, as_anthropic(&early)),
    ];
    for (format, body) in &bodies {
        let answer = strict_api(*format, body)
            .err()
            .unwrap_or_else(|| "accepted".into());
        println!("  {format:<9} -> {answer}");
    }

    println!(
        "\n== with the guard: it waits for the running build, then builds the body (diagnostics from target toolseq::guard):"
    );
    let guard = Guard::new(&ledger).settle_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let prepared = guard
        .prepare_with_async(
            CONVERSATION,
            || json!({"model": "fake", "input": history.lock().clone()}),
        )
        .await;
    let (body, report) = match prepared {
        Ok(done) => done,
        Err(e) => {
            eprintln!("guard refused: {e}");
            std::process::exit(1);
        }
    };
    let answer = strict_api(Format::Responses, &body)
        .err()
        .unwrap_or_else(|| "accepted".into());
    println!(
        "  waited {} ms; responses -> {answer}\n\n  what was sent:",
        started.elapsed().as_millis()
    );
    show(&body["input"]);
    println!("\n  the report:\n{}", indent(&report.to_string()));
    let real_build = body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["call_id"] == "call_build" && i["output"] == "build: ok");
    println!("\n  build's real output was sent: {real_build}");
    // Store the repair, so the next turn's request needs none.
    let mut stored = Value::Array(history.lock().clone());
    if let Err(e) = report.apply_to(&mut stored) {
        eprintln!("cannot store the repair: {e}");
    }

    println!("\n== the same repair on the other wire formats (bodies built after the wait):");
    let settled: Vec<Value> = history.lock().clone();
    for (format, mut body) in [
        (Format::Chat, as_chat(&settled)),
        (Format::Anthropic, as_anthropic(&settled)),
    ] {
        let opts = toolseq::RepairOptions::default();
        let changes = toolseq::repair(&mut body, Some(format), &opts)
            .map(|r| r.changes.len())
            .unwrap_or(0);
        let answer = strict_api(format, &body)
            .err()
            .unwrap_or_else(|| "accepted".into());
        println!("  {format:<9} -> {answer} ({changes} change(s))");
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
    if !clean || !real_build {
        std::process::exit(1);
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
