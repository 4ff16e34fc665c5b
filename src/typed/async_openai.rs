//! [`HistoryItem`] for async-openai's request types: Responses `InputItem`s and Chat Completions
//! `ChatCompletionRequestMessage`s. Each reads as the JSON adapter reads its serialisation.

use std::borrow::Cow;

use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionRequestUserMessageContentPart,
};
use async_openai::types::responses::{
    InputItem, Item, MessageItem, Role as EasyRole, ToolSearchExecutionType,
};
use serde_json::{json, Value};

use super::HistoryItem;
use crate::format::Format;
use crate::skeleton::{Entries, Entry, Family, Flaw, Kind, Role};
use crate::templates::wraps_tool_response;

fn borrowed(s: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(s))
}

fn optional(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

impl HistoryItem for InputItem {
    const FORMAT: Format = Format::Responses;

    fn read<'a>(&'a self, i: usize, out: &mut Entries<'a>) {
        use Family::*;
        use Kind::{Call, Output};
        let paired = |kind, family, id, label, item_id| {
            Entry::paired(kind, family, id, i, None, label).with_item_id(item_id)
        };
        let other = |label, item_id| Entry::new(Kind::Other, i, None, label).with_item_id(item_id);
        let user = || Entry::new(Kind::Message(Role::User), i, None, "message");
        let assistant = || Entry::new(Kind::Message(Role::Assistant), i, None, "message");
        out.push(match self {
            InputItem::ItemReference(r) => {
                Entry::new(Kind::Reference, i, None, "item_reference").with_item_id(borrowed(&r.id))
            }
            InputItem::EasyMessage(m) if m.role == EasyRole::Assistant => assistant(),
            InputItem::EasyMessage(_) => user(),
            InputItem::CompactionTrigger(t) => other("item", optional(&t.id)),
            InputItem::Program(p) => paired(
                Call,
                Program,
                borrowed(&p.call_id),
                "program",
                borrowed(&p.id),
            ),
            InputItem::ProgramOutput(p) => paired(
                Output,
                Program,
                borrowed(&p.call_id),
                "program_output",
                borrowed(&p.id),
            ),
            InputItem::Item(item) => match item {
                Item::Message(MessageItem::Output(m)) => assistant().with_item_id(borrowed(&m.id)),
                Item::Message(MessageItem::Input(_)) => user(),
                Item::FunctionCall(c) => paired(
                    Call,
                    Function,
                    borrowed(&c.call_id),
                    "function_call",
                    optional(&c.id),
                )
                .with_call(&c.name, &c.arguments),
                Item::FunctionCallOutput(o) => paired(
                    Output,
                    Function,
                    optional(&o.call_id),
                    "function_call_output",
                    optional(&o.id),
                ),
                // Keyed by `call_id`, not by its item `id`.
                Item::LocalShellCall(c) => paired(
                    Call,
                    Function,
                    borrowed(&c.call_id),
                    "local_shell_call",
                    borrowed(&c.id),
                ),
                // Its `id` is the local shell call's `call_id`.
                Item::LocalShellCallOutput(o) => paired(
                    Output,
                    Function,
                    borrowed(&o.id),
                    "local_shell_call_output",
                    None,
                ),
                Item::CustomToolCall(c) => paired(
                    Call,
                    Custom,
                    borrowed(&c.call_id),
                    "custom_tool_call",
                    borrowed(&c.id),
                )
                .with_call(&c.name, &c.input),
                Item::CustomToolCallOutput(o) => paired(
                    Output,
                    Custom,
                    borrowed(&o.call_id),
                    "custom_tool_call_output",
                    optional(&o.id),
                ),
                Item::ComputerCall(c) => paired(
                    Call,
                    Computer,
                    borrowed(&c.call_id),
                    "computer_call",
                    borrowed(&c.id),
                ),
                Item::ComputerCallOutput(o) => paired(
                    Output,
                    Computer,
                    borrowed(&o.call_id),
                    "computer_call_output",
                    optional(&o.id),
                ),
                Item::ShellCall(c) => paired(
                    Call,
                    Shell,
                    borrowed(&c.call_id),
                    "shell_call",
                    optional(&c.id),
                ),
                Item::ShellCallOutput(o) => paired(
                    Output,
                    Shell,
                    borrowed(&o.call_id),
                    "shell_call_output",
                    optional(&o.id),
                ),
                Item::ApplyPatchCall(c) => paired(
                    Call,
                    ApplyPatch,
                    borrowed(&c.call_id),
                    "apply_patch_call",
                    optional(&c.id),
                ),
                Item::ApplyPatchCallOutput(o) => paired(
                    Output,
                    ApplyPatch,
                    borrowed(&o.call_id),
                    "apply_patch_call_output",
                    optional(&o.id),
                ),
                // Paired by the request's own `id`.
                Item::McpApprovalRequest(r) => paired(
                    Call,
                    McpApproval,
                    borrowed(&r.id),
                    "mcp_approval_request",
                    None,
                ),
                Item::McpApprovalResponse(r) => paired(
                    Output,
                    McpApproval,
                    borrowed(&r.approval_request_id),
                    "mcp_approval_response",
                    optional(&r.id),
                ),
                // Server-executed tool search pairs with nothing.
                Item::ToolSearchCall(c) if c.execution == Some(ToolSearchExecutionType::Server) => {
                    other("tool_search_call", optional(&c.id))
                }
                Item::ToolSearchCall(c) => paired(
                    Call,
                    ToolSearch,
                    optional(&c.call_id),
                    "tool_search_call",
                    optional(&c.id),
                ),
                Item::ToolSearchOutput(o)
                    if o.execution == Some(ToolSearchExecutionType::Server) =>
                {
                    other("tool_search_output", optional(&o.id))
                }
                Item::ToolSearchOutput(o) => paired(
                    Output,
                    ToolSearch,
                    optional(&o.call_id),
                    "tool_search_output",
                    optional(&o.id),
                ),
                Item::Reasoning(r) => Entry::new(Kind::Reasoning, i, None, "reasoning")
                    .with_item_id(optional(&r.id))
                    .with_trace(crate::skeleton::Trace {
                        reasoning: r.encrypted_content.is_some(),
                        ..Default::default()
                    }),
                Item::FileSearchCall(c) => other("file_search_call", borrowed(&c.id)),
                Item::WebSearchCall(c) => other("web_search_call", borrowed(&c.id)),
                Item::ImageGenerationCall(c) => other("image_generation_call", borrowed(&c.id)),
                Item::CodeInterpreterCall(c) => other("code_interpreter_call", borrowed(&c.id)),
                Item::McpCall(c) => other("mcp_call", borrowed(&c.id)),
                Item::McpListTools(c) => other("mcp_list_tools", borrowed(&c.id)),
                Item::Compaction(c) => other("compaction", optional(&c.id)),
                Item::AdditionalTools(t) => other("item", optional(&t.id)),
                Item::ConfigurationUpdate(u) => other("item", optional(&u.id)),
            },
        });
    }

    fn synthetic(family: Family, call_id: &str, text: &str) -> Option<Self> {
        let item = crate::wire::synthetic_item(Format::Responses, family, call_id, text);
        serde_json::from_value(item).ok()
    }

    fn note(text: &str) -> Option<Self> {
        serde_json::from_value(json!({"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}]}))
        .ok()
    }

    fn set_call_id(&mut self, _entry: &Entry<'_>, id: &str) -> Option<String> {
        let id = id.to_owned();
        let swap = |field: &mut String| Some(std::mem::replace(field, id.clone()));
        let swap_optional = |field: &mut Option<String>| field.replace(id.clone());
        match self {
            InputItem::Program(p) => swap(&mut p.call_id),
            InputItem::ProgramOutput(p) => swap(&mut p.call_id),
            InputItem::Item(item) => match item {
                Item::FunctionCall(c) => swap(&mut c.call_id),
                Item::FunctionCallOutput(o) => swap_optional(&mut o.call_id),
                Item::LocalShellCall(c) => swap(&mut c.call_id),
                Item::LocalShellCallOutput(o) => swap(&mut o.id),
                Item::CustomToolCall(c) => swap(&mut c.call_id),
                Item::CustomToolCallOutput(o) => swap(&mut o.call_id),
                Item::ComputerCall(c) => swap(&mut c.call_id),
                Item::ComputerCallOutput(o) => swap(&mut o.call_id),
                Item::ShellCall(c) => swap(&mut c.call_id),
                Item::ShellCallOutput(o) => swap(&mut o.call_id),
                Item::ApplyPatchCall(c) => swap(&mut c.call_id),
                Item::ApplyPatchCallOutput(o) => swap(&mut o.call_id),
                Item::McpApprovalRequest(r) => swap(&mut r.id),
                Item::McpApprovalResponse(r) => swap(&mut r.approval_request_id),
                Item::ToolSearchCall(c) => swap_optional(&mut c.call_id),
                Item::ToolSearchOutput(o) => swap_optional(&mut o.call_id),
                _ => None,
            },
            _ => None,
        }
    }

    // Of the items whose id a repair may drop (function and custom tool calls, messages), only
    // a function call's is optional in these types; the others keep theirs and stay reported.
    fn remove_item_id(&mut self, _entry: &Entry<'_>) -> Option<Value> {
        match self {
            InputItem::Item(Item::FunctionCall(c)) => c.id.take().map(Value::String),
            _ => None,
        }
    }
}

fn has_content(content: &Option<ChatCompletionRequestAssistantMessageContent>) -> bool {
    match content {
        None => false,
        Some(ChatCompletionRequestAssistantMessageContent::Text(s)) => !s.is_empty(),
        Some(ChatCompletionRequestAssistantMessageContent::Array(parts)) => !parts.is_empty(),
    }
}

impl HistoryItem for ChatCompletionRequestMessage {
    const FORMAT: Format = Format::Chat;

    fn read<'a>(&'a self, i: usize, out: &mut Entries<'a>) {
        let m = match self {
            ChatCompletionRequestMessage::Tool(t) => {
                return out.push(Entry::paired(
                    Kind::Output,
                    Family::Function,
                    borrowed(&t.tool_call_id),
                    i,
                    None,
                    "tool",
                ))
            }
            // Legacy `function` messages pair by name, not id: nothing to check.
            ChatCompletionRequestMessage::Function(_) => {
                return out.push(Entry::new(Kind::Other, i, None, "function"))
            }
            ChatCompletionRequestMessage::Assistant(m) => m,
            ChatCompletionRequestMessage::User(m) => {
                let wrapped = match &m.content {
                    ChatCompletionRequestUserMessageContent::Text(s) => wraps_tool_response(s, s),
                    ChatCompletionRequestUserMessageContent::Array(parts) => {
                        let mut texts = parts.iter().filter_map(|p| match p {
                            ChatCompletionRequestUserMessageContentPart::Text(t) => Some(&t.text),
                            _ => None,
                        });
                        texts.next().is_some_and(|first| {
                            wraps_tool_response(first, texts.next_back().unwrap_or(first))
                        })
                    }
                };
                return out.push(
                    Entry::new(Kind::Message(Role::User), i, None, "user")
                        .with_flaw(wrapped.then_some(Flaw::WrappedToolResponse)),
                );
            }
            ChatCompletionRequestMessage::System(_) => {
                return out.push(Entry::new(Kind::Message(Role::User), i, None, "system"))
            }
            ChatCompletionRequestMessage::Developer(_) => {
                return out.push(Entry::new(Kind::Message(Role::User), i, None, "developer"))
            }
        };
        let calls = m.tool_calls.as_deref().unwrap_or_default();
        if calls.is_empty() || has_content(&m.content) {
            out.push(Entry::new(
                Kind::Message(Role::Assistant),
                i,
                None,
                "assistant",
            ));
        }
        if calls.is_empty() && m.tool_calls.is_some() {
            out.push(Entry::new(Kind::EmptyCallList, i, None, "tool_calls"));
        }
        for (j, call) in calls.iter().enumerate() {
            let (id, named, asks) = match call {
                ChatCompletionMessageToolCalls::Function(c) => (
                    &c.id,
                    !c.function.name.is_empty(),
                    Some((&c.function.name, &c.function.arguments)),
                ),
                // async-openai writes the tool under `custom_tool`, where the API reads `custom`:
                // the serialised call names no tool, and is reported as the JSON path reports it.
                ChatCompletionMessageToolCalls::Custom(c) => (&c.id, false, None),
            };
            let call = Entry::paired(
                Kind::Call,
                Family::Function,
                borrowed(id),
                i,
                Some(j),
                "tool_calls",
            );
            out.push(match asks {
                Some((name, arguments)) => call.with_call(name, arguments),
                None => call,
            });
            if !named {
                out.push(Entry::new(
                    Kind::Malformed("tool call with an empty or missing tool name"),
                    i,
                    Some(j),
                    "tool_calls",
                ));
            }
        }
    }

    fn synthetic(_family: Family, call_id: &str, text: &str) -> Option<Self> {
        Some(ChatCompletionRequestMessage::Tool(
            ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(text.to_owned()),
                tool_call_id: call_id.to_owned(),
            },
        ))
    }

    fn note(text: &str) -> Option<Self> {
        Some(ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(text.to_owned()),
                name: None,
            },
        ))
    }

    fn set_call_id(&mut self, entry: &Entry<'_>, id: &str) -> Option<String> {
        let field = match self {
            ChatCompletionRequestMessage::Tool(t) => &mut t.tool_call_id,
            ChatCompletionRequestMessage::Assistant(m) => {
                match m.tool_calls.as_mut()?.get_mut(entry.block()?)? {
                    ChatCompletionMessageToolCalls::Function(c) => &mut c.id,
                    ChatCompletionMessageToolCalls::Custom(c) => &mut c.id,
                }
            }
            _ => return None,
        };
        Some(std::mem::replace(field, id.to_owned()))
    }

    fn remove_empty_call_list(&mut self) -> Option<Value> {
        let ChatCompletionRequestMessage::Assistant(m) = self else {
            return None;
        };
        if m.tool_calls.as_ref().is_some_and(Vec::is_empty) {
            m.tool_calls = None;
            return Some(Value::Array(Vec::new()));
        }
        None
    }

    fn remove_block(&mut self, block: usize) -> Option<Value> {
        let ChatCompletionRequestMessage::Assistant(m) = self else {
            return None;
        };
        let calls = m.tool_calls.as_mut()?;
        if block >= calls.len() {
            return None;
        }
        let call = calls.remove(block);
        if calls.is_empty() {
            m.tool_calls = None;
        }
        Some(serde_json::to_value(call).unwrap_or(Value::Null))
    }

    fn is_vacant(&self) -> bool {
        matches!(self, ChatCompletionRequestMessage::Assistant(m)
            if m.tool_calls.is_none() && !has_content(&m.content))
    }
}
