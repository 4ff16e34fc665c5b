//! Wire adapters: read a request body into a [`Skeleton`] and apply a [`Plan`] back to it.
//!
//! One adapter per format (see [`Format::ALL`]), each behind the one interface in `adapter.rs`;
//! each touches only what the plan names and leaves every other item exactly as it was.

mod adapter;
mod anthropic;
mod bedrock;
mod blocks;
mod chat;
mod gemini;
pub(crate) mod items;
mod reading;
mod responses;
pub mod rollout;
mod skim;
mod text;

use serde_json::{Map, Value};

use crate::change::Change;
pub use crate::format::{Detection, Format, ReadError};
use crate::repair::{Plan, RepairOptions};
use crate::skeleton::{Entries, Family, Kind, Skeleton};
pub(crate) use adapter::{Adapter, Edits};
use reading::json_type;

impl Format {
    /// The adapter that reads and repairs this format.
    pub(crate) fn adapter(self) -> &'static dyn Adapter {
        match self {
            Format::Responses => &responses::Responses,
            Format::Chat => &chat::Chat,
            Format::Anthropic => &anthropic::Anthropic,
            Format::Rollout => &rollout::Rollout,
            Format::Gemini => &gemini::Gemini,
            Format::Bedrock => &bedrock::Bedrock,
        }
    }

    /// Whether each item of this format is one call, output or message, so that a repair
    /// removes, inserts or edits whole items and a JSON Lines file can be rewritten line by line
    /// (Responses). Otherwise a repair may edit inside an item (a message's blocks).
    pub fn flat(self) -> bool {
        self.adapter().flat()
    }

    /// Whether a history of this format can be read one item at a time with [`push_item`]
    /// (Gemini cannot: a response without an id pairs by its place in the call turn).
    pub fn incremental(self) -> bool {
        self.adapter().incremental()
    }
}

/// Finds the format of a body: a request body (`{"input": ...}`, `{"messages": ...}`,
/// `{"contents": ...}`) or a bare array of items, messages, contents or rollout lines.
///
/// A body no format holds is refused with what was not understood, never read as a format it is
/// not: a history toolseq did not understand is never called clean.
///
/// ```
/// use serde_json::json;
/// use toolseq::__private::wire::{detect, Format};
///
/// let body = json!({"messages": [{"role": "assistant", "content": [
///     {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]}]});
/// assert_eq!(detect(&body).unwrap().format, Format::Anthropic);
/// let body = json!({"messages": [{"role": "assistant", "content": [
///     {"toolUse": {"toolUseId": "t1", "name": "ls", "input": {}}}]}]});
/// assert_eq!(detect(&body).unwrap().format, Format::Bedrock);
/// assert!(detect(&json!({"prompt": "hi"})).is_err());
/// ```
pub fn detect(body: &Value) -> Result<Detection, ReadError> {
    let adapters = Format::ALL.map(Format::adapter);
    let found = |a: &dyn Adapter, evidence| Detection {
        format: a.format(),
        evidence,
    };
    let (items, body) = match body {
        Value::Array(items) => (items, None),
        Value::Object(map) => {
            for a in adapters {
                if let Some(evidence) = a.claims_body(map) {
                    return Ok(found(a, evidence));
                }
            }
            match map.get("messages") {
                Some(Value::Array(items)) => (items, Some(map)),
                Some(other) => {
                    return Err(ReadError::Shape(format!(
                        "`messages` is a {}, not an array",
                        json_type(other)
                    )))
                }
                None => {
                    let keys: Vec<&str> = map.keys().take(8).map(String::as_str).collect();
                    return Err(ReadError::Shape(format!(
                        "an object without `input`, `messages` or `contents` (its fields: {})",
                        keys.join(", ")
                    )));
                }
            }
        }
        other => {
            return Err(ReadError::Shape(format!(
                "a JSON {} where an object or array was expected",
                json_type(other)
            )))
        }
    };
    for item in items.iter().filter_map(Value::as_object) {
        for a in adapters {
            if let Some(evidence) = a.recognize(item) {
                return Ok(found(a, evidence));
            }
        }
    }
    refuse_unknown(items)?;
    if let Some(map) = body {
        for a in adapters {
            if let Some(evidence) = a.hints_body(map) {
                return Ok(found(a, evidence));
            }
        }
    }
    Ok(match body {
        Some(_) => Detection {
            format: Format::Chat,
            evidence: "`messages` with no tool items; assumed",
        },
        None => Detection {
            format: Format::Responses,
            evidence: "array with no tool items; assumed",
        },
    })
}

