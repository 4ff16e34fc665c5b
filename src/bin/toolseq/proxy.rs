//! `toolseq proxy`: the guard on the wire, for a client that cannot be rebuilt but lets its base
//! URL be set. Each model request is checked and handled by the policy, then forwarded with its
//! headers as they came; the answer streams back chunk by chunk. Every other request passes
//! through untouched. The client's own OpenTelemetry export (OTLP/HTTP JSON, `/v1/traces` and
//! `/v1/logs`) may be sent here too: it feeds the guard's ledger, so an output the client's
//! tools produced and a later request lacks is reported as lost.
//!
//! The record (`--record`) holds one JSON line per request: what was sent as kinds, ids,
//! positions, sizes and hashes (never text, never a header's value), what the guard found and
//! did, and what the API answered.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use toolseq::convention::Convention;
use toolseq::ledger::Ledger;
use toolseq::otlp::Replay;
use toolseq::{Error, Format, Guard, Policy, Report};

/// What `toolseq proxy` was asked to do.
pub struct Options {
    pub listen: SocketAddr,
    pub upstream: String,
    pub policy: Policy,
    pub record: Option<PathBuf>,
    pub max_body: usize,
    pub max_in_flight: usize,
    pub upstream_ca: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub model: Option<String>,
    pub settle: Duration,
    /// An OpenTelemetry collector's OTLP/HTTP logs endpoint, for the guard's findings.
    pub collector: Option<String>,
}

struct Proxy {
    upstream: String,
    policy: Policy,
    model: Option<String>,
    settle: Duration,
    max_body: usize,
    read_timeout: Duration,
    in_flight: tokio::sync::Semaphore,
    ledger: Ledger,
    /// One guard per format, so that what a guard says once (a blind ledger) is said once.
    guards: Vec<(Format, Guard)>,
    client: reqwest::Client,
    record: Option<Mutex<std::fs::File>>,
}

/// Runs the proxy until Ctrl-C or SIGTERM; `Err` says why it could not start.
pub fn run(opts: Options) -> Result<u8, String> {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let collector = match &opts.collector {
        Some(endpoint) => Some(
            toolseq::collector::Collector::http_json(endpoint, "toolseq-proxy")
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    // The guard's own diagnostics (WARN on a repair, ERROR on a repeated one) go to stderr,
    // and to the collector when there is one.
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(filter),
        )
        .with(collector.as_ref().map(|c| c.layer()))
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(serve(opts));
    if let Some(c) = collector {
        c.shutdown();
    }
    served
}

async fn serve(opts: Options) -> Result<u8, String> {
    let upstream = opts.upstream.trim_end_matches('/').to_owned();
    if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
        return Err(format!(
            "--upstream must be an http:// or https:// URL, not `{}`",
            upstream.escape_debug()
        ));
    }
    let record = match &opts.record {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the record {}: {e}", path.display()))?,
        )),
        None => None,
    };
    let mut client = reqwest::Client::builder();
    if let Some(path) = &opts.upstream_ca {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read --upstream-ca {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            format!(
                "--upstream-ca {} holds no PEM certificate: {e}",
                path.display()
            )
        })?;
        if certs.is_empty() {
            return Err(format!(
                "--upstream-ca {} holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            client = client.add_root_certificate(cert);
        }
    }
    let client = client
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.read_timeout)
        // The client's own `Accept-Encoding` is forwarded, and its answer passed on as it came.
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let ledger = Ledger::new();
    let guards = [
        Format::Responses,
        Format::Chat,
        Format::Anthropic,
        Format::Gemini,
        Format::Bedrock,
    ]
    .into_iter()
    .map(|f| {
        (
            f,
            guard(&ledger, opts.policy, opts.settle, f, opts.model.as_deref()),
        )
    })
    .collect();
    let proxy = Arc::new(Proxy {
        upstream,
        policy: opts.policy,
        model: opts.model.clone(),
        settle: opts.settle,
        max_body: opts.max_body,
        read_timeout: opts.read_timeout,
        in_flight: tokio::sync::Semaphore::new(opts.max_in_flight.max(1)),
        ledger,
        guards,
        client,
        record,
    });
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    // The first line on stderr, so a script (or a test) reads the port it was given.
    eprintln!(
        "toolseq proxy: listening on http://{local}, forwarding to {}",
        proxy.upstream
    );
    let app = axum::Router::new().fallback(handle).with_state(proxy);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| format!("the server stopped: {e}"))?;
    Ok(0)
}

/// What the proxy's guards say of a conversation whose calls its ledger never saw.
const FED_BY: &str = "the ledger is fed by the client's OpenTelemetry export posted to this proxy's /v1/traces and /v1/logs: point the client's OTLP/HTTP JSON exporter here (Codex: [otel] exporter and trace_exporter), or the cross-check cannot tell a lost output from an interrupted call";

