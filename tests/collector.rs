//! The guard's and the proxy's findings reach an OpenTelemetry collector: a local OTLP/HTTP
//! receiver on 127.0.0.1 gets them as log records with the documented attribute names.

#![cfg(all(feature = "otel", feature = "proxy"))]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use serde_json::{json, Value};
use tracing_subscriber::prelude::*;

type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// An OTLP/HTTP JSON receiver: keeps each export, answers as a collector does.
async fn receiver() -> (Received, String) {
    let got = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(|State(got): State<Received>, req: Request| async move {
            let path = req.uri().path().to_owned();
            let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            got.lock().unwrap().push((path, v));
            "{}"
        })
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a Value> {
    attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

/// Every log record received: (service name, body text, attributes).
fn records(got: &Received) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    // The proxy's test sends its model requests here too.
    for (_, export) in got.lock().unwrap().iter().filter(|(p, _)| p == "/v1/logs") {
        for rl in export["resourceLogs"].as_array().into_iter().flatten() {
            let service = attr(&rl["resource"]["attributes"], "service.name")
                .and_then(|v| v["stringValue"].as_str())
                .unwrap_or("")
                .to_owned();
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    let body = r["body"]["stringValue"].as_str().unwrap_or("").to_owned();
                    let mut attrs = r["attributes"].clone();
                    if let Some(a) = attrs.as_array_mut() {
                        a.push(
                            json!({"key": "severity", "value": {"stringValue": r["severityText"]}}),
                        );
                    }
                    out.push((service.clone(), body, attrs));
                }
            }
        }
    }
    out
}

fn text(attrs: &Value, key: &str) -> String {
    match attr(attrs, key) {
        Some(v) => v["stringValue"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| v["intValue"].as_str().map(str::to_owned))
            .or_else(|| v["intValue"].as_i64().map(|n| n.to_string()))
            .unwrap_or_default(),
        None => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guards_findings_reach_a_collector_with_stable_attributes() {
    let (got, url) = receiver().await;
    let endpoint = format!("{url}/v1/logs");
    tokio::task::spawn_blocking(move || {
        let collector = toolseq::collector::Collector::http_json(&endpoint, "agent-a").unwrap();
        let ledger = toolseq::ledger::Ledger::new();
        let subscriber = tracing_subscriber::registry()
            .with(toolseq::layer::layer(&ledger))
            .with(collector.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "my_app", "not toolseq's: stays out of the export");
            let guard = toolseq::Guard::new(&ledger).settle_timeout(Duration::ZERO);
            let mut body = json!({"model": "gpt-5", "input": [
                {"type": "message", "role": "user", "content": "go"},
                {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"}]});
            for _ in 0..2 {
                let mut b = body.clone();
                guard.prepare("conv-1", &mut b).unwrap();
            }
            body["input"][1]["call_id"] = json!("call_2");
        });
        collector.shutdown();
    })
    .await
    .unwrap();

    let records = records(&got);
    assert!(records.iter().all(|(service, _, _)| service == "agent-a"));
    assert!(records
        .iter()
        .all(|(_, body, _)| !body.contains("not toolseq's")));
    let violation = records
        .iter()
        .find(|(_, body, _)| body == "tool pairing violation")
        .unwrap_or_else(|| panic!("{records:?}"));
    let a = &violation.2;
    assert_eq!(text(a, "rule"), "missing_output");
    assert_eq!(text(a, "call_id"), "call_1");
    assert_eq!(text(a, "conversation"), "conv-1");
    assert_eq!(text(a, "action"), "inserted_output");
    assert_eq!(
        text(a, "api_error"),
        "No tool output found for function call call_1."
    );
    assert_eq!(text(a, "severity"), "WARN");
    let repeated = records
        .iter()
        .find(|(_, body, _)| body.starts_with("the same call was repaired again"))
        .unwrap_or_else(|| panic!("{records:?}"));
    assert_eq!(text(&repeated.2, "times"), "2");
    assert_eq!(text(&repeated.2, "severity"), "ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_findings_reach_a_collector() {
    let (got, url) = receiver().await;
    // The proxy's upstream is the receiver too: it answers every model request with `{}`.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_toolseq"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", &url])
            .args(["--otlp-endpoint", &format!("{url}/v1/logs")])
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.0.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let proxy = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    let body = json!({"model": "gpt-5", "prompt_cache_key": "thread-7", "input": [
        {"type": "function_call", "call_id": "call_9", "name": "ls", "arguments": "{}"}]});
    let answer = reqwest::Client::new()
        .post(format!("{proxy}/v1/responses"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let violation = loop {
        let found = records(&got)
            .into_iter()
            .find(|(_, body, _)| body == "tool pairing violation");
        if let Some(v) = found {
            break v;
        }
        assert!(Instant::now() < deadline, "nothing reached the collector");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(child);
    assert_eq!(violation.0, "toolseq-proxy");
    assert_eq!(text(&violation.2, "conversation"), "thread-7");
    assert_eq!(text(&violation.2, "call_id"), "call_9");
    assert_eq!(text(&violation.2, "rule"), "missing_output");
}
