//! Anthropic Messages `messages`: assistant `tool_use` blocks, answered by `tool_result` blocks
//! opening the next user message.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::{call_id_field, fields, Edits};
use crate::report::Change;
use crate::skeleton::{Adjacency, CallIdRule, Entry, Family, Kind, Role, Skeleton};

/// What tool ids the Messages API accepts.
const CALL_IDS: CallIdRule = CallIdRule {
    max_len: None,
    word_chars_only: true,
    prefix: "toolu_",
};

pub(super) fn read(messages: &[Value]) -> Skeleton<'_> {
    let mut skel = super::read_messages(messages, Adjacency::NextMessageHead, read_message);
    skel.call_ids = CALL_IDS;
    skel
}

/// Whether a block type is a server tool's call or result, which only Anthropic bodies hold.
pub(super) fn is_server_tool_block(t: &str) -> bool {
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
pub(super) fn append_text(messages: &mut Vec<Value>, at: usize, text: &str) {
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

fn read_message<'a>(out: &mut Vec<Entry<'a>>, obj: &'a Map<String, Value>, i: usize) {
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
                if out.len() == start || out.last().map(|e| e.kind) != Some(Kind::Message(role)) {
                    out.push(message(Some(j)));
                }
                continue;
            }
        };
        out.push(match call_id_field(block.get(key)) {
            Ok(id) => Entry::paired(kind, family, id, i, Some(j), label),
            Err(()) => Entry::new(
                Kind::Malformed("block id is not a string"),
                i,
                Some(j),
                label,
            ),
        });
    }
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

pub(super) fn synthetic(call_id: &str, text: &str) -> Value {
    json!({"type": "tool_result", "tool_use_id": call_id, "content": text, "is_error": true})
}

/// Where an inserted block goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// First in this user message.
    Head(usize),
    /// Right after this block of this message.
    AfterBlock(usize, usize),
    /// In a new user message right after this message.
    NewAfter(usize),
}

pub(super) fn apply(
    messages: &mut Vec<Value>,
    skel: &Skeleton,
    mut edits: Edits<'_>,
) -> Vec<Change> {
    let mut slots: Vec<Option<Value>> = std::mem::take(messages).into_iter().map(Some).collect();
    let mut moved: HashMap<usize, Value> = HashMap::new();
    let mut dead: BTreeMap<usize, HashSet<usize>> = BTreeMap::new();
    for (e, entry) in skel.entries.iter().enumerate() {
        let Some(b) = entry.block.filter(|_| edits.leaves(e)) else {
            continue;
        };
        let Some(block) = content_mut(&mut slots[entry.index]).and_then(|c| c.get_mut(b)) else {
            continue;
        };
        let v = block.take();
        dead.entry(entry.index).or_default().insert(b);
        if edits.moved.contains_key(&e) {
            moved.insert(e, v);
        } else {
            edits.record_removal(e, v);
        }
    }

    let mut placed: HashMap<Target, Vec<Value>> = HashMap::new();
    for (anchor, list) in std::mem::take(&mut edits.after) {
        let a = &skel.entries[anchor];
        let target = match (a.kind, a.block) {
            (Kind::Output, Some(b)) => Target::AfterBlock(a.index, b),
            _ if opens_with_user(slots.get(a.index + 1)) => Target::Head(a.index + 1),
            _ => Target::NewAfter(a.index),
        };
        for p in list {
            if let Some(v) = edits.materialize(p, &mut |e| moved.remove(&e)) {
                placed.entry(target).or_default().push(v);
            }
        }
    }

    let mut touched: HashSet<usize> = dead.keys().copied().collect();
    for t in placed.keys() {
        match *t {
            Target::Head(i) | Target::AfterBlock(i, _) => touched.insert(i),
            Target::NewAfter(_) => false,
        };
    }
    let mut out = Vec::with_capacity(slots.len() + 1);
    for (i, slot) in slots.into_iter().enumerate() {
        let mut slot = slot;
        if touched.contains(&i) {
            slot = rebuild(slot, i, dead.get(&i), &mut placed);
        }
        if let Some(v) = slot {
            out.push(v);
        }
        if let Some(blocks) = placed.remove(&Target::NewAfter(i)) {
            out.push(json!({"role": "user", "content": blocks}));
        }
    }
    *messages = out;
    edits.changes
}

fn opens_with_user(m: Option<&Option<Value>>) -> bool {
    let Some(Some(Value::Object(m))) = m else {
        return false;
    };
    m.get("role").and_then(Value::as_str) == Some("user")
        && matches!(
            m.get("content"),
            None | Some(Value::Null | Value::String(_) | Value::Array(_))
        )
}

fn content_mut(slot: &mut Option<Value>) -> Option<&mut Vec<Value>> {
    slot.as_mut()?.get_mut("content")?.as_array_mut()
}

/// Rebuilds message `i`'s content: placed blocks first, then the survivors with blocks placed
/// after them. A message left with no content only carried what was removed, so it goes too.
fn rebuild(
    slot: Option<Value>,
    i: usize,
    dead: Option<&HashSet<usize>>,
    placed: &mut HashMap<Target, Vec<Value>>,
) -> Option<Value> {
    let Some(Value::Object(mut msg)) = slot else {
        return slot;
    };
    let old = match msg.get_mut("content").map(Value::take) {
        Some(Value::Array(blocks)) => blocks,
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        _ => Vec::new(),
    };
    let had_content = !old.is_empty();
    let mut content = placed.remove(&Target::Head(i)).unwrap_or_default();
    for (b, block) in old.into_iter().enumerate() {
        if !dead.is_some_and(|d| d.contains(&b)) {
            content.push(block);
        }
        if let Some(more) = placed.remove(&Target::AfterBlock(i, b)) {
            content.extend(more);
        }
    }
    if content.is_empty() && had_content {
        return None;
    }
    match msg.get_mut("content") {
        Some(slot) => *slot = Value::Array(content),
        None => {
            msg.insert("content".into(), Value::Array(content));
        }
    }
    Some(Value::Object(msg))
}