/// The proxy's guard for one format, and for one model when the request names it.
fn guard(
    ledger: &Ledger,
    policy: Policy,
    settle: Duration,
    format: Format,
    model: Option<&str>,
) -> Guard {
    let guard = Guard::new(ledger)
        .policy(policy)
        .settle_timeout(settle)
        .format(format)
        .fed_by(FED_BY);
    match model {
        Some(m) => guard.model(m),
        None => guard,
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The format of a model request, by its path as each API names it; `None` for anything else,
/// which passes through.
fn format_of(method: &Method, path: &str) -> Option<Format> {
    if method != Method::POST {
        return None;
    }
    let path = path.trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or("");
    if path.ends_with("/responses") {
        Some(Format::Responses)
    } else if path.ends_with("/chat/completions") {
        Some(Format::Chat)
    } else if path.ends_with("/messages") {
        Some(Format::Anthropic)
    } else if last.ends_with(":generateContent") || last.ends_with(":streamGenerateContent") {
        Some(Format::Gemini)
    } else if last == "converse" || last == "converse-stream" {
        Some(Format::Bedrock)
    } else {
        None
    }
}

/// The model a Gemini request names in its path (`models/gemini-3-pro-preview:generateContent`).
fn model_in_path(path: &str) -> Option<&str> {
    let last = path.rsplit('/').next()?;
    last.split_once(':').map(|(model, _)| model)
}

async fn handle(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    if parts.method == Method::POST && (path == "/v1/traces" || path == "/v1/logs") {
        return telemetry(&proxy, body).await;
    }
    let format = format_of(&parts.method, &path);
    let mut record = json!({
        "event": "proxy_request",
        "at_us": proxy.ledger.now().as_micros() as u64,
        "time_unix_ms": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        "method": parts.method.as_str(),
        "path": path,
        "format": format.map(Format::name),
    });
    let Some(model_format) = format else {
        // Not a model request: its body streams through as it comes, whatever its size.
        record["action"] = json!("passed");
        let request = Forward {
            method: parts.method,
            target: &target,
            headers: &parts.headers,
            format,
        };
        let stream = reqwest::Body::wrap_stream(body.into_data_stream());
        return forward(&proxy, request, stream, record, started).await;
    };
    // At most --max-in-flight bodies are held at once (read, checked, sent): memory is bounded
    // by them, whatever the number of answers streaming back.
    let Ok(_held) = proxy.in_flight.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    // A client that stops sending mid-body holds a connection no longer than an upstream may.
    let read = tokio::time::timeout(
        proxy.read_timeout,
        axum::body::to_bytes(body, proxy.max_body),
    );
    let read = match read.await {
        Ok(read) => read,
        Err(_) => {
            let why = format!(
                "toolseq proxy: the client sent no more of its body for {} s (--read-timeout)",
                proxy.read_timeout.as_secs()
            );
            record["status"] = json!(408);
            record["proxy_error"] = json!(why);
            proxy.write(&record);
            return api_error(format, StatusCode::REQUEST_TIMEOUT, &why);
        }
    };
    let bytes = match read {
        Ok(b) => b,
        Err(e) => {
            let e = e.into_inner();
            let too_large = e.is::<http_body_util::LengthLimitError>();
            let (status, why) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "toolseq proxy: the request body is over the limit of {} bytes (--max-body)",
                        proxy.max_body
                    ),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    format!("toolseq proxy: could not read the request body: {e}"),
                )
            };
            record["status"] = json!(status.as_u16());
            record["proxy_error"] = json!(why);
            proxy.write(&record);
            return api_error(format, status, &why);
        }
    };
    let mut forwarded = bytes.clone();
    match checked(
        &proxy,
        model_format,
        &path,
        &parts.headers,
        &bytes,
        &mut record,
    )
    .await
    {
        Checked::Forward(Some(new)) => forwarded = new,
        Checked::Forward(None) => {}
        Checked::Blocked(message) => {
            record["action"] = json!("blocked");
            record["status"] = json!(400);
            record["latency_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
            proxy.write(&record);
            return api_error(format, StatusCode::BAD_REQUEST, &message);
        }
    }
    let request = Forward {
        method: parts.method,
        target: &target,
        headers: &parts.headers,
        format,
    };
    forward(&proxy, request, forwarded.into(), record, started).await
}

/// What is forwarded of a client's request, beside its body.
struct Forward<'r> {
    method: Method,
    /// The path and query, appended to the upstream's base URL.
    target: &'r str,
    headers: &'r HeaderMap,
    /// The model request's format, for errors in its API's shape.
    format: Option<Format>,
}

enum Checked {
    /// Forward the body as it came (`None`) or this repaired one.
    Forward(Option<Bytes>),
    /// Answer the client with this message, without calling upstream.
    Blocked(String),
}

