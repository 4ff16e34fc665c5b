//! What the adapters read items with: fields looked up in one pass, call ids, messages into a
//! skeleton, blank text, and the words of the API for an empty id.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::format::Format;
use crate::skeleton::{Adjacency, Entries, Entry, Flaw, Kind, Role, Skeleton};

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Reads Chat or Anthropic messages; `read_message` turns one message object into its entries.
/// Whether a request body (an object, not a bare list) leaves `key` out, null or empty.
pub(crate) fn no_list(body: &Value, key: &str) -> bool {
    body.as_object().is_some_and(|obj| match obj.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    })
}

pub(crate) fn read_messages<'a>(
    messages: &'a [Value],
    format: Format,
    adjacency: Adjacency,
    read_message: fn(&mut Entries<'a>, &'a Map<String, Value>, usize),
) -> Skeleton<'a> {
    let mut skel = Skeleton::new(format, adjacency);
    skel.items = messages.len();
    skel.entries.reserve(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match m.as_object() {
            Some(obj) => read_message(&mut skel.entries, obj, i),
            None => skel.entries.push(Entry::new(
                Kind::Malformed("message is not a JSON object"),
                i,
                None,
                "message",
            )),
        }
    }
    skel
}

/// Marks the message's text entry when one of its text blocks (`text` reads a block's text) is
/// whitespace only, which Anthropic and Bedrock refuse: `text content blocks must contain
/// non-whitespace text`. The message's entries start at `start`.
pub(crate) fn mark_blank_text(
    out: &mut Entries<'_>,
    start: usize,
    role: Role,
    blocks: &[Value],
    text: impl Fn(&Value) -> Option<&str>,
) {
    let flaw = blocks.iter().fold(None, |flaw, b| match text(b) {
        // An empty block marked for caching earns the cache's refusal rather than the text's
        // (Anthropic: `cache_control cannot be set for empty text blocks`).
        Some("") if b.get("cache_control").is_some() => Some(Flaw::BlankCachedText),
        Some(t) if t.trim().is_empty() => flaw.or(Some(Flaw::BlankText)),
        _ => flaw,
    });
    let Some(flaw) = flaw else {
        return;
    };
    if let Some(i) = (start..out.len()).find(|&i| out.at(i).kind() == Kind::Message(role)) {
        out.set_flaw(i, flaw);
    }
}

/// Reads a call id field: absent or null is `None`, a string is kept, anything else is malformed.
pub(crate) fn call_id_field(value: Option<&Value>) -> Result<Option<Cow<'_, str>>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Cow::Borrowed(s))),
        Some(_) => Err(()),
    }
}

/// Looks up several keys in one pass over an object. A key's bytes are compared only when its
/// length (stored beside the pointer) matches: on a large history, reading costs mostly cache
/// misses on key strings, and a plain `get` per key touches every key it passes.
pub(crate) fn fields<'a, const N: usize>(
    obj: &'a Map<String, Value>,
    keys: [&str; N],
) -> [Option<&'a Value>; N] {
    let mut found = [None; N];
    for (k, v) in obj {
        if let Some(i) = keys
            .iter()
            .position(|want| want.len() == k.len() && same_bytes(want, k))
        {
            found[i] = Some(v);
        }
    }
    found
}

/// Byte equality of two equally long short keys, inline: a `memcmp` call per candidate key costs
/// more than the comparison itself.
fn same_bytes(a: &str, b: &str) -> bool {
    a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// OpenAI's refusal of an empty or absent id field of the object at `path`.
pub(super) fn empty_id_error(path: &str, field: &str, v: &crate::rules::Violation) -> String {
    if v.call_id.is_none() {
        format!("Missing required parameter: '{path}.{field}'.")
    } else {
        format!("Invalid '{path}.{field}': empty string. Expected a string with minimum length 1, but got an empty string instead.")
    }
}
