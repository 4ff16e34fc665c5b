//! Wire adapters: read a request body into a [`Skeleton`] and apply a [`Plan`] back to it.
//!
//! One adapter per format; each touches only what the plan names and leaves every other item
//! exactly as it was.

mod anthropic;
mod chat;
mod responses;
pub mod rollout;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::Error;
use crate::repair::{Placed, Plan, RepairOptions};
use crate::report::Change;
use crate::rules::Rule;
use crate::skeleton::{Adjacency, Entry, Family, Kind, Skeleton};

/// A wire format of conversation history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OpenAI Responses API `input` items.
    Responses,
    /// OpenAI Chat Completions `messages`.
    Chat,
    /// Anthropic Messages `messages`.
    Anthropic,
    /// Codex rollout lines (`{"timestamp", "type": "response_item", "payload"}` among others),
    /// as a JSON array of line objects; the payloads are Responses items.
    Rollout,
}

impl Format {
    /// Lower-case name: `responses`, `chat`, `anthropic`, `rollout`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Responses => "responses",
            Format::Chat => "chat",
            Format::Anthropic => "anthropic",
            Format::Rollout => "rollout",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "responses" => Ok(Format::Responses),
            "chat" => Ok(Format::Chat),
            "anthropic" => Ok(Format::Anthropic),
            "rollout" => Ok(Format::Rollout),
            other => Err(Error::UnknownFormat(other.to_owned())),
        }
    }
}

/// Which format a body was read as, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// The format.
    pub format: Format,
    /// Why: `given`, or the evidence that decided it.
    pub evidence: &'static str,
}

impl Detection {
    /// Whether nothing in the body decided the format (no tool items): the format was assumed.
    pub fn is_assumed(&self) -> bool {
        self.evidence.ends_with("assumed")
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.format, self.evidence)
    }
}

/// Finds the format of a body: a request body (`{"input": ...}`, `{"messages": ...}`) or a bare
/// array of items, messages or rollout lines.
///
/// ```
/// use serde_json::json;
/// use toolseq::wire::{detect, Format};
///
/// let body = json!({"messages": [{"role": "assistant", "content": [
///     {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]}]});
/// assert_eq!(detect(&body).unwrap().format, Format::Anthropic);
/// ```
pub fn detect(body: &Value) -> Result<Detection, Error> {
    let found = |format, evidence| Ok(Detection { format, evidence });
    let list = match body {
        Value::Array(items) => {
            refuse_unknown(items)?;
            items
        }
        Value::Object(map) => {
            if map.contains_key("contents") && !map.contains_key("messages") {
                return Err(Error::Shape(
                    "a Gemini `contents` body: toolseq does not read this format yet, so nothing was checked".into(),
                ));
            }
            if map.contains_key("input") {
                return found(Format::Responses, "request body has `input`");
            }
            match map.get("messages") {
                Some(Value::Array(items)) => {
                    refuse_unknown(items)?;
                    if let Some(d) = scan(items) {
                        return Ok(d);
                    }
                    if map.contains_key("system") {
                        return found(Format::Anthropic, "top-level `system`");
                    }
                    return found(Format::Chat, "`messages` with no tool items; assumed");
                }
                Some(_) => return Err(Error::Shape("`messages` is not an array".into())),
                None => {
                    return Err(Error::Shape(
                        "an object without `input` or `messages`".into(),
                    ))
                }
            }
        }
        other => {
            return Err(Error::Shape(format!(
                "a JSON {} where an object or array was expected",
                json_type(other)
            )))
        }
    };
    Ok(scan(list).unwrap_or(Detection {
        format: Format::Responses,
        evidence: "array with no tool items; assumed",
    }))
}

