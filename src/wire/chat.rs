//! OpenAI Chat Completions `messages`: assistant `tool_calls`, answered by `role: "tool"` messages.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::{call_id_field, fields, Adapter, Edits};
use crate::change::Change;
use crate::escape::escape_id;
use crate::format::Format;
use crate::profile::BYPASS_SIGNATURE;
use crate::rules::{Rule, Violation};
use crate::skeleton::{Adjacency, Entry, Family, Kind, Role, Skeleton, Trace};

/// The Chat Completions adapter.
pub(super) struct Chat;

impl Adapter for Chat {
    fn format(&self) -> Format {
        Format::Chat
    }

    fn list_key(&self) -> Option<&'static str> {
        Some("messages")
    }

    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str> {
        (item.contains_key("tool_calls")
            || item.get("role").and_then(Value::as_str) == Some("tool"))
        .then_some("`tool_calls` / `role: tool` messages")
    }

    fn read<'a>(&self, messages: &'a [Value]) -> Skeleton<'a> {
        super::read_messages(messages, Adjacency::FollowingRun, read_message)
    }

    fn synthetic(&self, _family: Family, call_id: &str, text: &str) -> Value {
        json!({"role": "tool", "tool_call_id": call_id, "content": text})
    }

    fn block_field(&self) -> &'static str {
        "tool_calls"
    }

    fn sign(&self, item: &mut Value, e: &Entry) -> Option<&'static str> {
        let call = item
            .get_mut("tool_calls")?
            .get_mut(e.block?)?
            .as_object_mut()?;
        let mut at = call;
        for key in ["extra_content", "google"] {
            let next = at.entry(key).or_insert_with(|| json!({}));
            if !next.is_object() {
                // Never overwrite what the client put there.
                return None;
            }
            at = next.as_object_mut()?;
        }
        at.insert("thought_signature".into(), BYPASS_SIGNATURE.into());
        Some("extra_content.google.thought_signature")
    }

    fn call_id_key(&self, e: &Entry) -> &'static str {
        if e.kind == Kind::Call {
            "id"
        } else {
            "tool_call_id"
        }
    }

    fn rebuild(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        rebuild(items, edits)
    }

    fn place_note(
        &self,
        items: &mut Vec<Value>,
        _call_item: usize,
        after_run: usize,
        note: &str,
    ) -> bool {
        items.insert(after_run, json!({"role": "user", "content": note}));
        true
    }

    fn api_error(&self, v: &Violation) -> Option<String> {
        let id = escape_id(v.call_id.as_deref().unwrap_or(""));
        let path = self.location(v.index, v.block);
        Some(match v.rule {
            Rule::MissingOutput | Rule::InterleavedMessage => format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {id}"
            ),
            Rule::OrphanOutput | Rule::OutputBeforeCall => "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".to_owned(),
            Rule::DuplicateOutput => format!(
                "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."
            ),
            Rule::EmptyCallId if v.on_call => super::empty_id_error(&path, "id", v),
            Rule::EmptyCallId => super::empty_id_error(&path, "tool_call_id", v),
            Rule::MissingReasoningContent => format!(
                "Missing `reasoning_content` field in the assistant message at message index {}. For more information, please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls",
                v.index
            ),
            // Only the Mistral profile refuses a Chat call id's characters or length.
            Rule::InvalidCallId => format!(
                "Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."
            ),
            Rule::MissingThoughtSignature => super::gemini::missing_signature_error(),
            Rule::EmptyToolCalls => format!(
                "Invalid 'messages[{}].tool_calls': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                v.index
            ),
            _ => return None,
        })
    }
}

