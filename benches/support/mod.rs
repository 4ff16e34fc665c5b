//! The histories the benchmarks measure, shared by `check` and `typed`.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use serde_json::{json, Value};
use toolseq::Format;

/// A group named `name` for histories of `items` items: fewer, longer samples for the large ones,
/// which take tens of milliseconds each.
pub fn group<'c>(c: &'c mut Criterion, name: String, items: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    if items >= 100_000 {
        g.sample_size(10).measurement_time(Duration::from_secs(4));
    } else if items >= 10_000 {
        g.sample_size(20).measurement_time(Duration::from_secs(3));
    }
    g.warm_up_time(Duration::from_millis(500));
    g
}

/// About 1.5 kB of tool output and 200 B of message text: typical of a coding agent's history.
pub fn history(format: Format, items: usize, missing_every: Option<usize>) -> Value {
    let output = "line of build output with a path /src/lib.rs:42 and a message\n".repeat(24);
    let text = "please fix the failing test in the parser module and run it again ".repeat(3);
    // Per turn: user message, two parallel calls, their outputs, assistant message.
    let turns = items / 6;
    let mut v = Vec::with_capacity(items);
    let mut n = 0;
    for t in 0..turns {
        let ids = [format!("call_{t}_a"), format!("call_{t}_b")];
        let keep = |k: usize| missing_every.is_none_or(|_| k == 0);
        match format {
            Format::Responses | Format::Rollout => {
                v.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}));
                for id in &ids {
                    v.push(json!({"type": "function_call", "call_id": id, "name": "shell", "arguments": "{\"command\":[\"cargo\",\"test\"]}"}));
                }
                for (k, id) in ids.iter().enumerate() {
                    if keep(k) {
                        v.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
                    }
                }
                v.push(json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}));
            }
            Format::Chat => {
                v.push(json!({"role": "user", "content": text}));
                v.push(json!({"role": "assistant", "content": null, "tool_calls": ids.iter().map(|id| json!(
                    {"id": id, "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"cargo\",\"test\"]}"}})).collect::<Vec<_>>()}));
                for (k, id) in ids.iter().enumerate() {
                    if keep(k) {
                        v.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
                    }
                }
                v.push(json!({"role": "assistant", "content": text}));
            }
            Format::Anthropic => {
                v.push(json!({"role": "user", "content": [{"type": "text", "text": text}]}));
                v.push(json!({"role": "assistant", "content": ids.iter().map(|id| json!(
                    {"type": "tool_use", "id": id, "name": "shell", "input": {"command": ["cargo", "test"]}})).collect::<Vec<_>>()}));
                let results: Vec<Value> = ids.iter().enumerate().filter(|(k, _)| keep(*k))
                    .map(|(_, id)| json!({"type": "tool_result", "tool_use_id": id, "content": output})).collect();
                v.push(json!({"role": "user", "content": results}));
                v.push(json!({"role": "assistant", "content": [{"type": "text", "text": text}]}));
            }
            other => panic!("no benchmark history for {other}"),
        }
        n += 1;
    }
    black_box(n);
    match format {
        Format::Responses | Format::Rollout => json!({"model": "gpt-5", "input": v}),
        _ => json!({"model": "m", "max_tokens": 1000, "messages": v}),
    }
}