/// Refuses messages whose content blocks no known format holds (blocks without a `type`, such as
/// Bedrock Converse's `{"toolUse": …}`), rather than reading them as a format they are not and
/// calling them clean.
fn refuse_unknown(items: &[Value]) -> Result<(), Error> {
    // Message content blocks without a `type`, with their positions. Responses items carry
    // `type` themselves and are not message lists.
    let untyped = items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.get("role").is_some() || item.get("type").is_none())
        .filter_map(|(i, item)| Some((i, item.get("content")?.as_array()?)))
        .flat_map(|(i, blocks)| {
            blocks
                .iter()
                .enumerate()
                .filter_map(move |(j, b)| Some((i, j, b.as_object()?)))
        })
        .filter(|(_, _, b)| !b.contains_key("type"));
    let mut first = None;
    for (i, j, b) in untyped {
        if b.contains_key("toolUse") || b.contains_key("toolResult") {
            return Err(Error::Shape(format!(
                "messages[{i}].content[{j}] is a Bedrock Converse `toolUse` / `toolResult` block: toolseq does not read this format yet, so nothing was checked"
            )));
        }
        first.get_or_insert((i, j));
    }
    match first {
        Some((i, j)) => Err(Error::Shape(format!(
            "messages[{i}].content[{j}] is a content block without a `type`: toolseq does not read this format yet, so nothing was checked"
        ))),
        None => Ok(()),
    }
}

/// Looks for one item that only one format could hold.
fn scan(items: &[Value]) -> Option<Detection> {
    let d = |format, evidence| Some(Detection { format, evidence });
    for item in items {
        let Some(obj) = item.as_object() else {
            continue;
        };
        if obj.get("type").and_then(Value::as_str) == Some("response_item") {
            return d(Format::Rollout, "rollout `response_item` lines");
        }
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            if responses::is_item_type(t) {
                return d(Format::Responses, "Responses item types");
            }
        }
        if obj.contains_key("tool_calls") || obj.get("role").and_then(Value::as_str) == Some("tool")
        {
            return d(Format::Chat, "`tool_calls` / `role: tool` messages");
        }
        if let Some(Value::Array(blocks)) = obj.get("content") {
            for b in blocks {
                match b.get("type").and_then(Value::as_str) {
                    Some("tool_use" | "tool_result") => {
                        return d(Format::Anthropic, "`tool_use` / `tool_result` blocks")
                    }
                    Some(t) if anthropic::is_server_tool_block(t) => {
                        return d(Format::Anthropic, "Anthropic server tool blocks")
                    }
                    Some("input_text" | "output_text") => {
                        return d(Format::Responses, "Responses content parts")
                    }
                    _ => {}
                }
            }
        }
    }
    None
}

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

/// The item list inside a body, for a known format. `None` for a Responses string `input`.
fn list(body: &Value, format: Format) -> Result<Option<&Vec<Value>>, Error> {
    let key = match format {
        Format::Responses => "input",
        Format::Chat | Format::Anthropic => "messages",
        Format::Rollout => "",
    };
    match body {
        Value::Array(items) => Ok(Some(items)),
        Value::Object(map) if !key.is_empty() => match map.get(key) {
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(Value::String(_)) if format == Format::Responses => Ok(None),
            Some(other) => Err(Error::Shape(format!(
                "`{key}` is a {}, not an array",
                json_type(other)
            ))),
            None => Err(Error::Shape(format!("no `{key}` in a {format} body"))),
        },
        other => Err(Error::Shape(format!(
            "a JSON {} is not a {format} history",
            json_type(other)
        ))),
    }
}

fn list_mut(body: &mut Value, format: Format) -> Option<&mut Vec<Value>> {
    let key = match format {
        Format::Responses => "input",
        _ => "messages",
    };
    match body {
        Value::Array(items) => Some(items),
        Value::Object(map) => map.get_mut(key).and_then(Value::as_array_mut),
        _ => None,
    }
}

/// Reads a body of the given format into a skeleton.
pub fn read(body: &Value, format: Format) -> Result<Skeleton<'_>, Error> {
    let items = list(body, format)?.map_or(&[][..], Vec::as_slice);
    let mut skel = read_items(items, format);
    if format == Format::Responses {
        skel.server_history = responses::server_history(body);
    }
    Ok(skel)
}

