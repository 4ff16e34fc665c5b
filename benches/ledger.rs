//! The ledger under contention, its cost per record at scale (many running calls in one
//! conversation, many conversations past the cap), and the guard's settle path when nothing is
//! running.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use toolseq::ledger::{Ledger, LedgerConfig};
use toolseq::Guard;

const CONVERSATIONS: usize = 256;

/// One call's life: start, output. Two records.
fn record(ledger: &Ledger, thread: usize, i: usize) {
    let conv = format!("conv-{}", (i * 31 + thread) % CONVERSATIONS);
    let id = format!("call-{thread}-{i}");
    ledger.call_started(&conv, &id, Some("shell"), None);
    ledger.output_recorded(&conv, &id);
}

fn bench_contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger_records");
    const PER_ITER: usize = 2_000; // calls per thread per iteration
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements((2 * PER_ITER * threads) as u64));
        g.bench_function(format!("{threads}_thread"), |b| {
            let ledger = Ledger::new();
            let mut round = 0;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let base = round * PER_ITER;
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let ledger = &ledger;
                            s.spawn(move || {
                                (base..base + PER_ITER).for_each(|i| record(ledger, t, i))
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

fn bench_settle(c: &mut Criterion) {
    let mut g = c.benchmark_group("guard_settle_idle");
    let ledger = Ledger::new();
    for i in 0..50 {
        record(&ledger, 0, i);
    }
    let guard = Guard::new(&ledger);
    let items: Vec<_> = (0..100)
        .flat_map(|i| {
            let id = format!("call-{i}");
            [
                json!({"type": "function_call", "call_id": id, "name": "shell", "arguments": "{}"}),
                json!({"type": "function_call_output", "call_id": id, "output": "ok ".repeat(100)}),
            ]
        })
        .collect();
    let body = json!({"model": "m", "input": items});
    g.bench_function("wait_settled", |b| {
        b.iter(|| ledger.wait_settled(black_box("conv-0"), Duration::from_secs(1)))
    });
    g.bench_function("serde_json_to_vec_200_items", |b| {
        b.iter(|| serde_json::to_vec(black_box(&body)).map(|v| v.len()))
    });
    g.bench_function("guard_prepare_200_items", |b| {
        b.iter(|| {
            let mut body = body.clone();
            guard
                .prepare("conv-0", &mut body)
                .map(|r| r.violations.len())
        })
    });
    g.bench_function("clone_200_items", |b| b.iter(|| black_box(body.clone())));
    g.finish();
}

/// A call's life (two records) with `running` calls already running in the conversation, past
/// the default cap of 4096 records: every record evicts one, and none of the running calls'
/// starts may go.
fn bench_running_calls(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger_running_calls");
    g.throughput(Throughput::Elements(2));
    for running in [1usize, 10_000, 1_000_000] {
        let ledger = Ledger::new();
        for i in 0..running {
            ledger.call_started("conv", &format!("running-{i}"), Some("shell"), None);
        }
        let mut i = 0u64;
        g.bench_function(format!("{running}"), |b| {
            b.iter(|| {
                i += 1;
                let id = format!("call-{i}");
                ledger.call_started("conv", &id, Some("shell"), None);
                ledger.output_recorded("conv", &id);
            })
        });
    }
    g.finish();
}

/// A call's life in a new conversation with `conversations` already kept, at that cap: every
/// new conversation evicts the least recently used.
fn bench_conversations(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger_conversations");
    g.throughput(Throughput::Elements(2));
    for conversations in [10usize, 1_000, 100_000] {
        let ledger = Ledger::with_config(LedgerConfig {
            max_conversations: conversations,
            ..LedgerConfig::default()
        });
        for i in 0..conversations {
            let conv = format!("old-{i}");
            ledger.call_started(&conv, "call", Some("shell"), None);
            ledger.output_recorded(&conv, "call");
        }
        let mut i = 0u64;
        g.bench_function(format!("{conversations}"), |b| {
            b.iter(|| {
                i += 1;
                let conv = format!("new-{i}");
                ledger.call_started(&conv, "call", Some("shell"), None);
                ledger.output_recorded(&conv, "call");
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_contention,
    bench_running_calls,
    bench_conversations,
    bench_settle
);
criterion_main!(benches);
