//! A client's OpenTelemetry export (OTLP/HTTP in its JSON encoding) played back through
//! `tracing`, so the [layer](crate::layer) reads it with its [`Convention`] exactly as it reads
//! the client's spans and events in process.
//!
//! This is how a client that cannot load the layer still feeds a ledger: the released Codex CLI
//! exports its spans and log events to any OTLP/HTTP endpoint (`[otel]` in its `config.toml`),
//! and `tests/e2e` keeps that export for `tests/codex_replay.rs`.
//!
//! ```
//! use serde_json::json;
//! use toolseq::{convention::Convention, ledger::{CallState, Ledger}, otlp::Replay};
//!
//! // A call span as Codex exports it: named after its tool, told apart by its attributes.
//! let s = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
//! let export = json!({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "codex"}, "spans": [{
//!     "traceId": "t1", "spanId": "a1", "name": "exec_command",
//!     "startTimeUnixNano": "1000", "endTimeUnixNano": "5000",
//!     "attributes": [s("call_id", "call_1"), s("conversation.id", "thread-1"),
//!                    s("codex.tool.phase", "dispatch")],
//!     "events": [{"timeUnixNano": "4000", "name": "event tool_result.rs:54",
//!                 "attributes": [s("event.name", "codex.tool_result"), s("call_id", "call_1")]}]
//! }]}]}]});
//! let mut replay = Replay::new();
//! replay.add(&export)?;
//! let ledger = Ledger::new();
//! replay.feed(&ledger, Convention::default());
//! assert_eq!(ledger.snapshot("thread-1").unwrap().calls["call_1"].state, CallState::Answered);
//! # Ok::<(), toolseq::otlp::ExportError>(())
//! ```
//!
//! Played back in time order: a span opens at its start, its events and the log records made
//! inside it come at their times, and it closes at its end. An export holds only each
//! attribute's last value, so a span attribute that ends `true` (Codex's `aborted`) is opened
//! `false` and recorded `true` just before the span's last event (for a call, the one saying it
//! ended): a flag recorded later is the only way a span says that something happened while it
//! ran. A span or event's target is its `target` attribute when the exporter wrote one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{Field, FieldSet, Value as FieldValue};
use tracing_core::metadata::Kind;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Interest, Level, Metadata};
use tracing_subscriber::prelude::*;

use crate::convention::Convention;
use crate::ledger::Ledger;

/// An export that is not OTLP/JSON: neither `resourceSpans` nor `resourceLogs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError(String);

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

/// Spans and log records of one or more exports, to be played back.
#[derive(Debug, Default)]
pub struct Replay {
    spans: Vec<SpanRec>,
    logs: Vec<EventRec>,
}

/// What a playback did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Played {
    /// Spans opened.
    pub spans: usize,
    /// Span events and log records emitted.
    pub events: usize,
    /// Spans and events left out: more distinct names and field sets than
    /// [`MAX_CALLSITES`], which a playback makes callsites for once each.
    pub skipped: usize,
}

/// Distinct (name, target, fields) shapes a process makes callsites for. A callsite lives as
/// long as the process (tracing keeps it registered), so made-up names cannot grow memory past
/// this.
pub const MAX_CALLSITES: usize = 4096;

