//! OpenAI Responses `input` items.

use serde_json::{json, Map, Value};

use super::adapter::{Adapter, Edits};
use super::items::ItemOps;
use super::text::{entry_of, pairing, server_executed, ItemView};
use crate::change::Change;
use crate::escape::escape_id;
use crate::format::Format;
use crate::rules::{Rule, Violation};
use crate::skeleton::{Adjacency, CallIdRule, Entries, Entry, Family, IdChars, Skeleton};

/// The Responses adapter.
pub(super) struct Responses;

impl Adapter for Responses {
    fn format(&self) -> Format {
        Format::Responses
    }

    fn list_key(&self) -> Option<&'static str> {
        Some("input")
    }

    fn text_history(&self) -> bool {
        true
    }

    fn claims_body(&self, body: &Map<String, Value>) -> Option<&'static str> {
        body.contains_key("input")
            .then_some("request body has `input`")
    }

    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str> {
        if item
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(is_item_type)
        {
            return Some("Responses item types");
        }
        let parts = item.get("content")?.as_array()?;
        parts
            .iter()
            .any(|p| {
                matches!(
                    p.get("type").and_then(Value::as_str),
                    Some("input_text" | "output_text")
                )
            })
            .then_some("Responses content parts")
    }

    fn read<'a>(&self, items: &'a [Value]) -> Skeleton<'a> {
        read(items)
    }

    fn read_body(&self, body: &Value, skel: &mut Skeleton<'_>) {
        skel.server_history = server_history(body);
        skel.unstored = body.get("store").and_then(Value::as_bool) == Some(false);
    }

    fn flat(&self) -> bool {
        true
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Value {
        synthetic(family, call_id, text)
    }

    fn object_of<'v>(&self, item: &'v mut Value, _e: &Entry) -> Option<&'v mut Map<String, Value>> {
        // An item is never split into blocks; a rollout hands over replacement-history items
        // whose entries count their place in that history, not a block of the item.
        item.as_object_mut()
    }

    fn block_field(&self) -> &'static str {
        "content"
    }

    fn call_id_key(&self, e: &Entry) -> &'static str {
        call_id_key(e.label)
    }

    fn rebuild(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        super::items::rebuild(items, edits, self)
    }

    fn place_note(
        &self,
        items: &mut Vec<Value>,
        _call_item: usize,
        after_run: usize,
        note: &str,
    ) -> bool {
        items.insert(after_run, user_message(note));
        true
    }

    fn api_error(&self, v: &Violation) -> Option<String> {
        api_error(v, &|i| self.location(i, None))
    }
}

impl ItemOps<Value> for Responses {
    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Option<Value> {
        Some(synthetic(family, call_id, text))
    }

    fn json(&self, item: &Value) -> Value {
        item.clone()
    }
}

/// The Responses API's refusal of a violation; `at` locates an item (rollouts name lines).
pub(super) fn api_error(v: &Violation, at: &dyn Fn(usize) -> String) -> Option<String> {
    let id = escape_id(v.call_id.as_deref().unwrap_or(""));
    let item = escape_id(v.item_id.as_deref().unwrap_or(""));
    let words = v.label.trim_end_matches("_output").replace('_', " ");
    Some(match v.rule {
        Rule::MissingOutput => format!("No tool output found for {words} {id}."),
        // Raised only for DeepSeek, which pairs by position (deepseek-ai/DeepSeek-V3#1588).
        Rule::InterleavedMessage => format!("No tool output found for tool call {id}."),
        Rule::OrphanOutput | Rule::KindMismatch | Rule::OutputBeforeCall => {
            let words = v.label.replace('_', " ");
            format!("No tool call found for {words} with call_id {id}.")
        }
        Rule::DuplicateCall | Rule::DuplicateOutput => {
            format!("Duplicate item found with id {id}.")
        }
        Rule::EmptyCallId => super::reading::empty_id_error(&at(v.index), "call_id", v),
        Rule::ReasoningWithoutFollowing => format!(
            "Item '{item}' of type 'reasoning' was provided without its required following item."
        ),
        Rule::MissingReasoning => format!(
            "Item '{item}' of type '{}' was provided without its required 'reasoning' item: 'rs_…'.",
            v.label
        ),
        Rule::DuplicateItemId => format!(
            "Duplicate item found with id {item}. Remove duplicate items from your input and try again."
        ),
        Rule::InvalidItemId if item.is_empty() => format!(
            "Invalid '{}.id': ''. Expected an ID that contains letters, numbers, underscores, or dashes.",
            at(v.index)
        ),
        Rule::InvalidItemId => format!(
            "Invalid '{}.id': '{item}'. Expected an ID that begins with '{}'.",
            at(v.index),
            match v.label {
                "function_call" => "fc",
                "message" => "msg",
                _ => "rs",
            }
        ),
        Rule::InvalidOutputShape => format!(
            "Invalid type for '{}.output': expected a computer call output, but got a string instead.",
            at(v.index)
        ),
        Rule::UnpersistedItem => format!(
            "Item with id '{item}' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input."
        ),
        Rule::CallIdTooLong => format!(
            "Invalid '{}.call_id': string too long. Expected a string with maximum length 64, but got a string with length {} instead.",
            at(v.index),
            v.call_id.as_deref().map_or(0, |s| s.chars().count())
        ),
        _ => return None,
    })
}

/// Item types only the Responses API uses, for format detection.
pub(super) fn is_item_type(t: &str) -> bool {
    pairing(t).is_some()
        || server_executed(t).is_some()
        || matches!(t, "message" | "reasoning" | "item_reference")
}

/// What call ids the Responses API accepts.
pub(super) const CALL_IDS: CallIdRule = CallIdRule {
    max_len: Some(64),
    exact_len: None,
    chars: IdChars::Any,
    prefix: "call_",
};

/// A skeleton of entries read one per item.
pub(super) fn read_entries(entries: Entries<'_>) -> Skeleton<'_> {
    let mut skel = Skeleton::new(Format::Responses, Adjacency::AfterCall);
    skel.call_ids = CALL_IDS;
    skel.items = entries.len();
    skel.entries = entries;
    skel
}

pub(super) fn read(items: &[Value]) -> Skeleton<'_> {
    let mut skel = Skeleton::new(Format::Responses, Adjacency::AfterCall);
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
    entry_of(ItemView::of(item), i)
}

/// A user message item holding `text`.
pub(super) fn user_message(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// How a synthetic `program_output` is given its own id.
const PROGRAM_OUTPUT_IDS: CallIdRule = CallIdRule {
    prefix: "po_",
    ..CallIdRule::ANY
};

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
        // A computer call is answered by a screenshot and there is none to give. The item has no
        // field for a reason (an unknown one is refused), so `incomplete` is all it can say.
        Family::Computer => json!({
            "type": "computer_call_output", "call_id": call_id, "status": "incomplete",
            "output": {"type": "computer_screenshot", "image_url": ""},
            "acknowledged_safety_checks": []
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
        // The item requires its own `id`, `result` and `status`; the id is derived from the call's
        // so that replaying the repair on a stored history makes the same item.
        Family::Program => json!({
            "type": "program_output", "id": PROGRAM_OUTPUT_IDS.replacement(call_id),
            "call_id": call_id, "result": text, "status": "incomplete"
        }),
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
