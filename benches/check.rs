//! Check and repair against `serde_json::to_vec` of the same body, which every client pays anyway,
//! for each format at 1k, 10k and 100k items, with 0% and 50% of outputs missing.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use support::{group, history};
use toolseq::{Format, RepairOptions};

mod support;

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
                let mut g = group(c, format!("{format}/{items}/{label}"), items);
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