/// Fields a played-back span or event carries at most: tracing's own limit for one callsite.
const MAX_FIELDS: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Attr {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl Attr {
    fn as_value(&self) -> &dyn FieldValue {
        match self {
            Attr::Str(s) => s,
            Attr::Bool(b) => b,
            Attr::Int(i) => i,
            Attr::Double(d) => d,
        }
    }
}

#[derive(Debug)]
struct SpanRec {
    id: String,
    parent: Option<String>,
    name: String,
    target: String,
    start: u64,
    end: u64,
    attrs: Vec<(String, Attr)>,
    events: Vec<EventRec>,
}

#[derive(Debug)]
struct EventRec {
    time: u64,
    name: String,
    target: String,
    /// The span it was made in, for a log record that names one.
    span: Option<String>,
    attrs: Vec<(String, Attr)>,
}

fn nanos(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The attributes the layer could read: scalars only, and not the bridge's own `thread.id` /
/// `thread.name`. OpenTelemetry's tracing bridge stamps every span and event with the
/// operating system thread's number and name under those keys, where Codex puts its
/// conversation id; a Codex conversation id is a UUID, never a bare number.
fn attrs(list: Option<&Value>) -> Vec<(String, Attr)> {
    let mut out = Vec::new();
    for a in list.and_then(Value::as_array).into_iter().flatten() {
        let (Some(key), Some(value)) = (a.get("key").and_then(Value::as_str), a.get("value"))
        else {
            continue;
        };
        let attr = if let Some(s) = value.get("stringValue").and_then(Value::as_str) {
            Attr::Str(s.to_owned())
        } else if let Some(b) = value.get("boolValue").and_then(Value::as_bool) {
            Attr::Bool(b)
        } else if let Some(i) = value.get("intValue") {
            // OTLP/JSON writes 64-bit integers as strings.
            match i.as_i64().or_else(|| i.as_str()?.parse().ok()) {
                Some(i) => Attr::Int(i),
                None => continue,
            }
        } else if let Some(d) = value.get("doubleValue").and_then(Value::as_f64) {
            Attr::Double(d)
        } else {
            continue;
        };
        let number = match &attr {
            Attr::Int(_) => true,
            Attr::Str(s) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
            _ => false,
        };
        let os_thread = key == "thread.name" || key == "thread.id" && number;
        if !os_thread && out.len() < MAX_FIELDS {
            out.push((key.to_owned(), attr));
        }
    }
    out
}

/// The tracing target of a span or event: its `target` attribute, which OpenTelemetry's tracing
/// bridge writes, else the instrumentation scope's name (for a log record, its target).
fn with_target(mut attrs: Vec<(String, Attr)>, scope: &str) -> (Vec<(String, Attr)>, String) {
    match attrs.iter().position(|(k, _)| k == "target") {
        Some(i) => match attrs.remove(i).1 {
            Attr::Str(t) => (attrs, t),
            _ => (attrs, scope.to_owned()),
        },
        None => (attrs, scope.to_owned()),
    }
}

fn scopes<'v>(
    export: &'v Value,
    resources: &str,
    scopes: &str,
    records: &str,
) -> Vec<(String, &'v Value)> {
    let mut out = Vec::new();
    for r in export[resources].as_array().into_iter().flatten() {
        for s in r[scopes].as_array().into_iter().flatten() {
            let target = s["scope"]["name"].as_str().unwrap_or("otlp").to_owned();
            for rec in s[records].as_array().into_iter().flatten() {
                out.push((target.clone(), rec));
            }
        }
    }
    out
}

impl Replay {
    /// An empty playback.
    pub fn new() -> Self {
        Replay::default()
    }

    /// Adds one export request: traces (`resourceSpans`) or logs (`resourceLogs`).
    pub fn add(&mut self, export: &Value) -> Result<(), ExportError> {
        let traces = export.get("resourceSpans").is_some();
        let logs = export.get("resourceLogs").is_some();
        if !traces && !logs {
            return Err(ExportError(
                "not an OTLP/JSON export: neither `resourceSpans` nor `resourceLogs`".into(),
            ));
        }
        for (target, span) in scopes(export, "resourceSpans", "scopeSpans", "spans") {
            let events = span["events"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let (attrs, target) = with_target(attrs(e.get("attributes")), &target);
                    EventRec {
                        time: nanos(e.get("timeUnixNano")),
                        name: e["name"].as_str().unwrap_or("event").to_owned(),
                        target,
                        span: None,
                        attrs,
                    }
                })
                .collect();
            let (attrs, target) = with_target(attrs(span.get("attributes")), &target);
            self.spans.push(SpanRec {
                id: nonempty(span.get("spanId")).unwrap_or_default(),
                parent: nonempty(span.get("parentSpanId")),
                name: span["name"].as_str().unwrap_or("span").to_owned(),
                target,
                start: nanos(span.get("startTimeUnixNano")),
                end: nanos(span.get("endTimeUnixNano")),
                attrs,
                events,
            });
        }
        for (target, log) in scopes(export, "resourceLogs", "scopeLogs", "logRecords") {
            // Exporters often leave `timeUnixNano` zero and fill the observed time.
            let time = match nanos(log.get("timeUnixNano")) {
                0 => nanos(log.get("observedTimeUnixNano")),
                t => t,
            };
            let (attrs, target) = with_target(attrs(log.get("attributes")), &target);
            self.logs.push(EventRec {
                time,
                name: nonempty(log.get("eventName")).unwrap_or_else(|| "log".into()),
                target,
                span: nonempty(log.get("spanId")),
                attrs,
            });
        }
        Ok(())
    }

    /// Adds every export of a file holding one export request per line.
    pub fn add_json_lines(&mut self, text: &str) -> Result<(), ExportError> {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .map_err(|e| ExportError(format!("line {}: not JSON: {e}", n + 1)))?;
            self.add(&v)
                .map_err(|e| ExportError(format!("line {}: {e}", n + 1)))?;
        }
        Ok(())
    }

    /// Plays the exports back into a ledger through the layer with `convention`.
    pub fn feed(&self, ledger: &Ledger, convention: Convention) -> Played {
        let dispatch = Dispatch::new(
            tracing_subscriber::registry().with(crate::layer::layer_with(ledger, convention)),
        );
        self.play(&dispatch)
    }

    /// Plays the exports back into a subscriber, in time order.
    ///
    /// The subscriber is the thread's default while it plays: a registry closing a span asks
    /// the default subscriber to close the span's parent, and a process with a registry of its
    /// own (a proxy's, with its fmt layer) would be asked to close a span it never had.
    pub fn play(&self, dispatch: &Dispatch) -> Played {
        tracing_core::dispatcher::with_default(dispatch, || self.play_in(dispatch))
    }

    fn play_in(&self, dispatch: &Dispatch) -> Played {
        let index: HashMap<&str, usize> = self
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let depth = |mut i: usize| {
            let mut d = 0;
            while let Some(&p) = self.spans[i].parent.as_deref().and_then(|p| index.get(p)) {
                d += 1;
                i = p;
                if d > self.spans.len() {
                    break;
                }
            }
            d as i64
        };
        // (time, step, order among equals, what): at one time a span opens before its flags
        // are recorded, they before events, and events before a span closes.
        let mut steps: Vec<(u64, u8, i64, Step)> = Vec::new();
        for (i, s) in self.spans.iter().enumerate() {
            let d = depth(i);
            steps.push((s.start, 0, d, Step::Open(i)));
            for (k, e) in s.events.iter().enumerate() {
                steps.push((e.time.max(s.start), 2, d, Step::SpanEvent(i, k)));
            }
            let end = s.end.max(s.start);
            // A flag that ended `true` is recorded before the span's last event, which for a
            // call is the one saying it ended (Codex's `codex.tool_result_ready`), else at its
            // end.
            if s.attrs.iter().any(|(_, v)| *v == Attr::Bool(true)) {
                let last = s
                    .events
                    .iter()
                    .map(|e| e.time)
                    .filter(|&t| t > s.start)
                    .max();
                steps.push((last.unwrap_or(end).min(end), 1, d, Step::Record(i)));
            }
            steps.push((end, 3, -d, Step::Close(i)));
        }
        for (k, e) in self.logs.iter().enumerate() {
            steps.push((e.time, 2, 0, Step::Log(k)));
        }
        steps.sort_by_key(|&(t, step, order, _)| (t, step, order));

        let mut played = Played::default();
        let mut open: HashMap<usize, Option<Id>> = HashMap::new();
        for (_, _, _, step) in steps {
            match step {
                Step::Open(i) => {
                    let s = &self.spans[i];
                    let parent = self.enabled_parent(&index, &open, s.parent.as_deref());
                    let id = match callsite(Kind::SPAN, &s.name, &s.target, &s.attrs) {
                        Some(meta) if dispatch.enabled(meta) => {
                            // Opened as it began: a flag that ended `true` starts `false`.
                            let start: Vec<(String, Attr)> = s
                                .attrs
                                .iter()
                                .map(|(k, v)| match v {
                                    Attr::Bool(true) => (k.clone(), Attr::Bool(false)),
                                    v => (k.clone(), v.clone()),
                                })
                                .collect();
                            played.spans += 1;
                            Some(with_values(meta, &start, |values| {
                                let attrs = match &parent {
                                    Some(p) => Attributes::child_of(p.clone(), meta, values),
                                    None => Attributes::new_root(meta, values),
                                };
                                dispatch.new_span(&attrs)
                            }))
                        }
                        Some(_) => None,
                        None => {
                            played.skipped += 1;
                            None
                        }
                    };
                    open.insert(i, id);
                }
                Step::SpanEvent(i, k) => {
                    let parent =
                        self.enabled_parent(&index, &open, Some(self.spans[i].id.as_str()));
                    emit(dispatch, &self.spans[i].events[k], parent, &mut played);
                }
                Step::Log(k) => {
                    let e = &self.logs[k];
                    let parent = self.enabled_parent(&index, &open, e.span.as_deref());
                    emit(dispatch, e, parent, &mut played);
                }
                Step::Record(i) => {
                    let Some(Some(id)) = open.get(&i) else {
                        continue;
                    };
                    let s = &self.spans[i];
                    let late: Vec<(String, Attr)> = s
                        .attrs
                        .iter()
                        .filter(|(_, v)| *v == Attr::Bool(true))
                        .cloned()
                        .collect();
                    if let Some(meta) = callsite(Kind::SPAN, &s.name, &s.target, &s.attrs) {
                        with_values(meta, &late, |values| {
                            dispatch.record(id, &Record::new(values));
                        });
                    }
                }
                Step::Close(i) => {
                    if let Some(Some(id)) = open.remove(&i) {
                        dispatch.try_close(id);
                    }
                }
            }
        }
        // Spans the export left open (their ends lost) close now, innermost last opened first.
        let mut left: Vec<_> = open.into_values().flatten().collect();
        left.sort_by_key(|id| std::cmp::Reverse(id.into_u64()));
        for id in left {
            dispatch.try_close(id);
        }
        played
    }
}