/// Reads a list of items, messages or rollout lines into a skeleton.
pub fn read_items(items: &[Value], format: Format) -> Skeleton<'_> {
    match format {
        Format::Responses => responses::read(items),
        Format::Rollout => rollout::read(items),
        Format::Chat => chat::read(items),
        Format::Anthropic => anthropic::read(items),
    }
}

/// An empty skeleton for incremental reading with [`push_item`].
pub fn empty_skeleton(format: Format) -> Skeleton<'static> {
    match format {
        Format::Rollout => rollout::empty(),
        _ => read_items(&[], format),
    }
}

/// Appends one item (a line of a JSON Lines file, say) to a skeleton built incrementally, so a
/// huge file is checked without holding its items: only the small skeleton grows.
///
/// ```
/// use serde_json::json;
/// use toolseq::wire::{empty_skeleton, push_item, Format};
///
/// let mut skel = empty_skeleton(Format::Responses);
/// push_item(&mut skel, &json!({"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}), Format::Responses);
/// assert_eq!(toolseq::rules::check(&skel)[0].rule, toolseq::Rule::MissingOutput);
/// ```
pub fn push_item(skel: &mut Skeleton<'static>, item: &Value, format: Format) {
    let index = skel.items;
    if format == Format::Rollout {
        // A rollout line may replace or cut the history before it, not only append.
        rollout::push(skel, rollout::effect(item, index).into_owned());
        return;
    }
    let one = read_items(std::slice::from_ref(item), format);
    skel.entries.extend(one.entries.into_iter().map(|mut e| {
        e.index = index;
        e.into_owned()
    }));
    skel.items += 1;
}

/// The synthetic output item a repair inserts for a call of this family, in this format (for a
/// rollout: the Responses payload of the line).
pub fn synthetic_item(format: Format, family: Family, call_id: &str, text: &str) -> Value {
    match format {
        Format::Responses | Format::Rollout => responses::synthetic(family, call_id, text),
        Format::Chat => chat::synthetic(call_id, text),
        Format::Anthropic => anthropic::synthetic(call_id, text),
    }
}

/// Applies a plan (made from `skel`, read from this same body) and returns what changed.
///
/// `skel` borrows from the body it was read from; pass [`Plan::detach`] of it here.
///
/// ```
/// use serde_json::json;
/// use toolseq::{repair::{plan, RepairOptions}, wire::{apply, read, Format}};
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
    let Some(items) = list_mut(body, format) else {
        return Vec::new();
    };
    if format == Format::Rollout {
        return rollout::apply(items, skel, plan, Edits::new(skel, plan, opts, format));
    }
    let mut changes = edit_in_place(items, format, skel, plan);
    if plan.removals.is_empty() && plan.inserts.is_empty() {
        return changes;
    }
    let edits = Edits::new(skel, plan, opts, format);
    changes.extend(match format {
        Format::Responses | Format::Rollout => responses::apply(items, skel, edits),
        Format::Chat => chat::apply(items, skel, edits),
        Format::Anthropic => anthropic::apply(items, skel, edits),
    });
    changes
}

/// The run of `list` (sorted by entry) that names `entry`: a binary search, so editing many
/// items stays linear.
fn sorted_slice<T>(list: &[T], entry: usize, key: impl Fn(&T) -> usize) -> &[T] {
    let start = list.partition_point(|x| key(x) < entry);
    let end = start + list[start..].partition_point(|x| key(x) == entry);
    &list[start..end]
}

/// The JSON object an entry stands for inside its source item: the item itself, the Chat tool
/// call, the Anthropic block.
fn object_of<'v>(
    item: &'v mut Value,
    format: Format,
    e: &Entry,
) -> Option<&'v mut serde_json::Map<String, Value>> {
    let item = match (format, e.block) {
        (Format::Rollout, Some(k)) => item
            .get_mut("payload")?
            .get_mut("replacement_history")?
            .get_mut(k)?,
        (Format::Rollout, None) => item.get_mut("payload")?,
        _ => item,
    };
    let obj = match (format, e.block) {
        (Format::Chat, Some(b)) => item.get_mut("tool_calls")?.get_mut(b)?,
        (Format::Anthropic, Some(b)) => item.get_mut("content")?.get_mut(b)?,
        _ => item,
    };
    obj.as_object_mut()
}