/// Runs the guard on a model request's body and notes what it found in the record.
async fn checked(
    proxy: &Proxy,
    format: Format,
    path: &str,
    headers: &HeaderMap,
    bytes: &Bytes,
    record: &mut Value,
) -> Checked {
    let mut body: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            // Not ours to refuse: the API says what it thinks of it.
            tracing::warn!(target: "toolseq::proxy", path, error = %e, "request body is not JSON; forwarded untouched");
            record["action"] = json!("unreadable");
            record["note"] = json!(format!("not JSON: {e}"));
            return Checked::Forward(None);
        }
    };
    let conversation = conversation_of(&body, headers);
    record["conversation"] = json!(conversation);
    record["model"] = json!(body.get("model").and_then(Value::as_str));
    let (items, calls) = items_of(&body, format);
    record["items"] = items;
    record["calls"] = json!(calls.len());
    // How many of them the client's export told the ledger of: what the cross-check knows.
    let snap = proxy.ledger.snapshot(&conversation);
    record["calls_seen"] = json!(calls
        .iter()
        .filter(|id| snap
            .as_ref()
            .is_some_and(|s| s.calls.contains_key(proxy.ledger.key(id))))
        .count());
    // Gemini names its model in the path; a guard for it reads that model's rules.
    let path_model = (format == Format::Gemini && proxy.model.is_none())
        .then(|| model_in_path(path))
        .flatten();
    let own;
    let guard = match path_model {
        Some(model) => {
            own = guard(
                &proxy.ledger,
                proxy.policy,
                proxy.settle,
                format,
                Some(model),
            );
            &own
        }
        None => match proxy.guards.iter().find(|(f, _)| *f == format) {
            Some((_, g)) => g,
            None => return Checked::Forward(None),
        },
    };
    if let Some(model) = path_model {
        record["model"] = json!(model);
    }
    match guard.prepare_async(&conversation, &mut body).await {
        Ok(report) => {
            note_report(record, &report);
            if report.changes.is_empty() {
                record["action"] = json!(if report.is_clean() {
                    "clean"
                } else {
                    "observed"
                });
                return Checked::Forward(None);
            }
            record["action"] = json!("repaired");
            match serde_json::to_vec(&body) {
                Ok(v) => Checked::Forward(Some(Bytes::from(v))),
                Err(_) => Checked::Forward(None),
            }
        }
        Err(Error::Blocked(report)) => {
            note_report(record, &report);
            let first = report.violations.first();
            let words = first.and_then(|v| report.api_error(v));
            let message = match (first, words) {
                (Some(v), Some(w)) => format!(
                    "toolseq proxy blocked this request ({}): {w}",
                    v.rule.name()
                ),
                (Some(v), None) => {
                    format!("toolseq proxy blocked this request ({})", v.rule.name())
                }
                (None, _) => "toolseq proxy blocked this request".to_owned(),
            };
            Checked::Blocked(message)
        }
        Err(e) => {
            tracing::warn!(target: "toolseq::proxy", path, error = %e, "request body not read as {}; forwarded untouched", format.name());
            record["action"] = json!("unreadable");
            record["note"] = json!(e.to_string());
            Checked::Forward(None)
        }
    }
}

/// What tells a client's conversations apart: Codex's `prompt_cache_key` (its thread id),
/// Claude Code's `metadata.user_id`, a session header, or else a hash of the first user
/// message.
fn conversation_of(body: &Value, headers: &HeaderMap) -> String {
    if let Some(key) = body.get("prompt_cache_key").and_then(Value::as_str) {
        return key.to_owned();
    }
    if let Some(user) = body
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        return user.to_owned();
    }
    for name in ["session_id", "x-session-id", "conversation_id"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return v.to_owned();
        }
    }
    let list = ["input", "messages", "contents"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_array));
    let first_user = list
        .into_iter()
        .flatten()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    match first_user {
        Some(m) => format!("first-user-{}", hash(&m.to_string())),
        None => "default".to_owned(),
    }
}

fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The body's items as the API sees them: each entry toolseq reads (kind, call id, item id,
/// position), with its item's size and hash, never its text; and the ids of its calls.
fn items_of(body: &Value, format: Format) -> (Value, Vec<String>) {
    let Ok(skel) = toolseq::__private::wire::read(body, format) else {
        return (Value::Null, Vec::new());
    };
    let calls = skel
        .entries
        .iter()
        .filter(|e| e.kind() == toolseq::__private::skeleton::Kind::Call)
        .filter_map(|e| e.call_id().map(str::to_owned))
        .collect();
    let key = match format {
        Format::Responses => "input",
        Format::Gemini => "contents",
        _ => "messages",
    };
    let list = body.get(key).and_then(Value::as_array);
    let sized: Vec<(usize, String)> = list
        .into_iter()
        .flatten()
        .map(|item| {
            let text = item.to_string();
            (text.len(), hash(&text))
        })
        .collect();
    let entries: Vec<Value> = skel
        .entries
        .iter()
        .map(|e| {
            let (bytes, digest) = sized
                .get(e.index())
                .map_or((None, None), |(n, h)| (Some(*n), Some(h.as_str())));
            json!({
                "index": e.index(),
                "block": e.block(),
                "kind": e.label(),
                "call_id": e.call_id(),
                "item_id": e.item_id(),
                "bytes": bytes,
                "hash": digest,
            })
        })
        .collect();
    (Value::Array(entries), calls)
}

