//! OpenAI Responses `input` items, and Codex rollout lines whose payloads are such items.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{call_id_field, fields, Edits};
use crate::repair::Placed;
use crate::report::Change;
use crate::skeleton::{Adjacency, Entry, Family, Kind, Role, Skeleton};

/// Item types only the Responses API uses, for format detection.
pub(super) fn is_item_type(t: &str) -> bool {
    pairing(t).is_some()
        || matches!(
            t,
            "message"
                | "reasoning"
                | "web_search_call"
                | "image_generation_call"
                | "compaction"
                | "item_reference"
        )
}

/// Kind, family and wire label of a pairing item type.
fn pairing(t: &str) -> Option<(Kind, Family, &'static str)> {
    Some(match t {
        "function_call" => (Kind::Call, Family::Function, "function_call"),
        "local_shell_call" => (Kind::Call, Family::Function, "local_shell_call"),
        "custom_tool_call" => (Kind::Call, Family::Custom, "custom_tool_call"),
        "tool_search_call" => (Kind::Call, Family::ToolSearch, "tool_search_call"),
        "computer_call" => (Kind::Call, Family::Computer, "computer_call"),
        "function_call_output" => (Kind::Output, Family::Function, "function_call_output"),
        "custom_tool_call_output" => (Kind::Output, Family::Custom, "custom_tool_call_output"),
        "tool_search_output" => (Kind::Output, Family::ToolSearch, "tool_search_output"),
        "computer_call_output" => (Kind::Output, Family::Computer, "computer_call_output"),
        _ => return None,
    })
}

pub(super) fn read(items: &[Value], rollout: bool) -> Skeleton<'_> {
    let mut skel = Skeleton::new(Adjacency::NoMessageBetween);
    skel.items = items.len();
    skel.entries.reserve(items.len());
    for (i, item) in items.iter().enumerate() {
        let entry = if rollout {
            match rollout_payload(item) {
                Ok(Some(payload)) => entry(payload, i),
                Ok(None) => Entry::new(Kind::Other, i, None, "rollout line"),
                Err(why) => Entry::new(Kind::Malformed(why), i, None, "rollout line"),
            }
        } else {
            entry(item, i)
        };
        skel.entries.push(entry);
    }
    skel
}

/// The field that makes a request body continue a history stored server-side, if any: its calls
/// may then be answered by outputs in this body that the body cannot show the call of.
pub(super) fn server_history(body: &Value) -> Option<&'static str> {
    let obj = body.as_object()?;
    ["previous_response_id", "conversation"]
        .into_iter()
        .find(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
}

/// The Responses item of a rollout line, `None` for lines of other types.
pub(crate) fn rollout_payload(line: &Value) -> Result<Option<&Value>, &'static str> {
    let obj = line
        .as_object()
        .ok_or("rollout line is not a JSON object")?;
    match obj.get("type") {
        Some(Value::String(t)) if t == "response_item" => obj
            .get("payload")
            .map(Some)
            .ok_or("response_item without payload"),
        Some(Value::String(_)) => Ok(None),
        _ => Err("rollout line without a string `type`"),
    }
}

fn entry(item: &Value, i: usize) -> Entry<'_> {
    let malformed = |why| Entry::new(Kind::Malformed(why), i, None, "item");
    let Some(obj) = item.as_object() else {
        return malformed("item is not a JSON object");
    };
    let [ty, role, call_id, execution, id] =
        fields(obj, ["type", "role", "call_id", "execution", "id"]);
    let t = match ty {
        Some(Value::String(t)) => t.as_str(),
        None if role.is_some() => "message",
        // The API accepts an item reference without its `type`.
        None if id.is_some_and(Value::is_string) => "item_reference",
        None => return malformed("item has neither `type` nor `role`"),
        Some(_) => return malformed("item `type` is not a string"),
    };
    if t == "message" {
        return match role.and_then(Value::as_str) {
            Some("assistant") => Entry::new(Kind::Message(Role::Assistant), i, None, "message"),
            Some(_) => Entry::new(Kind::Message(Role::User), i, None, "message"),
            None => malformed("message without a string `role`"),
        };
    }
    if t == "item_reference" {
        return Entry::new(Kind::Reference, i, None, "item_reference");
    }
    let Some((kind, family, label)) = pairing(t) else {
        return Entry::new(Kind::Other, i, None, "item");
    };
    // Server-executed tool search pairs with nothing.
    if family == Family::ToolSearch && execution.and_then(Value::as_str) == Some("server") {
        return Entry::new(Kind::Other, i, None, label);
    }
    match call_id_field(call_id) {
        Ok(id) => Entry::paired(kind, family, id, i, None, label),
        Err(()) => Entry::new(Kind::Malformed("`call_id` is not a string"), i, None, label),
    }
}

/// A user message item holding `text`.
pub(super) fn user_message(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// The output item answering a call of this family.
pub(super) fn synthetic(family: Family, call_id: &str, text: &str) -> Value {
    match family {
        Family::Function => {
            json!({"type": "function_call_output", "call_id": call_id, "output": text})
        }
        Family::Custom => {
            json!({"type": "custom_tool_call_output", "call_id": call_id, "output": text})
        }
        Family::ToolSearch => json!({
            "type": "tool_search_output", "call_id": call_id, "execution": "client",
            "status": "incomplete", "tools": []
        }),
        // A computer call is answered by a screenshot; there is none to give, so the output says
        // so in the place a client would look for an error.
        Family::Computer => json!({
            "type": "computer_call_output", "call_id": call_id, "status": "incomplete",
            "output": {"type": "computer_screenshot", "image_url": ""},
            "acknowledged_safety_checks": [], "error": text
        }),
    }
}

pub(super) fn apply(items: &mut Vec<Value>, skel: &Skeleton, mut edits: Edits<'_>) -> Vec<Change> {
    let rollout = edits.format == super::Format::Rollout;
    let mut slots: Vec<Option<Value>> = std::mem::take(items).into_iter().map(Some).collect();
    let mut moved: HashMap<usize, Value> = HashMap::new();
    for i in 0..slots.len().min(skel.entries.len()) {
        if !edits.leaves(i) {
            continue;
        }
        if let Some(v) = slots[i].take() {
            if edits.moved.contains_key(&i) {
                moved.insert(i, v);
            } else {
                edits.record_removal(i, v);
            }
        }
    }
    let after = std::mem::take(&mut edits.after);
    let mut pending = after.into_iter().peekable();
    let mut out = Vec::with_capacity(slots.len() + edits.skel.entries.len() / 2);
    for (i, slot) in slots.into_iter().enumerate() {
        let Some((_, placed)) = pending.next_if(|(a, _)| *a == i) else {
            out.extend(slot);
            continue;
        };
        // A synthetic rollout line takes the time of the line it follows.
        let timestamp = rollout
            .then(|| slot.as_ref().and_then(|v| v.get("timestamp")).cloned())
            .flatten();
        out.extend(slot);
        for p in placed {
            let synthetic = matches!(p, Placed::Synthetic { .. });
            if let Some(v) = edits.materialize(p, &mut |e| moved.remove(&e)) {
                out.push(if rollout && synthetic {
                    json!({"timestamp": timestamp, "type": "response_item", "payload": v})
                } else {
                    v
                });
            }
        }
    }
    *items = out;
    edits.changes
}
