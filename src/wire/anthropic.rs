//! Anthropic Messages `messages`: assistant `tool_use` blocks, answered by `tool_result` blocks
//! opening the next user message.

use serde_json::{json, Map, Value};

use super::adapter::{Adapter, Edits};
use super::blocks::{self, Shape};
use super::reading::{call_id_field, fields};
use crate::change::Change;
use crate::escape::escape_id;
use crate::format::Format;
use crate::rules::{Rule, Violation};
use crate::skeleton::{
    content, Adjacency, CallIdRule, Entries, Entry, Family, Flaw, IdChars, Kind, Role, Skeleton,
    Trace,
};

/// The Anthropic Messages adapter.
pub(super) struct Anthropic;

impl Adapter for Anthropic {
    fn format(&self) -> Format {
        Format::Anthropic
    }

    fn list_key(&self) -> Option<&'static str> {
        Some("messages")
    }

    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str> {
        for b in item.get("content")?.as_array()? {
            match block_type(b) {
                Some("tool_use" | "tool_result") => {
                    return Some("`tool_use` / `tool_result` blocks")
                }
                Some(t) if is_server_tool_block(t) => return Some("Anthropic server tool blocks"),
                // Chat has neither: its images are `image_url` parts, its reasoning no block.
                Some("image" | "document") if b.get("source").is_some() => {
                    return Some("`image` / `document` blocks with a `source`")
                }
                Some("thinking" | "redacted_thinking") => return Some("`thinking` blocks"),
                _ => {}
            }
        }
        None
    }

    fn hints_body(&self, body: &Map<String, Value>) -> Option<&'static str> {
        body.contains_key("system").then_some("top-level `system`")
    }

    fn read<'a>(&self, messages: &'a [Value]) -> Skeleton<'a> {
        let mut skel = super::reading::read_messages(
            messages,
            Format::Anthropic,
            Adjacency::NextMessageHead,
            read_message,
        );
        skel.call_ids = CALL_IDS;
        skel
    }

    fn read_body(&self, body: &Value, skel: &mut Skeleton<'_>) {
        // Only a request: a body without the `model` every request names is an excerpt, whose
        // tools may simply have been left out of it.
        skel.tools_undefined =
            body.get("model").is_some() && super::reading::no_list(body, "tools");
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Value {
        (SHAPE.synthetic)(None, family, call_id, text)
    }

    fn block_field(&self) -> &'static str {
        SHAPE.field
    }

    fn call_id_key(&self, e: &Entry) -> &'static str {
        if e.kind == Kind::Call {
            "id"
        } else {
            "tool_use_id"
        }
    }

    fn rebuild(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        blocks::rebuild(&SHAPE, items, edits)
    }

    fn place_note(
        &self,
        items: &mut Vec<Value>,
        call_item: usize,
        _after_run: usize,
        note: &str,
    ) -> bool {
        append_text(items, call_item + 1, note);
        true
    }

    fn api_error(&self, v: &Violation) -> Option<String> {
        let id = escape_id(v.call_id.as_deref().unwrap_or(""));
        let (i, b) = (v.index, v.block.unwrap_or(0));
        let call_at = v.call_index.unwrap_or(i);
        let field = if v.on_call { "id" } else { "tool_use_id" };
        Some(match v.rule {
            // The API names the server tool ('web_search' tool use with id … was found without a
            // corresponding 'web_search_tool_result' block); the skeleton keeps only its id.
            Rule::MissingOutput if v.label != "tool_use" => format!(
                "messages.{i}.content.{b}: `{}` with id {id} was found without a corresponding result block.",
                v.label
            ),
            Rule::MissingOutput => format!(
                "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {id}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
            ),
            Rule::InterleavedMessage => format!(
                "messages.{call_at}: `tool_use` ids were found without `tool_result` blocks immediately after: {id}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
            ),
            Rule::OrphanOutput | Rule::OutputBeforeCall | Rule::KindMismatch
                if v.label != "tool_result" =>
            {
                format!(
                    "messages.{i}.content.{b}: unexpected `tool_use_id` found in `{}` blocks: {id}. Each `{}` block must have a corresponding `server_tool_use` block before it in the same message.",
                    v.label, v.label
                )
            }
            Rule::OrphanOutput | Rule::OutputBeforeCall | Rule::KindMismatch => format!(
                "messages.{i}.content.{b}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            ),
            Rule::InvalidCallId => format!(
                "messages.{i}.content.{b}.{field}: String should match pattern '^[a-zA-Z0-9_-]+$'"
            ),
            Rule::DuplicateCall | Rule::ReusedCallId => {
                format!("messages.{i}.content.{b}: `tool_use` ids must be unique")
            }
            // Reported on the message's first call: block 0 is that call, or the text before it.
            Rule::MissingThinkingBlock => format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
                if v.block == Some(0) { v.label } else { "text" }
            ),
            Rule::DuplicateOutput => format!(
                "messages.{i}.content.{b}: each tool_use must have a single result. Found multiple `tool_result` blocks with id: {id}"
            ),
            Rule::EmptyCallId => format!(
                "messages.{i}.content.{b}.{field}: String should have at least 1 character"
            ),
            Rule::BlankTextBlock if v.detail == Some(crate::rule::CACHED_BLANK) => {
                format!("messages.{i}.content: cache_control cannot be set for empty text blocks")
            }
            Rule::BlankTextBlock => {
                "messages: text content blocks must contain non-whitespace text".to_owned()
            }
            Rule::InvalidCallInput => {
                format!("messages.{i}.content.{b}.tool_use.input: Input should be a valid dictionary")
            }
            Rule::ToolsUndefined => {
                "Requests which include `tool_use` or `tool_result` blocks must define tools."
                    .to_owned()
            }
            Rule::PrefillUnsupported => "This model does not support assistant message prefill. The conversation must end with a user message.".to_owned(),
            _ => return None,
        })
    }
}

