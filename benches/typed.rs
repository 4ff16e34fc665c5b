//! A typed history checked in place, against `serde_json::to_vec` of the same history, which a
//! client pays on every request: async-openai's Responses and Chat items at 1k, 10k and 100k.

use std::hint::black_box;

use async_openai::types::chat::ChatCompletionRequestMessage;
use async_openai::types::responses::InputItem;
use criterion::{criterion_group, criterion_main, Criterion};
use serde::de::DeserializeOwned;
use support::{group, history};
use toolseq::typed::{self, HistoryItem};
use toolseq::Format;

mod support;

fn typed_history<T: DeserializeOwned>(format: Format, items: usize) -> Vec<T> {
    let mut body = history(format, items, None);
    let key = if format == Format::Chat {
        "messages"
    } else {
        "input"
    };
    // async-openai reads a Responses assistant message as the output item it was: with its id,
    // its status and its text's annotations.
    for (n, item) in body[key].as_array_mut().into_iter().flatten().enumerate() {
        if format == Format::Responses && item["role"] == "assistant" {
            item["id"] = format!("msg_{n}").into();
            item["status"] = "completed".into();
            item["content"][0]["annotations"] = serde_json::json!([]);
        }
    }
    serde_json::from_value(body[key].take()).expect("async-openai reads the benchmark history")
}

fn measure<T: HistoryItem>(c: &mut Criterion, items: usize, history: &[T]) {
    let mut g = group(c, format!("typed/{}/{items}", T::FORMAT), items);
    g.bench_function("serde_json_to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(history)).map(|v| v.len()))
    });
    g.bench_function("check", |b| {
        b.iter(|| typed::check(black_box(history)).violations.len())
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    for items in [1_000usize, 10_000, 100_000] {
        measure(
            c,
            items,
            &typed_history::<InputItem>(Format::Responses, items),
        );
        measure(
            c,
            items,
            &typed_history::<ChatCompletionRequestMessage>(Format::Chat, items),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
