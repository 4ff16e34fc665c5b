//! An agent loop on async-openai's Responses types, with toolseq's guard before each request,
//! against a local stand-in for the API that refuses what the real one refuses (no network).
//!
//! The model asks for two tools at once; the user interrupts the slow one. Without the guard the
//! next request is refused with "No tool output found for function call …"; with it, the
//! interrupted call is answered as cancelled and the loop goes on.
//!
//! ```text
//! cargo run --example async_openai --features async-openai
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_openai::types::responses::InputItem;
use parking_lot::Mutex;
use serde_json::json;
use toolseq::ledger::Ledger;
use toolseq::{Guard, RepairOptions};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

type History = Arc<Mutex<Vec<InputItem>>>;

fn item(value: serde_json::Value) -> InputItem {
    serde_json::from_value(value).expect("a valid Responses input item")
}

/// The stand-in for `POST /v1/responses`: the pairing check the API makes, then the model's
/// next items. It knows nothing of toolseq.
fn model_api(turn: usize, input: &[InputItem]) -> Result<Vec<InputItem>, String> {
    let body = serde_json::to_value(input).map_err(|e| e.to_string())?;
    let items = body.as_array().cloned().unwrap_or_default();
    for call in items.iter().filter(|i| i["type"] == "function_call") {
        let id = &call["call_id"];
        let answered = items
            .iter()
            .any(|i| i["type"] == "function_call_output" && i["call_id"] == *id);
        if !answered {
            let id = id.as_str().unwrap_or_default();
            return Err(format!(
                "400 invalid_request_error: No tool output found for function call {id}."
            ));
        }
    }
    Ok(match turn {
        0 => vec![
            item(
                json!({"type": "function_call", "call_id": "call_ls", "name": "shell",
                        "arguments": "{\"command\":[\"ls\"]}"}),
            ),
            item(
                json!({"type": "function_call", "call_id": "call_test", "name": "shell",
                        "arguments": "{\"command\":[\"cargo\",\"test\"]}"}),
            ),
        ],
        _ => vec![item(
            json!({"type": "message", "role": "assistant", "id": format!("msg_{turn}"),
            "status": "completed",
            "content": [{"type": "output_text", "text": "Here is what I found.", "annotations": []}]}),
        )],
    })
}

/// Runs a tool as its own task inside a tool-call span; its output lands in the history, then
/// the output event tells the ledger.
fn spawn_tool(
    history: &History,
    dispatch: &tracing::Dispatch,
    call_id: &'static str,
    millis: u64,
) -> tokio::task::JoinHandle<()> {
    let history = history.clone();
    let span = toolseq::tool_call_span!(call_id, "shell", conversation = "demo");
    tokio::spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            history
                .lock()
                .push(item(json!({"type": "function_call_output",
                "call_id": call_id, "output": format!("{call_id}: done")})));
            toolseq::tool_output!(call_id);
        }
        .instrument(span)
        .with_subscriber(dispatch.clone()),
    )
}

#[tokio::main]
async fn main() {
    let ledger = Ledger::new();
    // The subscriber a client already has (fmt, filtered by RUST_LOG), plus toolseq's layer.
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_filter(
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
            ))
            .with(toolseq::layer::layer(&ledger)),
    );
    let guard = Guard::new(&ledger)
        .settle_timeout(Duration::from_millis(200))
        .repair_options(RepairOptions::default());
    let history: History = Arc::new(Mutex::new(vec![item(
        json!({"type": "message", "role": "user", "content": "list the files, then run the tests"}),
    )]));

    async {
        let mut tools = Vec::new();
        for turn in 0..3 {
            if let Err(refusal) = model_api(turn, &history.lock()) {
                println!("without the guard, turn {turn} would get: {refusal}");
            }
            let (input, report) = guard
                .prepare_items_with_async("demo", || history.lock().clone())
                .await
                .expect("the guard checks every typed history");
            if !report.is_clean() {
                println!("guard, before turn {turn}:\n{report}");
            }
            // Store the repair, so the next request does not need it again.
            *history.lock() = input.clone();
            let reply = match model_api(turn, &input) {
                Ok(reply) => reply,
                Err(refusal) => panic!("the API refused the request: {refusal}"),
            };
            println!(
                "turn {turn}: sent {} items, the model answered {} items",
                input.len(),
                reply.len()
            );
            history.lock().extend(reply.iter().cloned());
            if turn == 0 {
                tools.push(spawn_tool(&history, &dispatch, "call_ls", 10));
                tools.push(spawn_tool(&history, &dispatch, "call_test", 60_000));
                tokio::time::sleep(Duration::from_millis(50)).await;
                // The user presses Esc: the slow tool is aborted and never writes its output.
                tools[1].abort();
                history
                    .lock()
                    .push(item(json!({"type": "message", "role": "user",
                    "content": "stop the tests, just summarise"})));
            }
        }
        for tool in tools {
            let _ = tool.await;
        }
    }
    .with_subscriber(dispatch.clone())
    .await;

    let history = history.lock();
    assert!(toolseq::typed::check(&history).is_clean());
    println!("final history: {} items, clean", history.len());
}