/// What tool ids the Messages API accepts.
const CALL_IDS: CallIdRule = CallIdRule {
    max_len: None,
    exact_len: None,
    chars: IdChars::Word,
    prefix: "toolu_",
};

/// Whether a block type is a server tool's call or result, which only Anthropic bodies hold.
fn is_server_tool_block(t: &str) -> bool {
    matches!(t, "server_tool_use" | "mcp_tool_use") || server_result(t)
}

/// Whether a block type is a server tool's result (`web_search_tool_result`,
/// `code_execution_tool_result`, `mcp_tool_result`, ...), which sits in the assistant message
/// beside its `server_tool_use` / `mcp_tool_use`.
fn server_result(t: &str) -> bool {
    t.ends_with("_tool_result") && t != "tool_result"
}

/// Puts a text block in the user message at `at`, right after the `tool_result` blocks that open
/// it, or inserts a user message there when the message at `at` is not a user's.
fn append_text(messages: &mut Vec<Value>, at: usize, text: &str) {
    let block = json!({"type": "text", "text": text});
    let target = messages
        .get_mut(at)
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(Value::as_object_mut);
    let Some(msg) = target else {
        messages.insert(
            at.min(messages.len()),
            json!({"role": "user", "content": [block]}),
        );
        return;
    };
    match msg.get_mut("content") {
        Some(Value::Array(blocks)) => {
            let results = blocks
                .iter()
                .take_while(|b| block_type(b) == Some("tool_result"))
                .count();
            blocks.insert(results, block);
        }
        // The API refuses empty text blocks, so an empty string is not kept as one.
        Some(Value::String(s)) if !s.is_empty() => {
            let first = json!({"type": "text", "text": std::mem::take(s)});
            msg.insert("content".into(), json!([first, block]));
        }
        _ => {
            msg.insert("content".into(), json!([block]));
        }
    }
}

