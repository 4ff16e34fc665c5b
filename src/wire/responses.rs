//! OpenAI Responses `input` items.

use std::collections::HashMap;

use serde_json::{json, Value};

use std::borrow::Cow;

use super::{call_id_field, fields, Edits};
use crate::report::Change;
use crate::skeleton::{Adjacency, CallIdRule, Entry, Family, Kind, Role, Skeleton};

/// Item types only the Responses API uses, for format detection.
pub(super) fn is_item_type(t: &str) -> bool {
    pairing(t).is_some()
        || server_executed(t).is_some()
        || matches!(t, "message" | "reasoning" | "item_reference")
}

/// Kind, family, wire label and call-id field of a pairing item type (the table in
/// `DESIGN.md`, "Pairing families").
fn pairing(t: &str) -> Option<(Kind, Family, &'static str, &'static str)> {
    use Family::*;
    use Kind::{Call, Output};
    Some(match t {
        "function_call" => (Call, Function, "function_call", "call_id"),
        // Keyed by `call_id`, not by its item `id`.
        "local_shell_call" => (Call, Function, "local_shell_call", "call_id"),
        "custom_tool_call" => (Call, Custom, "custom_tool_call", "call_id"),
        "tool_search_call" => (Call, ToolSearch, "tool_search_call", "call_id"),
        "computer_call" => (Call, Computer, "computer_call", "call_id"),
        "shell_call" => (Call, Shell, "shell_call", "call_id"),
        "apply_patch_call" => (Call, ApplyPatch, "apply_patch_call", "call_id"),
        "mcp_approval_request" => (Call, McpApproval, "mcp_approval_request", "id"),
        "program" => (Call, Program, "program", "call_id"),
        "function_call_output" => (Output, Function, "function_call_output", "call_id"),
        // Its `id` is the local shell call's `call_id`.
        "local_shell_call_output" => (Output, Function, "local_shell_call_output", "id"),
        "custom_tool_call_output" => (Output, Custom, "custom_tool_call_output", "call_id"),
        "tool_search_output" => (Output, ToolSearch, "tool_search_output", "call_id"),
        "computer_call_output" => (Output, Computer, "computer_call_output", "call_id"),
        "shell_call_output" => (Output, Shell, "shell_call_output", "call_id"),
        "apply_patch_call_output" => (Output, ApplyPatch, "apply_patch_call_output", "call_id"),
        "mcp_approval_response" => (
            Output,
            McpApproval,
            "mcp_approval_response",
            "approval_request_id",
        ),
        "program_output" => (Output, Program, "program_output", "call_id"),
        _ => return None,
    })
}

/// Item types the server executes itself: they pair with nothing.
fn server_executed(t: &str) -> Option<&'static str> {
    Some(match t {
        "web_search_call" => "web_search_call",
        "file_search_call" => "file_search_call",
        "image_generation_call" => "image_generation_call",
        "code_interpreter_call" => "code_interpreter_call",
        "mcp_call" => "mcp_call",
        "mcp_list_tools" => "mcp_list_tools",
        "compaction" => "compaction",
        _ => return None,
    })
}

/// What call ids the Responses API accepts.
pub(super) const CALL_IDS: CallIdRule = CallIdRule {
    max_len: Some(64),
    word_chars_only: false,
    prefix: "call_",
};

