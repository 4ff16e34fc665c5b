//! A fake agent client for integration tests: a neutral history rendered in each wire format,
//! and a layer that captures what toolseq logs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use toolseq::Format;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// One item of a client's history, before it is rendered for an API.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    User(&'static str),
    Assistant(&'static str),
    Call(&'static str),
    Output(&'static str),
}

pub const FORMATS: [Format; 3] = [Format::Responses, Format::Chat, Format::Anthropic];

/// Renders a history as a request body: parallel calls share one assistant message (Chat,
/// Anthropic); results and text share one user message (Anthropic).
pub fn body(format: Format, items: &[Item]) -> Value {
    match format {
        Format::Responses | Format::Rollout => {
            json!({"model": "m", "input": items.iter().map(|i| match i {
            Item::User(t) => json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]}),
            Item::Assistant(t) => json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": t}]}),
            Item::Call(id) => json!({"type": "function_call", "call_id": id, "name": "shell", "arguments": "{}"}),
            Item::Output(id) => json!({"type": "function_call_output", "call_id": id, "output": "done"}),
        }).collect::<Vec<_>>()})
        }
        Format::Chat => {
            let mut msgs: Vec<Value> = vec![json!({"role": "system", "content": "be brief"})];
            for i in items {
                match i {
                    Item::Call(id) => {
                        let call = json!({"id": id, "type": "function", "function": {"name": "shell", "arguments": "{}"}});
                        match msgs.last_mut() {
                            Some(m) if m.get("tool_calls").is_some() => {
                                m["tool_calls"].as_array_mut().unwrap().push(call)
                            }
                            _ => msgs.push(
                                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                            ),
                        }
                    }
                    Item::Output(id) => {
                        msgs.push(json!({"role": "tool", "tool_call_id": id, "content": "done"}))
                    }
                    Item::User(t) => msgs.push(json!({"role": "user", "content": t})),
                    Item::Assistant(t) => msgs.push(json!({"role": "assistant", "content": t})),
                }
            }
            json!({"model": "m", "messages": msgs})
        }
        Format::Anthropic => {
            let mut msgs: Vec<Value> = Vec::new();
            for i in items {
                let (role, block) = match i {
                    Item::Call(id) => (
                        "assistant",
                        json!({"type": "tool_use", "id": id, "name": "shell", "input": {}}),
                    ),
                    Item::Output(id) => (
                        "user",
                        json!({"type": "tool_result", "tool_use_id": id, "content": "done"}),
                    ),
                    Item::User(t) => ("user", json!({"type": "text", "text": t})),
                    Item::Assistant(t) => ("assistant", json!({"type": "text", "text": t})),
                };
                match msgs.last_mut() {
                    Some(m) if m["role"] == role => {
                        m["content"].as_array_mut().unwrap().push(block)
                    }
                    _ => msgs.push(json!({"role": role, "content": [block]})),
                }
            }
            json!({"model": "m", "system": "be brief", "max_tokens": 100,
                "tools": [{"name": "shell", "input_schema": {"type": "object"}}], "messages": msgs})
        }
        Format::Gemini | Format::Bedrock => {
            let gemini = format == Format::Gemini;
            let (model, field) = if gemini {
                ("model", "parts")
            } else {
                ("assistant", "content")
            };
            let mut msgs: Vec<Value> = Vec::new();
            for i in items {
                let (role, block) = match (i, gemini) {
                    (Item::Call(id), true) => (
                        model,
                        json!({"functionCall": {"id": id, "name": "shell", "args": {}}}),
                    ),
                    (Item::Output(id), true) => (
                        "user",
                        json!({"functionResponse": {"id": id, "name": "shell", "response": {"output": "done"}}}),
                    ),
                    (Item::Call(id), false) => (
                        model,
                        json!({"toolUse": {"toolUseId": id, "name": "shell", "input": {}}}),
                    ),
                    (Item::Output(id), false) => (
                        "user",
                        json!({"toolResult": {"toolUseId": id, "content": [{"text": "done"}]}}),
                    ),
                    (Item::User(t), _) => ("user", json!({"text": t})),
                    (Item::Assistant(t), _) => (model, json!({"text": t})),
                };
                match msgs.last_mut() {
                    Some(m) if m["role"] == role => m[field].as_array_mut().unwrap().push(block),
                    _ => msgs.push(json!({"role": role, field: [block]})),
                }
            }
            if gemini {
                json!({"contents": msgs})
            } else {
                json!({"modelId": "m", "messages": msgs, "toolConfig": {"tools": [
                    {"toolSpec": {"name": "shell", "inputSchema": {"json": {"type": "object"}}}}]}})
            }
        }
        other => panic!("no rendering for {other}"),
    }
}