fn read_message<'a>(out: &mut Entries<'a>, obj: &'a Map<String, Value>, i: usize) {
    let malformed = |why| Entry::new(Kind::Malformed(why), i, None, "message");
    let [role, content] = fields(obj, ["role", "content"]);
    let role = match role.and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => return out.push(malformed("`role` is not `user` or `assistant`")),
    };
    let message = |block| Entry::new(Kind::Message(role), i, block, "message");
    let blocks = match content {
        Some(Value::Array(blocks)) if !blocks.is_empty() => blocks,
        None | Some(Value::Null | Value::String(_) | Value::Array(_)) => {
            return out.push(message(None))
        }
        Some(_) => return out.push(malformed("`content` is neither a string nor an array")),
    };
    let start = out.len();
    let trace = Trace {
        thinking_first: matches!(
            blocks.first().and_then(block_type),
            Some("thinking" | "redacted_thinking")
        ),
        ..Trace::default()
    };
    if role == Role::Assistant {
        // Text beside tool_use blocks is written together with them; it never separates a call
        // from its result, so it goes first.
        if let Some(j) = blocks.iter().position(|b| {
            !matches!(
                block_type(b),
                Some("tool_use" | "server_tool_use" | "mcp_tool_use")
            ) && !block_type(b).is_some_and(server_result)
        }) {
            out.push(message(Some(j)));
        }
    }
    for (j, b) in blocks.iter().enumerate() {
        let bad = |why| Entry::new(Kind::Malformed(why), i, Some(j), "content block");
        let Some(block) = b.as_object() else {
            out.push(bad("content block is not a JSON object"));
            continue;
        };
        let (kind, key, label, family) = match (role, block_type(b)) {
            (Role::Assistant, Some("tool_use")) => (Kind::Call, "id", "tool_use", Family::Function),
            (Role::User, Some("tool_result")) => {
                (Kind::Output, "tool_use_id", "tool_result", Family::Function)
            }
            (Role::Assistant, Some(t @ ("server_tool_use" | "mcp_tool_use"))) => {
                let label = if t == "mcp_tool_use" {
                    "mcp_tool_use"
                } else {
                    "server_tool_use"
                };
                (Kind::Call, "id", label, Family::ServerTool)
            }
            (Role::Assistant, Some(t)) if server_result(t) => (
                Kind::Output,
                "tool_use_id",
                server_result_label(t),
                Family::ServerTool,
            ),
            (Role::Assistant, Some("tool_result")) => {
                out.push(bad("`tool_result` in an assistant message"));
                continue;
            }
            (Role::User, Some("tool_use")) => {
                out.push(bad("`tool_use` in a user message"));
                continue;
            }
            // Not understood, so never passed as clean.
            (_, None) => {
                out.push(bad("content block without a `type`"));
                continue;
            }
            (Role::Assistant, _) => continue,
            (Role::User, _) => {
                if out.len() == start || out.last().map(|e| e.kind()) != Some(Kind::Message(role)) {
                    out.push(message(Some(j)));
                }
                continue;
            }
        };
        // An aborted stream leaves the partial JSON text of the input as a string.
        let flaw = (kind == Kind::Call && family == Family::Function)
            .then(|| block.get("input"))
            .flatten()
            .filter(|input| !input.is_object())
            .map(|_| Flaw::InputNotObject);
        out.push(match call_id_field(block.get(key)) {
            Ok(id) => Entry::paired(kind, family, id, i, Some(j), label)
                .with_trace(trace)
                .with_flaw(flaw)
                .with_content(
                    (kind == Kind::Call)
                        .then(|| content::of_values(&[block.get("name"), block.get("input")])),
                ),
            Err(()) => Entry::new(
                Kind::Malformed("block id is not a string"),
                i,
                Some(j),
                label,
            ),
        });
    }
    super::reading::mark_blank_text(out, start, role, blocks, |b| {
        (block_type(b) == Some("text")).then(|| b.get("text").and_then(Value::as_str))?
    });
}

/// The label of a server tool result block, for diagnostics (the API names the block type).
fn server_result_label(t: &str) -> &'static str {
    const KNOWN: [&str; 7] = [
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_result",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == t)
        .unwrap_or("server tool result")
}

fn block_type(b: &Value) -> Option<&str> {
    b.get("type").and_then(Value::as_str)
}

/// How Anthropic messages hold blocks.
const SHAPE: Shape = Shape {
    field: "content",
    user: "user",
    // Consecutive messages of one role are one turn there: none is ever needed.
    model: None,
    results_only: false,
    is_result: |b| block_type(b) == Some("tool_result"),
    is_call: |b| block_type(b) == Some("tool_use"),
    text_block: Some(|text| json!({"type": "text", "text": text})),
    synthetic: |_, _, call_id, text| json!({"type": "tool_result", "tool_use_id": call_id, "content": text, "is_error": true}),
};
