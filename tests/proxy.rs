//! `toolseq proxy` as a user runs it: the command line, on real sockets on 127.0.0.1, between
//! a client (reqwest) and an upstream that records what it was sent and answers as the APIs do.

#![cfg(feature = "proxy")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

/// What the upstream was sent.
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Set when a slow answer's stream is dropped: its client went away.
    dropped: Arc<AtomicBool>,
    /// Lets a slow answer go on to its second chunk.
    release: Arc<tokio::sync::Notify>,
    streams: Arc<AtomicUsize>,
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn sse(text: &'static str) -> Result<Bytes, std::io::Error> {
    Ok(Bytes::from_static(text.as_bytes()))
}

async fn answer(State(up): State<Upstream>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path().to_owned();
    up.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        headers: parts.headers.clone(),
        body,
    });
    let json = |status: u16, v: Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap()
    };
    if path.ends_with("/models") {
        return json(200, json!({"object": "list", "data": [{"id": "gpt-5"}]}));
    }
    if path.starts_with("/refuse") {
        return json(
            400,
            json!({"error": {"message": "No tool output found for function call call_1.",
                "type": "invalid_request_error", "param": "input", "code": null}}),
        );
    }
    if path.starts_with("/slow") {
        // One chunk now, the next only when released: the client must see the first before.
        let flag = DropFlag(up.dropped.clone());
        let release = up.release.clone();
        let stream =
            futures_util::stream::unfold((0u8, flag, release), |(step, flag, rel)| async move {
                match step {
                    0 => Some((
                        sse("event: response.created\ndata: {\"n\":1}\n\n"),
                        (1, flag, rel),
                    )),
                    1 => {
                        tokio::select! {
                            () = rel.notified() => {}
                            () = tokio::time::sleep(Duration::from_secs(30)) => {}
                        }
                        Some((
                            sse("event: response.completed\ndata: {\"n\":2}\n\n"),
                            (2, flag, rel),
                        ))
                    }
                    _ => None,
                }
            });
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    up.streams.fetch_add(1, Ordering::SeqCst);
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("x-upstream", "yes")
        .body(Body::from("event: response.completed\ndata: {}\n\n"))
        .unwrap()
}