impl Replay {
    /// The nearest span at or above span `at` of the export that the subscriber opened.
    fn enabled_parent<'a>(
        &'a self,
        index: &HashMap<&'a str, usize>,
        open: &HashMap<usize, Option<Id>>,
        mut at: Option<&'a str>,
    ) -> Option<Id> {
        // Bounded: an export may hold a cycle of parents.
        for _ in 0..=self.spans.len() {
            let &i = index.get(at?)?;
            if let Some(Some(id)) = open.get(&i) {
                return Some(id.clone());
            }
            at = self.spans[i].parent.as_deref();
        }
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Open(usize),
    Record(usize),
    SpanEvent(usize, usize),
    Log(usize),
    Close(usize),
}

fn emit(dispatch: &Dispatch, e: &EventRec, parent: Option<Id>, played: &mut Played) {
    let Some(meta) = callsite(Kind::EVENT, &e.name, &e.target, &e.attrs) else {
        played.skipped += 1;
        return;
    };
    if !dispatch.enabled(meta) {
        return;
    }
    played.events += 1;
    with_values(meta, &e.attrs, |values| {
        dispatch.event(&Event::new_child_of(parent, meta, values));
    });
}

/// Calls `f` with a value set of `meta`'s fields holding `values` (each by its key).
fn with_values<T>(
    meta: &'static Metadata<'static>,
    values: &[(String, Attr)],
    f: impl FnOnce(&tracing_core::field::ValueSet<'_>) -> T,
) -> T {
    let fields: Vec<Field> = meta.fields().iter().collect();
    let Some(first) = fields.first() else {
        return f(&meta.fields().value_set(&[]));
    };
    let mut slots: [(&Field, Option<&dyn FieldValue>); MAX_FIELDS] = [(first, None); MAX_FIELDS];
    for (slot, field) in slots.iter_mut().zip(&fields) {
        let value = values
            .iter()
            .find(|(k, _)| k == field.name())
            .map(|(_, v)| v.as_value());
        *slot = (field, value);
    }
    f(&meta.fields().value_set(&slots))
}

/// A callsite made at run time for one shape of span or event, registered with tracing once.
struct Site(OnceLock<Metadata<'static>>);

impl Callsite for Site {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        // Set right after the site is made, before tracing can ask for it.
        self.0.get().unwrap_or(&FALLBACK)
    }
}

static FALLBACK_SITE: Site = Site(OnceLock::new());
static FALLBACK: Metadata<'static> = Metadata::new(
    "toolseq.otlp",
    "toolseq::otlp",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&[], Identifier(&FALLBACK_SITE)),
    Kind::EVENT,
);

