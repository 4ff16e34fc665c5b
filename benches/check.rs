//! Check and repair against `serde_json::to_vec` of the same body, which every client pays anyway,
//! for each format at 1k, 10k and 100k items, with 0% and 50% of outputs missing.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Value};
use toolseq::{Format, RepairOptions};

/// About 1.5 kB of tool output and 200 B of message text: typical of a coding agent's history.
fn history(format: Format, items: usize, missing_every: Option<usize>) -> Value {
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

/// Writes a buffer larger than the last-level cache, pushing everything else out of it.
fn evict(scratch: &mut [u8]) {
    for (i, b) in scratch.iter_mut().enumerate().step_by(64) {
        *b = b.wrapping_add(i as u8);
    }
    black_box(scratch);
}

fn bench(c: &mut Criterion) {
    for format in [Format::Responses, Format::Chat, Format::Anthropic] {
        // Items are counted as Responses items (6 per turn); the body is the same conversation.
        for items in [1_000usize, 10_000, 100_000] {
            for (label, missing) in [("0pct", None), ("50pct", Some(2))] {
                let body = history(format, items, missing);
                let mut g = c.benchmark_group(format!("{format}/{items}/{label}"));
                if items >= 100_000 {
                    g.sample_size(10).measurement_time(Duration::from_secs(4));
                } else if items >= 10_000 {
                    g.sample_size(20).measurement_time(Duration::from_secs(3));
                }
                g.warm_up_time(Duration::from_millis(500));
                g.bench_function("serde_json_to_vec", |b| {
                    b.iter(|| serde_json::to_vec(black_box(&body)).map(|v| v.len()))
                });
                g.bench_function("check", |b| {
                    b.iter(|| {
                        toolseq::check(black_box(&body), Some(format)).map(|r| r.violations.len())
                    })
                });
                if missing.is_some() {
                    let opts = RepairOptions::default();
                    g.bench_function("repair", |b| {
                        b.iter_batched(
                            || body.clone(),
                            |mut body| {
                                let _ = toolseq::repair(&mut body, Some(format), &opts);
                                body
                            },
                            BatchSize::LargeInput,
                        )
                    });
                    // The same with the body evicted from the caches first: a 10k body fits
                    // the 32 MB L3 and a 100k body does not, so only cold runs compare the
                    // work itself across sizes.
                    if items >= 10_000 {
                        let mut scratch = vec![0u8; 96 << 20];
                        g.bench_function("repair_cold", |b| {
                            b.iter_batched(
                                || {
                                    let copy = body.clone();
                                    evict(&mut scratch);
                                    copy
                                },
                                |mut body| {
                                    let _ = toolseq::repair(&mut body, Some(format), &opts);
                                    body
                                },
                                BatchSize::LargeInput,
                            )
                        });
                    }
                }
                g.finish();
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