/// An upstream on a free port of 127.0.0.1, served on the test's runtime.
async fn upstream() -> (Upstream, String) {
    let up = Upstream::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(answer).with_state(up.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (up, url)
}

/// `toolseq proxy` running as a child process, on the port it printed.
struct Proxy {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
    record: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start(upstream: &str, extra: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.jsonl");
        let mut child = Command::new(env!("CARGO_BIN_EXE_toolseq"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .arg("--record")
            .arg(&record)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let at = first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .trim_end_matches(',')
            .to_owned();
        let stderr = Arc::new(Mutex::new(String::new()));
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut s = keep.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proxy {
            child,
            url: at,
            stderr,
            record,
            _dir: dir,
        }
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST with only the body: no content type, no key.
async fn send(url: String, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client().post(url).body(body).send().await.unwrap()
}

async fn json_of(answer: reqwest::Response) -> Value {
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A Responses body whose call `call_1` has no output, in Codex's conversation `thread-1`.
fn unanswered() -> Value {
    json!({"model": "gpt-5", "stream": true, "prompt_cache_key": "thread-1", "store": false,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the secret files"}]},
            {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}]})
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-test-SECRET")
        .header("x-client-header", "kept")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_body_and_its_headers_reach_the_api_byte_for_byte() {
    let (up, url) = upstream().await;
    let proxy = Proxy::start(&url, &[]);
    // Spacing and escapes a re-serialisation would lose.
    let text = "{\"model\":\"gpt-5\", \"prompt_cache_key\":\"thread-1\",\n \"input\":[{\"type\":\"message\",\"role\":\"user\",\"content\":\"caf\\u00e9 \\/ hello there\"},\n {\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"ls\",\"arguments\":\"{}\"},{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"a.txt\"}],\"temperature\":1.0e0}";
    let answer = post(&format!("{}/v1/responses?x=1", proxy.url), text).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-upstream"], "yes");
    assert!(answer.text().await.unwrap().contains("response.completed"));
    let seen = up.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/responses");
    assert_eq!(seen[0].body, text.as_bytes());
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-test-SECRET");
    assert_eq!(seen[0].headers["x-client-header"], "kept");
    drop(seen);

    let records = proxy.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["action"], "clean");
    assert_eq!(r["conversation"], "thread-1");
    assert_eq!(r["status"], 200);
    assert_eq!(r["items"][1]["call_id"], "call_1");
    assert_eq!(r["items"][2]["kind"], "function_call_output");
    assert_eq!(r["items"][0]["hash"].as_str().unwrap().len(), 16);
    let line = std::fs::read_to_string(&proxy.record).unwrap();
    for secret in ["sk-test-SECRET", "hello there", "a.txt", "kept"] {
        assert!(
            !line.contains(secret),
            "the record holds {secret:?}: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_policy_does_what_it_says() {
    let (up, url) = upstream().await;
    let body = unanswered().to_string();

    // repair: the API gets the call answered.
    let proxy = Proxy::start(&url, &["--policy", "repair"]);
    assert_eq!(
        post(&format!("{}/v1/responses", proxy.url), body.clone())
            .await
            .status(),
        200
    );
    let sent: Value = serde_json::from_slice(&up.seen.lock().unwrap()[0].body).unwrap();
    assert_eq!(sent["input"][2]["type"], "function_call_output");
    assert_eq!(sent["input"][2]["call_id"], "call_1");
    assert_eq!(proxy.records()[0]["action"], "repaired");
    assert_eq!(proxy.records()[0]["changes"][0]["action"], "insert_output");
    drop(proxy);

    // observe: the body goes as it came, and the API's refusal comes back with its words noted.
    let proxy = Proxy::start(&format!("{url}/refuse"), &["--policy", "observe"]);
    let answer = post(&format!("{}/v1/responses", proxy.url), body.clone()).await;
    assert_eq!(answer.status(), 400);
    assert_eq!(up.seen.lock().unwrap()[1].body, body.as_bytes());
    let r = &proxy.records()[0];
    assert_eq!(r["action"], "observed");
    assert_eq!(r["violations"][0]["rule"], "missing_output");
    assert_eq!(
        r["api_error"],
        "No tool output found for function call call_1."
    );
    drop(proxy);

    // block: the client gets the API's error shape, and the API nothing.
    let proxy = Proxy::start(&url, &["--policy", "block"]);
    let answer = post(&format!("{}/v1/responses", proxy.url), body.clone()).await;
    assert_eq!(answer.status(), 400);
    let error: Value = json_of(answer).await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("missing_output")
            && message.contains("No tool output found for function call call_1."),
        "{message}"
    );
    assert_eq!(error["error"]["type"], "invalid_request_error");
    let anthropic = json!({"model": "claude-sonnet-4-5", "max_tokens": 10,
        "tools": [{"name": "ls", "input_schema": {"type": "object"}}], "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]},
        {"role": "user", "content": "and?"}]});
    let answer = post(&format!("{}/v1/messages", proxy.url), anthropic.to_string()).await;
    assert_eq!(answer.status(), 400);
    let error: Value = json_of(answer).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tool_use"),
        "{error}"
    );
    assert_eq!(up.seen.lock().unwrap().len(), 2, "block called the API");
    assert_eq!(proxy.records()[1]["action"], "blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_stream_as_they_come_and_a_client_that_leaves_cancels_the_upstream() {
    let (up, url) = upstream().await;
    let proxy = Proxy::start(&format!("{url}/slow"), &[]);
    let mut answer = post(
        &format!("{}/v1/responses", proxy.url),
        unanswered().to_string(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    // The first chunk arrives while the upstream still holds the second.
    let first = tokio::time::timeout(Duration::from_secs(5), answer.chunk())
        .await
        .expect("the first chunk was held back")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"n\":1"));
    assert!(!up.dropped.load(Ordering::SeqCst));
    // The client goes away: the proxy drops its upstream request, which the upstream sees.
    drop(answer);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !up.dropped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the upstream request outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Released, a stream runs to its end through the proxy.
    let answer = post(
        &format!("{}/v1/responses", proxy.url),
        unanswered().to_string(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    up.release.notify_one();
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("\"n\":1") && text.contains("\"n\":2"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_model_request_passes_and_faults_answer_in_the_apis_shape() {
    let (up, url) = upstream().await;
    let proxy = Proxy::start(&url, &["--max-body", "4K"]);
    // A model listing passes as it is.
    let models = client()
        .get(format!("{}/v1/models", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    assert_eq!(json_of(models).await["data"][0]["id"], "gpt-5");
    // Nor does anything else that is not a model request, whatever its size: it streams.
    let upload = "u".repeat(64 * 1024);
    let answer = send(format!("{}/v1/files", proxy.url), upload.clone()).await;
    assert_eq!(answer.status(), 200);
    assert!(
        up.seen.lock().unwrap()[1].body == upload.as_bytes(),
        "the upload was not passed whole"
    );
    assert_eq!(proxy.records()[1]["action"], "passed");
    // A body that is not JSON is the API's to refuse: forwarded untouched, and noted.
    let answer = post(&format!("{}/v1/responses", proxy.url), "{not json").await;
    assert_eq!(answer.status(), 200);
    assert!(up.seen.lock().unwrap()[2].body == "{not json".as_bytes());
    assert_eq!(proxy.records()[2]["action"], "unreadable");
    // Too large: 413, and the API never sees it.
    let big = json!({"model": "gpt-5", "input": [{"type": "message", "role": "user", "content": "x".repeat(8192)}]});
    let answer = post(&format!("{}/v1/responses", proxy.url), big.to_string()).await;
    assert_eq!(answer.status(), 413);
    let error: Value = json_of(answer).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-body"),
        "{error}"
    );
    assert_eq!(
        up.seen.lock().unwrap().len(),
        3,
        "the API saw a body over --max-body"
    );
    // Garbage of every kind never takes the proxy down.
    for junk in [
        "",
        "[]",
        "null",
        "{\"input\": 7}",
        "{\"messages\": [1, 2]}",
        "\u{0}\u{ff}",
    ] {
        let a = post(&format!("{}/v1/chat/completions", proxy.url), junk).await;
        assert!(a.status().as_u16() < 500, "{junk:?}: {}", a.status());
    }
    drop(proxy);

    // A client that stops half-way through its body is answered 408 after --read-timeout.
    let proxy = Proxy::start(&url, &["--read-timeout", "1"]);
    let addr = proxy.url.trim_start_matches("http://").to_owned();
    let began = Instant::now();
    let before = up.seen.lock().unwrap().len();
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"input\":")
            .unwrap();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        got
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--read-timeout"), "{answer}");
    assert!(began.elapsed() < Duration::from_secs(10));
    assert_eq!(
        up.seen.lock().unwrap().len(),
        before,
        "a cut-off body was forwarded"
    );
    drop(proxy);

    // An upstream that is not there: 502, saying why, in the API's shape.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = Proxy::start(&gone, &[]);
    let answer = post(
        &format!("{}/v1/chat/completions", proxy.url),
        "{\"messages\": []}",
    )
    .await;
    assert_eq!(answer.status(), 502);
    let error: Value = json_of(answer).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{error}"
    );
    assert_eq!(proxy.records()[0]["status"], 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_made_on_two_requests_in_a_row_is_an_error() {
    let (_up, url) = upstream().await;
    let proxy = Proxy::start(&url, &[]);
    for _ in 0..2 {
        assert_eq!(
            post(
                &format!("{}/v1/responses", proxy.url),
                unanswered().to_string()
            )
            .await
            .status(),
            200
        );
    }
    let records = proxy.records();
    assert!(records[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["finding"] != "repeated_repair"));
    let repeated: Vec<&Value> = records[1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["finding"] == "repeated_repair")
        .collect();
    assert_eq!(repeated.len(), 1, "{}", records[1]);
    assert_eq!(repeated[0]["call_id"], "call_1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy.stderr().contains("the same call was repaired again") {
        assert!(
            Instant::now() < deadline,
            "no ERROR on stderr: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Another conversation is another history.
    let mut other = unanswered();
    other["prompt_cache_key"] = json!("thread-2");
    post(&format!("{}/v1/responses", proxy.url), other.to_string()).await;
    assert!(proxy.records()[2]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["finding"] != "repeated_repair"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_own_telemetry_tells_a_lost_output_from_an_unanswered_call() {
    let (_up, url) = upstream().await;
    let proxy = Proxy::start(&url, &[]);
    // The call span as the released Codex exports it: named after its tool, with the
    // trace-safe `codex.tool_result` event saying the tool produced its output.
    let s = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    // Inside its turn span, as Codex nests it: the playback must not close the turn in the
    // proxy's own registry.
    let export = json!({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "codex"}, "spans": [{
        "traceId": "t1", "spanId": "turn", "name": "session_task.turn",
        "startTimeUnixNano": "500", "endTimeUnixNano": "9000",
        "attributes": [s("conversation.id", "thread-1")]}, {
        "traceId": "t1", "spanId": "a1", "parentSpanId": "turn", "name": "exec_command",
        "startTimeUnixNano": "1000", "endTimeUnixNano": "5000",
        "attributes": [s("call_id", "call_1"), s("conversation.id", "thread-1"),
                       s("codex.tool.phase", "dispatch")],
        "events": [{"timeUnixNano": "4000", "name": "event tool_result.rs:54",
                    "attributes": [s("event.name", "codex.tool_result"), s("call_id", "call_1")]}]
    }]}]}]});
    let exported = send(format!("{}/v1/traces", proxy.url), export.to_string()).await;
    assert_eq!(exported.status(), 200);
    let bad = send(format!("{}/v1/traces", proxy.url), "{}").await;
    assert_eq!(bad.status(), 400);

    post(
        &format!("{}/v1/responses", proxy.url),
        unanswered().to_string(),
    )
    .await;
    let r = &proxy.records()[0];
    let lost: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["finding"] == "lost_output")
        .collect();
    assert_eq!(lost.len(), 1, "{r}");
    assert_eq!(lost[0]["call_id"], "call_1");
    assert_eq!(r["calls_seen"], 1);
    // Without the export, the same body is an unanswered call the proxy never saw.
    let mut other = unanswered();
    other["prompt_cache_key"] = json!("thread-9");
    post(&format!("{}/v1/responses", proxy.url), other.to_string()).await;
    let r = &proxy.records()[1];
    // Its warning names what feeds the proxy's ledger, not tracing filters.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy
        .stderr()
        .contains("OpenTelemetry export posted to this proxy")
    {
        assert!(Instant::now() < deadline, "{}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!proxy.stderr().contains("EnvFilter"), "{}", proxy.stderr());
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["finding"] != "lost_output"),
        "{r}"
    );

    // The record reads as a timeline beside the ledger's records.
    let out = Command::new(env!("CARGO_BIN_EXE_toolseq"))
        .arg("timeline")
        .arg(&proxy.record)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("conversation thread-1") && text.contains("proxy_request"),
        "{text}"
    );
    assert!(text.contains("proxy: missing_output call_1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_at_once_each_get_their_own_answer() {
    let (up, url) = upstream().await;
    // Two bodies held at a time: the others wait their turn, none is refused.
    let proxy = Arc::new(Proxy::start(&url, &["--max-in-flight", "2"]));
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let mut body = unanswered();
                body["prompt_cache_key"] = json!(format!("thread-{n}"));
                let answer = post(&format!("{}/v1/responses", proxy.url), body.to_string()).await;
                (answer.status(), answer.text().await.unwrap())
            })
        })
        .collect();
    for t in tasks {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(text.contains("response.completed"));
    }
    assert_eq!(up.streams.load(Ordering::SeqCst), 32);
    let records = proxy.records();
    assert_eq!(records.len(), 32);
    assert!(records.iter().all(|r| r["action"] == "repaired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_is_reached_through_rustls() {
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    // A certificate for localhost, made here; the proxy trusts it through --upstream-ca.
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, made.cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (up, _) = upstream().await;
    let kept = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, up) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let up = up.clone();
                        async move {
                            let req = req.map(Body::new);
                            Ok::<_, std::convert::Infallible>(answer(State(up), req).await)
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });

    let https = format!("https://localhost:{port}");
    let proxy = Proxy::start(&https, &["--upstream-ca", ca.to_str().unwrap()]);
    let answer = post(
        &format!("{}/v1/responses", proxy.url),
        unanswered().to_string(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("response.completed"));
    let sent: Value = serde_json::from_slice(&up.seen.lock().unwrap()[0].body).unwrap();
    assert_eq!(
        sent["input"][2]["type"], "function_call_output",
        "repaired over TLS"
    );
    drop(proxy);

    // Without the CA the certificate is refused, and the client is told why.
    let proxy = Proxy::start(&https, &[]);
    let answer = post(
        &format!("{}/v1/responses", proxy.url),
        unanswered().to_string(),
    )
    .await;
    assert_eq!(answer.status(), 502);
    let error = json_of(answer).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{error}"
    );
    assert_eq!(up.seen.lock().unwrap().len(), 1);
}