type Shape = (bool, String, String, Vec<String>);

fn callsites() -> &'static Mutex<HashMap<Shape, &'static Metadata<'static>>> {
    static SITES: OnceLock<Mutex<HashMap<Shape, &'static Metadata<'static>>>> = OnceLock::new();
    SITES.get_or_init(Default::default)
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// The callsite for a span or event of this name, target and fields, made on first use; `None`
/// once [`MAX_CALLSITES`] exist.
fn callsite(
    kind: Kind,
    name: &str,
    target: &str,
    attrs: &[(String, Attr)],
) -> Option<&'static Metadata<'static>> {
    let is_span = kind.is_span();
    let key: Shape = (
        is_span,
        name.to_owned(),
        target.to_owned(),
        attrs.iter().map(|(k, _)| k.clone()).collect(),
    );
    let mut sites = callsites().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(meta) = sites.get(&key) {
        return Some(meta);
    }
    if sites.len() >= MAX_CALLSITES {
        return None;
    }
    let names: Vec<&'static str> = key.3.iter().map(|k| leak(k)).collect();
    let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    let site: &'static Site = Box::leak(Box::new(Site(OnceLock::new())));
    let meta = Metadata::new(
        leak(name),
        leak(target),
        Level::INFO,
        None,
        None,
        None,
        FieldSet::new(names, Identifier(site)),
        kind,
    );
    let _ = site.0.set(meta);
    let meta: &'static Metadata<'static> = site.metadata_static();
    tracing_core::callsite::register(site);
    sites.insert(key, meta);
    Some(meta)
}