/// Refuses a list no format recognised that holds content blocks without a `type` no format
/// knows, rather than reading them as a format they are not and calling them clean.
fn refuse_unknown(items: &[Value]) -> Result<(), ReadError> {
    for (i, item) in items.iter().enumerate() {
        let Some(blocks) = item.get("content").and_then(Value::as_array) else {
            continue;
        };
        // Responses items carry `type` themselves and are not message lists.
        if item.get("role").is_none() && item.get("type").is_some() {
            continue;
        }
        for (j, b) in blocks.iter().enumerate() {
            if let Some(b) = b.as_object().filter(|b| !b.contains_key("type")) {
                let keys: Vec<&str> = b.keys().take(4).map(String::as_str).collect();
                return Err(ReadError::Shape(format!(
                    "messages[{i}].content[{j}] is a content block without a `type` that no format toolseq reads holds (its fields: {}), so nothing was checked",
                    keys.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The item list inside a body, for a known format. `None` for a Responses string `input`.
fn list(body: &Value, format: Format) -> Result<Option<&Vec<Value>>, ReadError> {
    let key = format.adapter().list_key();
    match (body, key) {
        (Value::Array(items), _) => Ok(Some(items)),
        (Value::Object(map), Some(key)) => match map.get(key) {
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(Value::String(_)) if format.adapter().text_history() => Ok(None),
            Some(other) => Err(ReadError::Shape(format!(
                "`{key}` is a {}, not an array",
                json_type(other)
            ))),
            None => Err(ReadError::Shape(format!("no `{key}` in a {format} body"))),
        },
        (other, _) => Err(ReadError::Shape(format!(
            "a JSON {} is not a {format} history",
            json_type(other)
        ))),
    }
}

fn list_mut(body: &mut Value, format: Format) -> Option<&mut Vec<Value>> {
    match body {
        Value::Array(items) => Some(items),
        Value::Object(map) => map
            .get_mut(format.adapter().list_key()?)
            .and_then(Value::as_array_mut),
        _ => None,
    }
}

/// Reads a body of the given format into a skeleton.
pub fn read(body: &Value, format: Format) -> Result<Skeleton<'_>, ReadError> {
    let items = list(body, format)?.map_or(&[][..], Vec::as_slice);
    let adapter = format.adapter();
    let mut skel = adapter.read(items);
    adapter.read_body(body, &mut skel);
    Ok(skel)
}

/// Reads a list of items, messages, contents or rollout lines into a skeleton.
pub fn read_items(items: &[Value], format: Format) -> Skeleton<'_> {
    format.adapter().read(items)
}

/// An empty skeleton for incremental reading with [`push_item`].
pub fn empty_skeleton(format: Format) -> Skeleton<'static> {
    format.adapter().read(&[])
}

/// Appends one item (a line of a JSON Lines file, say) to a skeleton built incrementally, so a
/// huge file is checked without holding its items: only the small skeleton grows.
///
/// Refused for a format whose items cannot be read one at a time ([`Format::incremental`]):
/// read the whole list with [`read_items`] instead.
///
/// ```
/// use serde_json::json;
/// use toolseq::__private::wire::{empty_skeleton, push_item, Format};
///
/// let mut skel = empty_skeleton(Format::Responses);
/// push_item(&mut skel, &json!({"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}), Format::Responses).unwrap();
/// assert_eq!(toolseq::__private::rules::check(&skel)[0].rule, toolseq::Rule::MissingOutput);
/// ```
pub fn push_item(
    skel: &mut Skeleton<'static>,
    item: &Value,
    format: Format,
) -> Result<(), ReadError> {
    format.adapter().push(skel, item)
}

/// One line of a JSON Lines history read from its text with [`read_line`]: what pairing needs
/// of it, its ids borrowed from the text, to be added to a skeleton with [`push_line`]. Lines
/// can be read on several threads at once and added in order afterwards.
#[derive(Debug)]
pub struct ReadLine<'a>(rollout::Effect<'a>);

/// Reads one line of a JSON Lines history of `format` straight from its text, without building
/// a `serde_json::Value`: only the fields pairing reads are kept, the rest is skipped unread.
/// Adding the line with [`push_line`] gives the skeleton [`push_item`] gives for the line's
/// value.
///
/// `None` for a format this reader does not cover: only Responses items and rollout lines,
/// whose items are one call, output or message each, are read from text.
///
/// ```
/// use toolseq::__private::wire::{empty_skeleton, push_line, read_line, Format};
///
/// let mut skel = empty_skeleton(Format::Rollout);
/// for line in [
///     r#"{"type":"response_item","payload":{"type":"function_call","call_id":"c1","name":"ls","arguments":"{}"}}"#,
///     r#"{"type":"event_msg","payload":{"type":"token_count"}}"#,
/// ] {
///     push_line(&mut skel, read_line(line, Format::Rollout).unwrap().unwrap());
/// }
/// assert_eq!(skel.items, 2);
/// assert_eq!(toolseq::__private::rules::check(&skel)[0].rule, toolseq::Rule::MissingOutput);
/// assert!(read_line("{", Format::Rollout).unwrap().is_err());
/// assert!(read_line("{}", Format::Chat).is_none());
/// ```
pub fn read_line(text: &str, format: Format) -> Option<Result<ReadLine<'_>, serde_json::Error>> {
    let effect = match format {
        Format::Rollout => rollout::read_text(text),
        Format::Responses => {
            text::ItemView::read(text).map(|item| rollout::Effect::One(text::entry_of(item, 0)))
        }
        _ => return None,
    };
    Some(effect.map(ReadLine))
}

/// Adds a line read with [`read_line`] to a skeleton of its format, as the next item. The
/// skeleton keeps a copy of the line's ids, so the text can go.
pub fn push_line(skel: &mut Skeleton<'static>, line: ReadLine<'_>) {
    rollout::push_next(skel, line.0);
}

/// A Responses request body read from its text with [`read_text_body`].
#[derive(Debug)]
pub struct TextBody<'a> {
    /// The body's skeleton, its ids borrowed from the text where they hold no escape.
    pub skel: Skeleton<'a>,
    /// The body's top-level `model` and `thinking.type`, which select a model profile (see
    /// [`profile::select`](crate::profile::select)), as a small `Value`.
    pub head: Value,
}

/// Reads a Responses request body (an object with `input`) straight from its JSON text, without
/// building a `serde_json::Value`: only the fields pairing reads are kept, every other value is
/// skipped without being copied. The skeleton is the one [`read`] gives for the body's value,
/// with the format [`detect`] finds.
///
/// `Ok(None)` when the text is not a body this reader covers (not an object with `input`, or an
/// `input` that is neither an array nor a string): read it as a `Value` with [`detect`] and
/// [`read`], which also say what is wrong with it.
///
/// ```
/// use toolseq::__private::wire::read_text_body;
///
/// let text = r#"{"model": "gpt-5", "input": [
///     {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"}]}"#;
/// let body = read_text_body(text).unwrap().unwrap();
/// assert_eq!(toolseq::__private::rules::check(&body.skel)[0].rule, toolseq::Rule::MissingOutput);
/// assert_eq!(body.head["model"], "gpt-5");
/// assert!(read_text_body(r#"{"messages": []}"#).unwrap().is_none());
/// assert!(read_text_body(r#"{"input": [}"#).is_err());
/// ```
pub fn read_text_body(text: &str) -> Result<Option<TextBody<'_>>, serde_json::Error> {
    let body: text::BodyView<'_> = serde_json::from_str(text)?;
    let items = match body.input {
        Some(text::Items::Entries(items)) => items,
        Some(text::Items::Text) => Entries::new(),
        Some(text::Items::Other) | None => return Ok(None),
    };
    let mut skel = responses::read_entries(items);
    skel.server_history = [
        ("previous_response_id", &body.previous_response_id),
        ("conversation", &body.conversation),
    ]
    .into_iter()
    .find(|(_, f)| !matches!(f, text::Field::Absent | text::Field::Null))
    .map(|(k, _)| k);
    skel.unstored = body.store == Some(false);
    let mut head = Map::new();
    if let Some(model) = body.model.as_str() {
        head.insert("model".into(), Value::from(model));
    }
    if let Some(ty) = body.thinking_type.as_str() {
        head.insert("thinking".into(), serde_json::json!({ "type": ty }));
    }
    Ok(Some(TextBody {
        skel,
        head: Value::Object(head),
    }))
}

