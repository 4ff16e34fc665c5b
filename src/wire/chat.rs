//! OpenAI Chat Completions `messages`: assistant `tool_calls`, answered by `role: "tool"` messages.

use serde_json::{json, Map, Value};

use super::adapter::{Adapter, Edits};
use super::items::ItemOps;
use super::reading::{call_id_field, fields};
use crate::change::Change;
use crate::escape::escape_id;
use crate::format::Format;
use crate::profile::BYPASS_SIGNATURE;
use crate::rules::{Rule, Violation};
use crate::skeleton::{
    content, Adjacency, Entries, Entry, Family, Flaw, Kind, Role, Skeleton, Trace,
};

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
        super::reading::read_messages(
            messages,
            Format::Chat,
            Adjacency::FollowingRun,
            read_message,
        )
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
            .get_mut(e.block()?)?
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

    fn placeholder(&self, item: &mut Value, _e: &Entry) -> Option<&'static str> {
        let message = item.as_object_mut()?;
        if message
            .get("reasoning_content")
            .is_some_and(Value::is_string)
        {
            return None;
        }
        message.insert("reasoning_content".into(), Value::from(""));
        Some("reasoning_content")
    }

    fn call_id_key(&self, e: &Entry) -> &'static str {
        if e.kind == Kind::Call {
            "id"
        } else {
            "tool_call_id"
        }
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
            Rule::EmptyCallId if v.on_call => super::reading::empty_id_error(&path, "id", v),
            Rule::EmptyCallId => super::reading::empty_id_error(&path, "tool_call_id", v),
            Rule::MissingReasoningContent => format!(
                "Missing `reasoning_content` field in the assistant message at message index {}. For more information, please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls",
                v.index
            ),
            // Only the openai-chat profile limits a Chat call id's length.
            Rule::CallIdTooLong => format!(
                "Invalid '{path}.{}': string too long. Expected a string with maximum length 40, but got a string with length {} instead.",
                if v.on_call { "id" } else { "tool_call_id" },
                v.call_id.as_deref().map_or(0, |s| s.chars().count())
            ),
            // Only a self-hosted model's chat template asks these of a Chat history.
            Rule::RolesNotAlternating => "After the optional system message, conversation roles must alternate user and assistant roles except for tool calls and results.".to_owned(),
            Rule::NoUserQuery => "No user query found in messages.".to_owned(),
            Rule::ToolContentNotString => format!(
                "'messages.{i}' : for 'role:tool' the following must be satisfied[('messages.{i}.content' : value must be a string)]",
                i = v.index
            ),
            Rule::ImageOutsideUser => format!(
                "Invalid 'messages[{}]'. Image URLs are only allowed for messages with role 'user', but this message with role '{}' contains an image URL.",
                v.index, v.label
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

impl ItemOps<Value> for Chat {
    fn remove_block(&self, message: &mut Value, block: usize) -> Option<Value> {
        let msg = message.as_object_mut()?;
        let Some(Value::Array(calls)) = msg.get_mut("tool_calls") else {
            return None;
        };
        if block >= calls.len() {
            return None;
        }
        let call = calls.remove(block);
        if calls.is_empty() {
            // `retain` keeps the other keys in their order where maps preserve order.
            msg.retain(|k, _| k != "tool_calls");
        }
        Some(call)
    }

    // An assistant message that only carried the dropped calls has nothing left to say.
    fn is_vacant(&self, message: &Value) -> bool {
        message
            .as_object()
            .is_some_and(|m| !m.contains_key("tool_calls") && !has_content(m.get("content")))
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Option<Value> {
        Some(Adapter::synthetic(self, family, call_id, text))
    }

    fn json(&self, item: &Value) -> Value {
        item.clone()
    }
}

fn read_message<'a>(out: &mut Entries<'a>, obj: &'a Map<String, Value>, i: usize) {
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
    let image = content
        .and_then(Value::as_array)
        .is_some_and(|parts| {
            parts
                .iter()
                .any(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
        })
        .then_some(Flaw::ImageOutsideUser);
    // An image is the graver flaw: every server that wants a string refuses it too.
    let parts = image.or(content
        .is_some_and(Value::is_array)
        .then_some(Flaw::ContentNotString));
    match role {
        "tool" => out.push(match call_id_field(tool_call_id) {
            Ok(id) => {
                Entry::paired(Kind::Output, Family::Function, id, i, None, "tool").with_flaw(parts)
            }
            Err(()) => malformed("`tool_call_id` is not a string"),
        }),
        "assistant" => {
            let calls = match tool_calls {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(calls)) => calls.as_slice(),
                Some(_) => return out.push(malformed("`tool_calls` is not an array")),
            };
            if calls.is_empty() || has_content(content) {
                out.push(
                    Entry::new(Kind::Message(Role::Assistant), i, None, "assistant")
                        .with_flaw(image),
                );
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
                // Parsed as the servers that render a chat template parse it: an empty string
                // stands for no arguments.
                let arguments = call.get("function").and_then(|f| f.get("arguments"));
                let flaw = match arguments.and_then(Value::as_str) {
                    Some(text) if !text.trim().is_empty() => {
                        let object = text.trim_start().starts_with('{')
                            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
                        (!object).then_some(Flaw::ArgumentsNotObject)
                    }
                    _ => None,
                };
                out.push(match call.as_object().map(|c| call_id_field(c.get("id"))) {
                    Some(Ok(id)) => {
                        Entry::paired(Kind::Call, Family::Function, id, i, Some(j), "tool_calls")
                            .with_trace(Trace {
                                reasoning: reasoning.is_some_and(Value::is_string),
                                signature: signature(call).is_some_and(|s| !s.is_empty()),
                                ..Trace::default()
                            })
                            .with_flaw(flaw)
                            // What a function call asks: a custom call's input is not read.
                            .with_content(
                                call.get("function").map(|f| {
                                    content::of_values(&[f.get("name"), f.get("arguments")])
                                }),
                            )
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
        "user" => out.push(
            Entry::new(Kind::Message(Role::User), i, None, "user")
                .with_flaw(wrapped_tool_response(content).then_some(Flaw::WrappedToolResponse)),
        ),
        // Told apart from the user's messages for the chat templates that treat them apart.
        "system" => out.push(Entry::new(Kind::Message(Role::User), i, None, "system")),
        "developer" => out.push(Entry::new(Kind::Message(Role::User), i, None, "developer")),
        _ => out.push(Entry::new(Kind::Message(Role::User), i, None, "message")),
    }
}

/// Whether a user message's text is a tool response in Qwen's tags, as clients that send tool
/// results as user text write it: Qwen's templates look past such messages for the query.
fn wrapped_tool_response(content: Option<&Value>) -> bool {
    match content {
        Some(Value::String(s)) => crate::templates::wraps_tool_response(s, s),
        Some(Value::Array(parts)) => {
            let mut texts = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str));
            texts.next().is_some_and(|first| {
                let last = texts.next_back().unwrap_or(first);
                crate::templates::wraps_tool_response(first, last)
            })
        }
        _ => false,
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