impl Site {
    fn metadata_static(&'static self) -> &'static Metadata<'static> {
        self.0.get().unwrap_or(&FALLBACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(k: &str, v: &str) -> Value {
        json!({"key": k, "value": {"stringValue": v}})
    }

    fn span(id: &str, parent: &str, attributes: Vec<Value>) -> Value {
        json!({"spanId": id, "parentSpanId": parent, "name": "exec_command",
               "startTimeUnixNano": "10", "endTimeUnixNano": "20", "attributes": attributes})
    }

    fn traces(spans: Vec<Value>) -> Value {
        json!({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]})
    }

    #[test]
    fn what_is_not_an_export_is_refused_by_name() {
        let err = Replay::new().add(&json!({"input": []})).unwrap_err();
        assert!(err.to_string().contains("resourceSpans"), "{err}");
        let err = Replay::new().add_json_lines("{}\nnot json").unwrap_err();
        assert!(err.to_string().starts_with("line 1"), "{err}");
    }

    #[test]
    fn a_cycle_of_parents_ends_and_the_os_thread_number_is_no_conversation() {
        let call = |id: &str, parent: &str| {
            span(
                id,
                parent,
                vec![
                    s("call_id", &format!("call_{id}")),
                    s("codex.tool.phase", "dispatch"),
                    s("thread.id", "7"),
                    s("conversation.id", "thread-1"),
                ],
            )
        };
        let mut replay = Replay::new();
        replay
            .add(&traces(vec![call("a", "b"), call("b", "a")]))
            .unwrap();
        let ledger = Ledger::new();
        let played = replay.feed(&ledger, Convention::default());
        assert_eq!(played.spans, 2);
        assert_eq!(ledger.conversations(), vec!["thread-1".to_owned()]);
        let snap = ledger.snapshot("thread-1").unwrap();
        assert_eq!(snap.calls.len(), 2);
    }
}