/// The synthetic output item a repair inserts for a call of this family, in this format (for a
/// rollout: the Responses payload of the line). A Gemini response also names the function: a
/// repair fills that in from the call, this function cannot.
pub fn synthetic_item(format: Format, family: Family, call_id: &str, text: &str) -> Value {
    format.adapter().synthetic(family, call_id, text)
}

/// Applies a plan (made from `skel`, read from this same body) and returns what changed.
///
/// `skel` borrows from the body it was read from; pass [`Plan::detach`] of it here.
///
/// ```
/// use serde_json::json;
/// use toolseq::__private::{repair::{plan, RepairOptions}, wire::{apply, read, Format}};
///
/// let mut body = json!({"input": [
///     {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"}]});
/// let skel = read(&body, Format::Responses).unwrap();
/// let p = plan(&skel);
/// let skel = p.detach(&skel);
/// let changes = apply(&mut body, Format::Responses, &skel, &p, &RepairOptions::default());
/// assert_eq!(changes.len(), 1);
/// assert_eq!(body["input"][1]["type"], "function_call_output");
/// ```
pub fn apply(
    body: &mut Value,
    format: Format,
    skel: &Skeleton,
    plan: &Plan,
    opts: &RepairOptions,
) -> Vec<Change> {
    if plan.is_empty() {
        return Vec::new();
    }
    match list_mut(body, format) {
        Some(items) => {
            let adapter = format.adapter();
            adapter.apply(items, Edits::new(skel, plan, opts, adapter))
        }
        None => Vec::new(),
    }
}