pub(super) fn read(items: &[Value]) -> Skeleton<'_> {
    let mut skel = Skeleton::new(Adjacency::NoMessageBetween);
    skel.call_ids = CALL_IDS;
    skel.items = items.len();
    skel.entries.reserve(items.len());
    for (i, item) in items.iter().enumerate() {
        skel.entries.push(entry(item, i));
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

pub(super) fn entry(item: &Value, i: usize) -> Entry<'_> {
    let malformed = |why| Entry::new(Kind::Malformed(why), i, None, "item");
    let Some(obj) = item.as_object() else {
        return malformed("item is not a JSON object");
    };
    let [ty, role, call_id, execution, id, approval] = fields(
        obj,
        [
            "type",
            "role",
            "call_id",
            "execution",
            "id",
            "approval_request_id",
        ],
    );
    let item_id = match id {
        Some(Value::String(s)) => Some(Cow::Borrowed(s.as_str())),
        _ => None,
    };
    let t = match ty {
        Some(Value::String(t)) => t.as_str(),
        None if role.is_some() => "message",
        // The API accepts an item reference without its `type`.
        None if item_id.is_some() => "item_reference",
        None => return malformed("item has neither `type` nor `role`"),
        Some(_) => return malformed("item `type` is not a string"),
    };
    if t == "message" {
        let entry = match role.and_then(Value::as_str) {
            Some("assistant") => Entry::new(Kind::Message(Role::Assistant), i, None, "message"),
            Some(_) => Entry::new(Kind::Message(Role::User), i, None, "message"),
            None => return malformed("message without a string `role`"),
        };
        return entry.with_item_id(item_id);
    }
    if t == "item_reference" {
        return Entry::new(Kind::Reference, i, None, "item_reference").with_item_id(item_id);
    }
    if t == "reasoning" {
        return Entry::new(Kind::Reasoning, i, None, "reasoning").with_item_id(item_id);
    }
    let Some((kind, family, label, key)) = pairing(t) else {
        let label = server_executed(t).unwrap_or("item");
        return Entry::new(Kind::Other, i, None, label).with_item_id(item_id);
    };
    // Server-executed tool search pairs with nothing.
    if family == Family::ToolSearch && execution.and_then(Value::as_str) == Some("server") {
        return Entry::new(Kind::Other, i, None, label).with_item_id(item_id);
    }
    let id_field = match key {
        "call_id" => call_id,
        "id" => id,
        _ => approval,
    };
    // An `id` that is the call id (local shell output, MCP approval request) counts as a call id.
    let item_id = item_id.filter(|_| key != "id");
    match call_id_field(id_field) {
        Ok(cid) => Entry::paired(kind, family, cid, i, None, label).with_item_id(item_id),
        Err(()) => Entry::new(
            Kind::Malformed("the call id is not a string"),
            i,
            None,
            label,
        ),
    }
}

/// A user message item holding `text`.
pub(super) fn user_message(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// The output item answering a call of this family.
pub(super) fn synthetic(family: Family, call_id: &str, text: &str) -> Value {
    match family {
        Family::Function | Family::ServerTool => {
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
        Family::Shell => json!({
            "type": "shell_call_output", "call_id": call_id, "status": "incomplete",
            "output": [{"stdout": "", "stderr": text, "outcome": {"type": "exit", "exit_code": 1}}]
        }),
        Family::ApplyPatch => json!({
            "type": "apply_patch_call_output", "call_id": call_id, "status": "failed",
            "output": text
        }),
        // An unanswered approval request is declined, with the reason.
        Family::McpApproval => json!({
            "type": "mcp_approval_response", "approval_request_id": call_id,
            "approve": false, "reason": text
        }),
        Family::Program => {
            json!({"type": "program_output", "call_id": call_id, "output": text})
        }
    }
}

/// The field holding the call id of an item with this label.
pub(super) fn call_id_key(label: &str) -> &'static str {
    match label {
        "local_shell_call_output" | "mcp_approval_request" => "id",
        "mcp_approval_response" => "approval_request_id",
        _ => "call_id",
    }
}

pub(super) fn apply(items: &mut Vec<Value>, skel: &Skeleton, mut edits: Edits<'_>) -> Vec<Change> {
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
        out.extend(slot);
        let Some((_, placed)) = pending.next_if(|(a, _)| *a == i) else {
            continue;
        };
        for p in placed {
            out.extend(edits.materialize(p, &mut |e| moved.remove(&e)));
        }
    }
    *items = out;
    edits.changes
}