/// Flattens a body back to `user:text`, `call:id`, `out:id:text` tokens in sent order.
pub fn order(format: Format, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match format {
        Format::Responses | Format::Rollout => {
            for it in body["input"].as_array().unwrap() {
                match it["type"].as_str().unwrap_or("message") {
                    "message" => out.push(format!(
                        "{}:{}",
                        it["role"].as_str().unwrap(),
                        it["content"][0]["text"].as_str().unwrap()
                    )),
                    "function_call" => {
                        out.push(format!("call:{}", it["call_id"].as_str().unwrap()))
                    }
                    "function_call_output" => out.push(format!(
                        "out:{}:{}",
                        it["call_id"].as_str().unwrap(),
                        it["output"].as_str().unwrap()
                    )),
                    other => out.push(other.to_owned()),
                }
            }
        }
        Format::Chat => {
            for m in body["messages"].as_array().unwrap() {
                match m["role"].as_str().unwrap() {
                    "system" => {}
                    "tool" => out.push(format!(
                        "out:{}:{}",
                        m["tool_call_id"].as_str().unwrap(),
                        m["content"].as_str().unwrap()
                    )),
                    "assistant" if m.get("tool_calls").is_some() => {
                        for c in m["tool_calls"].as_array().unwrap() {
                            out.push(format!("call:{}", c["id"].as_str().unwrap()));
                        }
                    }
                    role => out.push(format!("{role}:{}", m["content"].as_str().unwrap())),
                }
            }
        }
        Format::Anthropic => {
            for m in body["messages"].as_array().unwrap() {
                let role = m["role"].as_str().unwrap();
                for b in m["content"].as_array().unwrap() {
                    match b["type"].as_str().unwrap() {
                        "text" => out.push(format!("{role}:{}", b["text"].as_str().unwrap())),
                        "tool_use" => out.push(format!("call:{}", b["id"].as_str().unwrap())),
                        "tool_result" => out.push(format!(
                            "out:{}:{}",
                            b["tool_use_id"].as_str().unwrap(),
                            b["content"].as_str().unwrap()
                        )),
                        other => out.push(other.to_owned()),
                    }
                }
            }
        }
        Format::Gemini | Format::Bedrock => {
            let (list, field) = if format == Format::Gemini {
                ("contents", "parts")
            } else {
                ("messages", "content")
            };
            for m in body[list].as_array().unwrap() {
                let role = match m["role"].as_str().unwrap() {
                    "model" => "assistant",
                    r => r,
                };
                for b in m[field].as_array().unwrap() {
                    if let Some(t) = b.get("text") {
                        out.push(format!("{role}:{}", t.as_str().unwrap()));
                    } else if let Some(c) = b.get("functionCall") {
                        out.push(format!("call:{}", c["id"].as_str().unwrap()));
                    } else if let Some(c) = b.get("toolUse") {
                        out.push(format!("call:{}", c["toolUseId"].as_str().unwrap()));
                    } else if let Some(r) = b.get("functionResponse") {
                        let r2 = &r["response"];
                        let text = r2.get("output").or(r2.get("error")).unwrap();
                        out.push(format!(
                            "out:{}:{}",
                            r["id"].as_str().unwrap(),
                            text.as_str().unwrap()
                        ));
                    } else if let Some(r) = b.get("toolResult") {
                        out.push(format!(
                            "out:{}:{}",
                            r["toolUseId"].as_str().unwrap(),
                            r["content"][0]["text"].as_str().unwrap()
                        ));
                    }
                }
            }
        }
        other => panic!("no rendering for {other}"),
    }
    out
}

/// One captured log event.
#[derive(Debug, Clone)]
pub struct Logged {
    pub level: tracing::Level,
    pub target: String,
    pub fields: BTreeMap<String, String>,
}

/// A layer that keeps every event it sees.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<Logged>>>);

impl Capture {
    pub fn events(&self) -> Vec<Logged> {
        self.0.lock().clone()
    }

    /// Events from toolseq itself, at `level` or more severe.
    pub fn toolseq_at_least(&self, level: tracing::Level) -> Vec<Logged> {
        self.events()
            .into_iter()
            .filter(|e| e.target.starts_with("toolseq") && e.level <= level)
            .collect()
    }
}

struct FieldMap<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldMap<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut FieldMap(&mut fields));
        self.0.lock().push(Logged {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
}

/// Each violation of a report as its rule and item index.
pub fn rules(report: &toolseq::Report) -> Vec<(toolseq::Rule, usize)> {
    report
        .violations
        .iter()
        .map(|v| (v.rule, v.index))
        .collect()
}
