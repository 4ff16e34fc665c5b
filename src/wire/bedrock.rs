//! AWS Bedrock Converse `messages`: assistant `toolUse` blocks, answered by `toolResult` blocks
//! that fill the next user message. Blocks carry no `type`: a block is named by its one field.

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
};

/// The Bedrock Converse adapter.
pub(super) struct Bedrock;

/// What tool use ids Converse accepts: `[a-zA-Z0-9_-]+`, 1 to 64 characters.
const CALL_IDS: CallIdRule = CallIdRule {
    max_len: Some(64),
    exact_len: None,
    chars: IdChars::Word,
    prefix: "tooluse_",
};

/// The fields that name a content block, in a message or a system prompt.
const BLOCKS: [&str; 12] = [
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
];

/// What an error result with nothing in it is given: all it says is that the tool failed.
const NO_DETAILS: &str = "the tool failed and returned no details";

const SHAPE: Shape = Shape {
    field: "content",
    user: "user",
    model: Some("assistant"),
    results_only: true,
    is_result: |b| b.get("toolResult").is_some(),
    is_call: |b| b.get("toolUse").is_some(),
    text_block: None,
    synthetic: |_, _, call_id, text| json!({"toolResult": {"toolUseId": call_id, "content": [{"text": text}], "status": "error"}}),
};

/// The field naming a block, when it is one Converse knows and the block has no `type`.
fn block_kind(b: &Map<String, Value>) -> Option<&'static str> {
    if b.contains_key("type") {
        return None;
    }
    BLOCKS.into_iter().find(|k| b.contains_key(*k))
}

impl Adapter for Bedrock {
    fn format(&self) -> Format {
        Format::Bedrock
    }