/// The field holding the call id of the object an entry stands for.
fn call_id_key(format: Format, e: &Entry) -> &'static str {
    match (format, e.kind) {
        (Format::Responses | Format::Rollout, _) => responses::call_id_key(e.label),
        (Format::Chat, Kind::Call) | (Format::Anthropic, Kind::Call) => "id",
        (Format::Chat, _) => "tool_call_id",
        (Format::Anthropic, _) => "tool_use_id",
    }
}

/// Applies the plan's in-place edits (call id rewrites, removed fields), which change no item's
/// position, so they go first, on the source indexes the plan was made on.
fn edit_in_place(items: &mut [Value], format: Format, skel: &Skeleton, plan: &Plan) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut done = std::collections::HashSet::new();
    for entry in plan.edited_entries() {
        if !done.insert(entry) {
            continue;
        }
        if let Some(item) = items.get_mut(skel.entries[entry].index) {
            changes.extend(edit_entry(item, format, skel, plan, entry));
        }
    }
    changes
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
    let mut changes = Vec::new();
    let e = &skel.entries[entry];
    for r in sorted_slice(&plan.rewrites, entry, |r| r.entry) {
        let key = call_id_key(format, e);
        let Some(obj) = object_of(item, format, e) else {
            continue;
        };
        let old = obj.insert(key.to_owned(), Value::String(r.new_id.clone()));
        changes.push(Change::Rewritten {
            from: old
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            to: r.new_id.clone(),
            rule: r.rule,
            index: e.index,
            block: e.block,
        });
    }
    for s in sorted_slice(&plan.strips, entry, |s| s.entry) {
        let (obj, field) = match s.field {
            crate::repair::Field::ItemId => (object_of(item, format, e), "id"),
            // The list sits on the message, not on a call.
            crate::repair::Field::EmptyCallList => (item.as_object_mut(), "tool_calls"),
        };
        if let Some(value) = obj.and_then(|o| o.remove(field)) {
            changes.push(Change::Stripped {
                field,
                value,
                rule: s.rule,
                index: e.index,
            });
        }
    }
    changes
}

/// A plan laid out for an adapter: what leaves each entry, and what goes after each anchor.
pub(crate) struct Edits<'a> {
    pub skel: &'a Skeleton<'a>,
    opts: &'a RepairOptions,
    pub format: Format,
    /// Entry -> why it is removed.
    pub removed: HashMap<usize, Rule>,
    /// Entries whose item moves elsewhere.
    pub moved: HashMap<usize, usize>,
    /// Per entry: whether its item leaves its place (removed or moved); a flat array, because
    /// the flat formats ask for every item.
    leaving: Vec<bool>,
    /// Anchor entry -> outputs to put after its slot, in order.
    pub after: Vec<(usize, Vec<Placed>)>,
    pub changes: Vec<Change>,
}

impl<'a> Edits<'a> {
    fn new(skel: &'a Skeleton, plan: &Plan, opts: &'a RepairOptions, format: Format) -> Self {
        let removed: HashMap<usize, Rule> =
            plan.removals.iter().map(|r| (r.entry, r.rule)).collect();
        let mut leaving = vec![false; skel.entries.len()];
        for &e in removed.keys() {
            leaving[e] = true;
        }
        let mut moved = HashMap::new();
        let mut after: Vec<(usize, Vec<Placed>)> = Vec::new();
        for ins in &plan.inserts {
            if let Placed::Moved { entry, call } = ins.placed {
                moved.insert(entry, call);
                leaving[entry] = true;
            }
            match after.last_mut() {
                Some((a, list)) if *a == ins.anchor => list.push(ins.placed),
                _ => after.push((ins.anchor, vec![ins.placed])),
            }
        }
        Edits {
            skel,
            opts,
            format,
            removed,
            moved,
            leaving,
            after,
            changes: Vec::new(),
        }
    }