/// Applies the plan's in-place edits for skeleton entry `entry` to its source item (a whole
/// item, message or rollout line), for a caller that holds items one at a time.
pub fn edit_entry(
    item: &mut Value,
    format: Format,
    skel: &Skeleton,
    plan: &Plan,
    entry: usize,
) -> Vec<Change> {
    adapter::edit_with(format.adapter(), item, skel, plan, entry)
}

/// Shows a note to the model as a short user message placed after the outputs that follow the
/// call `call_id` (Anthropic: a text block at the end of the user message holding its result),
/// so it never separates a call from an output. Returns false when the call is not in the body,
/// or the format has no place for a note that breaks nothing (Bedrock, when no user message
/// follows the results: its roles must alternate).
pub fn place_note(body: &mut Value, format: Format, call_id: &str, note: &str) -> bool {
    let Some(items) = list_mut(body, format) else {
        return false;
    };
    let adapter = format.adapter();
    let Some((call_item, after_run)) = note_slot(&adapter.read(items), call_id) else {
        return false;
    };
    adapter.place_note(items, call_item, after_run, note)
}

/// Where a note about the call `call_id` goes: the index of the item holding the call, and the
/// first item after it and the outputs that follow it. `None` when the call is not there.
pub(crate) fn note_slot(skel: &Skeleton, call_id: &str) -> Option<(usize, usize)> {
    let call = skel
        .entries
        .iter()
        .position(|e| e.kind() == Kind::Call && e.id() == Some(call_id))?;
    let m = skel.entries.at(call).index();
    // The first source item after the call's that is neither a call nor an output.
    let mut next = m + 1;
    for e in skel.entries.iter().skip(call) {
        if e.index() < next {
            continue;
        }
        if e.index() == next && matches!(e.kind(), Kind::Call | Kind::Output) {
            next += 1;
        } else {
            break;
        }
    }
    Some((m, next))
}