fn read_message<'a>(out: &mut Vec<Entry<'a>>, obj: &'a Map<String, Value>, i: usize) {
    let malformed = |why| Entry::new(Kind::Malformed(why), i, None, "message");
    let [role, tool_call_id, tool_calls, content, reasoning] = fields(
        obj,
        [
            "role",
            "tool_call_id",
            "tool_calls",
            "content",
            "reasoning_content",
        ],
    );
    let Some(role) = role.and_then(Value::as_str) else {
        return out.push(malformed("message without a string `role`"));
    };
    match role {
        "tool" => out.push(match call_id_field(tool_call_id) {
            Ok(id) => Entry::paired(Kind::Output, Family::Function, id, i, None, "tool"),
            Err(()) => malformed("`tool_call_id` is not a string"),
        }),
        "assistant" => {
            let calls = match tool_calls {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(calls)) => calls.as_slice(),
                Some(_) => return out.push(malformed("`tool_calls` is not an array")),
            };
            if calls.is_empty() || has_content(content) {
                out.push(Entry::new(
                    Kind::Message(Role::Assistant),
                    i,
                    None,
                    "assistant",
                ));
            }
            if calls.is_empty() && matches!(tool_calls, Some(Value::Array(_))) {
                out.push(Entry::new(Kind::EmptyCallList, i, None, "tool_calls"));
            }
            for (j, call) in calls.iter().enumerate() {
                // A custom tool call (`type: custom`) names its tool in `custom`.
                let holder = match call.get("type").and_then(Value::as_str) {
                    Some("custom") => "custom",
                    _ => "function",
                };
                let named = call
                    .get(holder)
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                out.push(match call.as_object().map(|c| call_id_field(c.get("id"))) {
                    Some(Ok(id)) => {
                        Entry::paired(Kind::Call, Family::Function, id, i, Some(j), "tool_calls")
                            .with_trace(Trace {
                                reasoning: reasoning.is_some_and(Value::is_string),
                                signature: signature(call).is_some_and(|s| !s.is_empty()),
                                ..Trace::default()
                            })
                    }
                    Some(Err(())) => Entry::new(
                        Kind::Malformed("tool call `id` is not a string"),
                        i,
                        Some(j),
                        "tool_calls",
                    ),
                    None => Entry::new(
                        Kind::Malformed("tool call is not a JSON object"),
                        i,
                        Some(j),
                        "tool_calls",
                    ),
                });
                // The call still pairs with its output; only its name is broken.
                if call.is_object() && !named {
                    out.push(Entry::new(
                        Kind::Malformed("tool call with an empty or missing tool name"),
                        i,
                        Some(j),
                        "tool_calls",
                    ));
                }
            }
        }
        // Legacy `function` messages pair by name, not id: nothing to check.
        "function" => out.push(Entry::new(Kind::Other, i, None, "function")),
        _ => out.push(Entry::new(Kind::Message(Role::User), i, None, "message")),
    }
}

/// The thought signature Gemini's OpenAI-compatible endpoint puts on a tool call.
fn signature(call: &Value) -> Option<&str> {
    call.get("extra_content")?
        .get("google")?
        .get("thought_signature")?
        .as_str()
}

fn has_content(content: Option<&Value>) -> bool {
    match content {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(parts)) => !parts.is_empty(),
        Some(_) => true,
    }
}

fn rebuild(messages: &mut Vec<Value>, mut edits: Edits<'_>) -> Vec<Change> {
    let skel = edits.skel;
    let mut slots: Vec<Option<Value>> = std::mem::take(messages).into_iter().map(Some).collect();
    let mut moved: HashMap<usize, Value> = HashMap::new();
    // Duplicate calls to drop, per assistant message.
    let mut dropped_calls: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (e, entry) in skel.entries.iter().enumerate() {
        if !edits.leaves(e) {
            continue;
        }
        match entry.block {
            Some(j) => dropped_calls.entry(entry.index).or_default().push((j, e)),
            None if edits.moved.contains_key(&e) => {
                if let Some(v) = slots[entry.index].take() {
                    moved.insert(e, v);
                }
            }
            None => {
                if let Some(v) = slots[entry.index].take() {
                    edits.record_removal(e, v);
                }
            }
        }
    }
    for (i, drops) in dropped_calls {
        let Some(msg) = slots[i].as_mut().and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(Value::Array(calls)) = msg.get_mut("tool_calls") {
            let mut taken: Vec<Option<Value>> =
                std::mem::take(calls).into_iter().map(Some).collect();
            for &(j, e) in &drops {
                if let Some(v) = taken.get_mut(j).and_then(Option::take) {
                    edits.record_removal(e, v);
                }
            }
            *calls = taken.into_iter().flatten().collect();
            if calls.is_empty() {
                // `retain` keeps the other keys in their order where maps preserve order.
                msg.retain(|k, _| k != "tool_calls");
                // An assistant message that only carried the dropped calls has nothing left to say.
                if !has_content(msg.get("content")) {
                    slots[i] = None;
                }
            }
        }
    }
    let after = std::mem::take(&mut edits.after);
    let mut pending = after.into_iter().peekable();
    let mut out = Vec::with_capacity(slots.len() + skel.entries.len() / 2);
    for (i, slot) in slots.into_iter().enumerate() {
        if let Some(v) = slot {
            out.push(v);
        }
        while let Some((_, placed)) = pending.next_if(|(a, _)| skel.entries[*a].index == i) {
            for p in placed {
                if let Some(v) = edits.materialize(p, &mut |e| moved.remove(&e)) {
                    out.push(v);
                }
            }
        }
    }
    *messages = out;
    edits.changes
}