    /// Whether the item at this entry leaves its place.
    pub fn leaves(&self, entry: usize) -> bool {
        self.leaving.get(entry).copied().unwrap_or(false)
    }

    /// Records a removed item, keeping it whole for the report.
    pub fn record_removal(&mut self, entry: usize, item: Value) {
        let e = &self.skel.entries[entry];
        let rule = self
            .removed
            .get(&entry)
            .copied()
            .unwrap_or(Rule::MalformedItem);
        self.changes.push(Change::Removed {
            rule,
            call_id: e.call_id.as_deref().map(str::to_owned),
            index: e.index,
            block: e.block,
            item,
        });
    }

    /// Turns a placement into the item to insert, taking moved items from `take`.
    pub fn materialize(
        &mut self,
        placed: Placed,
        take: &mut impl FnMut(usize) -> Option<Value>,
    ) -> Option<Value> {
        let entries = &self.skel.entries;
        match placed {
            Placed::Moved { entry, call } => {
                let item = take(entry)?;
                self.changes.push(Change::Moved {
                    call_id: entries[call]
                        .call_id
                        .as_deref()
                        .unwrap_or_default()
                        .to_owned(),
                    from: entries[entry].index,
                    call_index: entries[call].index,
                });
                Some(item)
            }
            Placed::Synthetic { call } => {
                let c = &entries[call];
                let id = c.call_id.as_deref().unwrap_or_default().to_owned();
                let text = self.opts.text_for(&id);
                let family = c.family.unwrap_or(Family::Function);
                let item = synthetic_item(self.format, family, &id, text);
                self.changes.push(Change::Inserted {
                    cancelled: self.opts.cancelled.contains(&id),
                    still_running: self.opts.running.contains(&id),
                    text: text.to_owned(),
                    call_id: id,
                    call_index: c.index,
                    item: item.clone(),
                });
                Some(item)
            }
        }
    }
}

/// Reads Chat or Anthropic messages; `read_message` turns one message object into its entries.
fn read_messages<'a>(
    messages: &'a [Value],
    adjacency: Adjacency,
    read_message: fn(&mut Vec<Entry<'a>>, &'a serde_json::Map<String, Value>, usize),
) -> Skeleton<'a> {
    let mut skel = Skeleton::new(adjacency);
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
    obj: &'a serde_json::Map<String, Value>,
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

/// Shows a note to the model as a short user message placed after the outputs that follow the
/// call `call_id` (Anthropic: a text block at the end of the user message holding its result),
/// so it never separates a call from an output. Returns false when the call is not in the body.
pub fn place_note(body: &mut Value, format: Format, call_id: &str, note: &str) -> bool {
    let Some(items) = list_mut(body, format) else {
        return false;
    };
    let (call_item, after_run) = {
        let skel = read_items(items, format);
        let Some(call) = skel
            .entries
            .iter()
            .position(|e| e.kind == Kind::Call && e.id() == Some(call_id))
        else {
            return false;
        };
        let m = skel.entries[call].index;
        // The first source item after the call's that is neither a call nor an output.
        let mut next = m + 1;
        for e in &skel.entries[call..] {
            if e.index < next {
                continue;
            }
            if e.index == next && matches!(e.kind, Kind::Call | Kind::Output) {
                next += 1;
            } else {
                break;
            }
        }
        (m, next)
    };
    match format {
        Format::Responses => items.insert(after_run, responses::user_message(note)),
        Format::Rollout => {
            let timestamp = items[after_run - 1].get("timestamp").cloned();
            let line = serde_json::json!({"timestamp": timestamp, "type": "response_item",
                                          "payload": responses::user_message(note)});
            items.insert(after_run, line);
        }
        Format::Chat => items.insert(
            after_run,
            serde_json::json!({"role": "user", "content": note}),
        ),
        Format::Anthropic => anthropic::append_text(items, call_item + 1, note),
    }
    true
}