/// What the guard found and did, as the library serialises it (`--json`'s records).
fn note_report(record: &mut Value, report: &Report) {
    record["violations"] = json!(report.violations);
    record["changes"] = json!(report.changes);
    record["findings"] = json!(report.findings);
}

/// Headers that belong to one connection, not to the request (RFC 9110, 7.6.1), and the two
/// the forwarding recomputes.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

async fn forward(
    proxy: &Proxy,
    req: Forward<'_>,
    body: reqwest::Body,
    mut record: Value,
    started: Instant,
) -> Response {
    let url = format!("{}{}", proxy.upstream, req.target);
    let format = req.format;
    let mut request = proxy.client.request(req.method, &url).body(body);
    for (name, value) in req.headers {
        if !hop_by_hop(name) {
            request = request.header(name, value);
        }
    }
    let upstream = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
            let why = format!(
                "toolseq proxy: the upstream {} could not be reached: {cause}",
                proxy.upstream
            );
            record["status"] = json!(502);
            record["proxy_error"] = json!(why);
            record["latency_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
            proxy.write(&record);
            return api_error(format, StatusCode::BAD_GATEWAY, &why);
        }
    };
    let status = upstream.status();
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in upstream.headers() {
        if !hop_by_hop(name) {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    record["status"] = json!(status.as_u16());
    record["latency_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
    if status.is_success() {
        proxy.write(&record);
        // Chunk by chunk as they come; a client that goes away drops this stream, and with it
        // the upstream request.
        let stream = upstream
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        return response
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    }
    // A refusal is small: read it whole, to note the API's words.
    let bytes = match upstream.bytes().await {
        Ok(b) => b,
        Err(e) => {
            record["proxy_error"] = json!(format!("the upstream's answer was cut off: {e}"));
            proxy.write(&record);
            return api_error(
                format,
                StatusCode::BAD_GATEWAY,
                &format!("toolseq proxy: the upstream's answer was cut off: {e}"),
            );
        }
    };
    let words = error_message(&bytes);
    tracing::warn!(
        target: "toolseq::proxy",
        conversation = record["conversation"].as_str(),
        path = record["path"].as_str(),
        status = status.as_u16(),
        api_error = words.as_deref(),
        "the API refused the request"
    );
    record["api_error"] = json!(words);
    proxy.write(&record);
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// The message of an API's error body, in any of the shapes the APIs use.
fn error_message(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let message = v
        .pointer("/error/message")
        .or_else(|| v.pointer("/message"))
        .or_else(|| v.pointer("/0/error/message"))?;
    message.as_str().map(str::to_owned)
}

/// An error in the shape the client's API answers with, so the client shows it as it shows
/// the API's own.
fn api_error(format: Option<Format>, status: StatusCode, message: &str) -> Response {
    let (body, extra) = match format {
        Some(Format::Anthropic) => (
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
            None,
        ),
        Some(Format::Gemini) => (
            json!({"error": {"code": status.as_u16(), "message": message, "status": match status {
                StatusCode::BAD_REQUEST => "INVALID_ARGUMENT",
                StatusCode::PAYLOAD_TOO_LARGE => "INVALID_ARGUMENT",
                _ => "UNAVAILABLE",
            }}}),
            None,
        ),
        Some(Format::Bedrock) => (
            json!({"message": message}),
            Some(("x-amzn-errortype", "ValidationException")),
        ),
        _ => (
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
            None,
        ),
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some((name, value)) = extra {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Feeds the client's OTLP/HTTP JSON export to the ledger and answers as a collector does.
async fn telemetry(proxy: &Proxy, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, proxy.max_body).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let export: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("toolseq proxy takes OTLP/HTTP in its JSON encoding: {e}"),
            )
                .into_response()
        }
    };
    let mut replay = Replay::new();
    if let Err(e) = replay.add(&export) {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    replay.feed(&proxy.ledger, Convention::default());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{}",
    )
        .into_response()
}

impl Proxy {
    fn write(&self, record: &Value) {
        let Some(file) = &self.record else { return };
        let mut line = record.to_string();
        line.push('\n');
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!(target: "toolseq::proxy", error = %e, "cannot write the record");
        }
    }
}