    fn list_key(&self) -> Option<&'static str> {
        Some("messages")
    }

    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str> {
        let blocks = item.get("content")?.as_array()?;
        let kinds = || blocks.iter().filter_map(|b| block_kind(b.as_object()?));
        if kinds().any(|k| k == "toolUse" || k == "toolResult") {
            return Some("Bedrock `toolUse` / `toolResult` blocks");
        }
        kinds()
            .next()
            .map(|_| "content blocks named by their field, without `type` (Bedrock Converse)")
    }

    fn read_body(&self, body: &Value, skel: &mut Skeleton<'_>) {
        skel.tools_undefined = super::reading::no_list(body, "toolConfig");
    }

    fn reshape(&self, item: &mut Value, e: &Entry) -> Option<&'static str> {
        let result = item
            .get_mut(SHAPE.field)?
            .get_mut(e.block()?)?
            .get_mut("toolResult")?
            .as_object_mut()?;
        result.insert("content".into(), json!([{ "text": NO_DETAILS }]));
        Some("content")
    }

    fn hints_body(&self, body: &Map<String, Value>) -> Option<&'static str> {
        [
            "toolConfig",
            "inferenceConfig",
            "additionalModelRequestFields",
        ]
        .into_iter()
        .any(|k| body.contains_key(k))
        .then_some("Bedrock Converse request fields")
    }

    fn read<'a>(&self, messages: &'a [Value]) -> Skeleton<'a> {
        let mut skel = super::reading::read_messages(
            messages,
            Format::Bedrock,
            Adjacency::NextMessageOnly,
            read_message,
        );
        skel.call_ids = CALL_IDS;
        skel.alternating_roles = true;
        // kibana#246393: "A conversation must start with a user message."
        skel.user_first = true;
        skel
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Value {
        (SHAPE.synthetic)(None, family, call_id, text)
    }

    fn object_of<'v>(&self, item: &'v mut Value, e: &Entry) -> Option<&'v mut Map<String, Value>> {
        let block = item.get_mut(SHAPE.field)?.get_mut(e.block()?)?;
        let key = if e.kind == Kind::Call {
            "toolUse"
        } else {
            "toolResult"
        };
        block.get_mut(key)?.as_object_mut()
    }

    fn block_field(&self) -> &'static str {
        SHAPE.field
    }

    fn call_id_key(&self, _e: &Entry) -> &'static str {
        "toolUseId"
    }

    fn rebuild(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        blocks::rebuild(&SHAPE, items, edits)
    }

    fn place_note(
        &self,
        items: &mut Vec<Value>,
        _call_item: usize,
        after_run: usize,
        note: &str,
    ) -> bool {
        // Roles must alternate, so the note can only open the user's next message.
        let Some(blocks) = items
            .get_mut(after_run)
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get_mut("content"))
            .and_then(Value::as_array_mut)
        else {
            return false;
        };
        blocks.insert(0, json!({"text": note}));
        true
    }

    fn api_error(&self, v: &Violation) -> Option<String> {
        let id = escape_id(v.call_id.as_deref().unwrap_or(""));
        let i = v.index;
        let expected = |call: usize| {
            format!(
                "Expected toolResult blocks at messages.{}.content for the following Ids: {id}",
                call + 1
            )
        };
        Some(match v.rule {
            Rule::MissingOutput => expected(i),
            Rule::InterleavedMessage | Rule::SplitResults => expected(v.call_index?),
            Rule::OrphanOutput | Rule::DuplicateOutput | Rule::OutputBeforeCall | Rule::KindMismatch => format!(
                "The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse blocks of previous turn."
            ),
            Rule::MixedResultTurn => format!(
                "messages.{i}.content: Conversation blocks and tool result blocks cannot be provided in the same turn."
            ),
            Rule::BlankTextBlock => "messages: text content blocks must contain non-whitespace text".to_owned(),
            Rule::ToolsUndefined => "The toolConfig field must be defined when using toolUse and toolResult content blocks.".to_owned(),
            Rule::OpensWithModel => "A conversation must start with a user message. Try again with a conversation that starts with a user message.".to_owned(),
            Rule::RolesNotAlternating => "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".to_owned(),
            Rule::InvalidOutputShape => format!(
                "The content field at messages.{i}.content.{}.toolResult cannot be empty when status value is error.",
                v.block.unwrap_or(0)
            ),
            _ => return None,
        })
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
    let Some(Value::Array(blocks)) = content else {
        return out.push(malformed("`content` is not an array of blocks"));
    };
    let message = |block| Entry::new(Kind::Message(role), i, block, "message");
    let start = out.len();
    let kinds: Vec<Option<&str>> = blocks
        .iter()
        .map(|b| b.as_object().and_then(block_kind))
        .collect();
    if role == Role::Assistant {
        // Text beside toolUse blocks is written with them; it goes first.
        if let Some(j) = kinds
            .iter()
            .position(|k| k.is_some_and(|k| !matches!(k, "toolUse" | "cachePoint")))
        {
            out.push(message(Some(j)));
        }
    }
    for (j, (b, kind)) in blocks.iter().zip(&kinds).enumerate() {
        let bad = |why| Entry::new(Kind::Malformed(why), i, Some(j), "content block");
        let Some(kind) = kind else {
            out.push(bad("content block Bedrock Converse does not have"));
            continue;
        };
        let (entry_kind, label) = match (role, *kind) {
            (Role::Assistant, "toolUse") => (Kind::Call, "toolUse"),
            (Role::User, "toolResult") => (Kind::Output, "toolResult"),
            (Role::User, "toolUse") => {
                out.push(bad("`toolUse` in a user message"));
                continue;
            }
            (Role::Assistant, "toolResult") => {
                out.push(bad("`toolResult` in an assistant message"));
                continue;
            }
            // A cache checkpoint is neither conversation nor tool traffic.
            (_, "cachePoint") | (Role::Assistant, _) => continue,
            (Role::User, _) => {
                if out.last().map(|e| (e.kind(), e.index())) != Some((Kind::Message(role), i)) {
                    out.push(message(Some(j)));
                }
                continue;
            }
        };
        let Some(inner) = b.get(*kind).and_then(Value::as_object) else {
            out.push(bad("`toolUse` / `toolResult` is not a JSON object"));
            continue;
        };
        // "The content field at messages.2.content.0.toolResult cannot be empty when status
        // value is error."
        let empty = match inner.get("content") {
            None | Some(Value::Null) => true,
            Some(Value::Array(c)) => c.is_empty(),
            Some(_) => false,
        };
        let flaw = (entry_kind == Kind::Output
            && empty
            && inner.get("status").and_then(Value::as_str) == Some("error"))
        .then_some(Flaw::OutputShape);
        match call_id_field(inner.get("toolUseId")) {
            Ok(id) => out.push(
                Entry::paired(entry_kind, Family::Function, id, i, Some(j), label)
                    .with_flaw(flaw)
                    .with_content(
                        (entry_kind == Kind::Call)
                            .then(|| content::of_values(&[inner.get("name"), inner.get("input")])),
                    ),
            ),
            Err(()) => out.push(bad("`toolUseId` is not a string")),
        }
    }
    super::reading::mark_blank_text(out, start, role, blocks, |b| b.get("text")?.as_str());
}
