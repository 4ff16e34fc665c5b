//! Responses items and bodies, and Codex rollout lines, read straight from their JSON text
//! without building a `serde_json::Value`.
//!
//! Only the fields pairing reads are kept: strings are borrowed from the text when they hold no
//! escape, and every other value is skipped without being copied. The adapters read the same
//! views from a `Value` (`ItemView::of`, `LineView::of`), so both paths share one reading logic
//! and build the same skeleton.
//!
//! A line or item read on its own is first skimmed (`skim.rs`), which is faster and gives the
//! same view; what the skim declines is read here.
//!
//! Skipping a value is more lenient than building one in two ways serde_json allows: a skipped
//! string may hold a lone surrogate escape (`"\ud800"`), and a skipped value may nest deeper
//! than 128 levels. Neither is a field pairing reads.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::skeleton::{content, Entries, Entry, Family, Flaw, Kind, Role, Trace};

/// A field's value, as far as reading a history cares.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Field<'a> {
    /// The key is not there.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A string.
    Str(Cow<'a, str>),
    /// Any other value, by its JSON type name.
    Other(&'static str),
}

impl<'a> Field<'a> {
    pub(crate) fn of(v: Option<&'a Value>) -> Self {
        match v {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::String(s)) => Field::Str(Cow::Borrowed(s)),
            Some(other) => Field::Other(super::reading::json_type(other)),
        }
    }

    pub(crate) fn present(&self) -> bool {
        !matches!(self, Field::Absent)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A call id: absent or null is `None`, a string is kept, anything else is malformed.
    pub(crate) fn into_call_id(self) -> Result<Option<Cow<'a, str>>, ()> {
        match self {
            Field::Absent | Field::Null => Ok(None),
            Field::Str(s) => Ok(Some(s)),
            Field::Other(_) => Err(()),
        }
    }
}

/// What a function or custom call asks, which tells a call stored twice from another call
/// under its id: its `name`, `arguments` and `input`, hashed part by part, from their text or
/// from a `Value` alike ([`content::of_json_part`]); 0 when it shows none. Eight bytes: a
/// rollout line's view is copied as it is read. (A shell call's `action` object is not read:
/// parsed for every shell call of a rollout, it cost a fifth of the check.)
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Asks(u64);

impl Asks {
    /// The keys it reads, in the order of its parts.
    pub(crate) const KEYS: [&'static str; 3] = ["name", "arguments", "input"];

    /// Adds part `k` from its JSON text. Parts combine whatever order their keys come in.
    pub(crate) fn set(&mut self, k: usize, raw: &str) {
        self.0 ^= content::of_json_part(k as u8, raw);
    }

    fn of(obj: &Map<String, Value>) -> Self {
        let mut asks = Asks(0);
        for (k, key) in Self::KEYS.iter().enumerate() {
            if let Some(v) = obj.get(*key) {
                asks.0 ^= content::of_value_part(k as u8, v);
            }
        }
        asks
    }

    /// The hash of what the call asks; `None` when it shows none of the parts (or, once in
    /// 2^64, when they cancel out: then it is taken for a call of its own).
    fn content(self) -> Option<u64> {
        (self.0 != 0).then_some(self.0)
    }
}

/// The fields of a Responses item that pairing reads.
#[derive(Debug, Default)]
pub(crate) struct ItemView<'a> {
    /// Whether the item is a JSON object at all.
    pub object: bool,
    pub ty: Field<'a>,
    pub role: Field<'a>,
    pub call_id: Field<'a>,
    pub execution: Field<'a>,
    pub id: Field<'a>,
    pub approval_request_id: Field<'a>,
    /// A reasoning item's `encrypted_content`.
    pub encrypted_content: Field<'a>,
    /// Whether the item's `output` is a string (a computer call's output must be an object).
    pub output_is_string: bool,
    /// What a call asks.
    pub asks: Asks,
}

impl<'a> ItemView<'a> {
    pub(crate) fn of(item: &'a Value) -> Self {
        let Some(obj) = item.as_object() else {
            return ItemView::default();
        };
        let [ty, role, call_id, execution, id, approval, encrypted] = super::reading::fields(
            obj,
            [
                "type",
                "role",
                "call_id",
                "execution",
                "id",
                "approval_request_id",
                "encrypted_content",
            ],
        );
        ItemView {
            object: true,
            ty: Field::of(ty),
            role: Field::of(role),
            call_id: Field::of(call_id),
            execution: Field::of(execution),
            id: Field::of(id),
            approval_request_id: Field::of(approval),
            encrypted_content: Field::of(encrypted),
            output_is_string: obj.get("output").is_some_and(Value::is_string),
            asks: Asks::of(obj),
        }
    }

    /// Stores `key`'s value when the key is one an item view keeps; false otherwise.
    fn take<'de: 'a, A: MapAccess<'de>>(
        &mut self,
        key: &Key,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        let slot = match key {
            Key::Type => &mut self.ty,
            Key::Role => &mut self.role,
            Key::CallId => &mut self.call_id,
            Key::Execution => &mut self.execution,
            Key::Id => &mut self.id,
            Key::ApprovalRequestId => &mut self.approval_request_id,
            Key::EncryptedContent => &mut self.encrypted_content,
            Key::Output => {
                // Its text, neither decoded nor copied: an output may be megabytes, and one
                // with a lone surrogate escape is still read as the skipped value it was.
                let raw = map.next_value::<&serde_json::value::RawValue>()?;
                self.output_is_string = raw.get().starts_with('"');
                return Ok(true);
            }
            Key::Asks(_) | Key::Input => {
                let k = match key {
                    Key::Asks(k) => *k,
                    _ => 2,
                };
                let raw = map.next_value::<&serde_json::value::RawValue>()?;
                self.asks.set(k, raw.get());
                return Ok(true);
            }
            _ => return Ok(false),
        };
        *slot = map.next_value()?;
        Ok(true)
    }
}

/// A rollout line's `payload`: a Responses item, or what a `compacted` or `event_msg` line
/// carries.
#[derive(Debug, Default)]
pub(crate) struct Payload<'a> {
    pub item: ItemView<'a>,
    /// Boxed: only a `compacted` line has it, and every line's view is filled in place.
    pub replacement_history: Option<Box<Items<'a>>>,
    /// `num_turns`, when it is a non-negative integer.
    pub num_turns: Option<u64>,
}

impl<'a> Payload<'a> {
    fn of(p: &'a Value) -> Self {
        Payload {
            item: ItemView::of(p),
            replacement_history: p.get("replacement_history").map(|h| Box::new(Items::of(h))),
            num_turns: p.get("num_turns").and_then(Value::as_u64),
        }
    }
}

/// The fields of a rollout line that reading it needs.
#[derive(Debug, Default)]
pub(crate) struct LineView<'a> {
    pub object: bool,
    pub ty: Field<'a>,
    pub payload: Option<Payload<'a>>,
}

impl<'a> LineView<'a> {
    /// Reads a line from its text with serde_json.
    pub(super) fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        let mut line = LineView::default();
        let mut de = serde_json::Deserializer::from_str(text);
        de::DeserializeSeed::deserialize(InPlace(&mut line), &mut de)?;
        de.end()?;
        Ok(line)
    }

    pub(crate) fn of(line: &'a Value) -> Self {
        let Some(obj) = line.as_object() else {
            return LineView::default();
        };
        LineView {
            object: true,
            ty: Field::of(obj.get("type")),
            payload: obj.get("payload").map(Payload::of),
        }
    }
}

/// A list of Responses items (a body's `input`, a rollout line's `replacement_history`), read
/// into entries as it is parsed, so the items' views are never all held.
#[derive(Debug)]
pub(crate) enum Items<'a> {
    /// Each item's entry; its index is its position in the list.
    Entries(Entries<'a>),
    /// A plain string.
    Text,
    /// Anything else.
    Other,
}

impl<'a> Items<'a> {
    fn of(v: &'a Value) -> Self {
        match v {
            Value::Array(items) => Items::Entries(
                items
                    .iter()
                    .enumerate()
                    .map(|(k, item)| entry_of(ItemView::of(item), k))
                    .collect(),
            ),
            Value::String(_) => Items::Text,
            _ => Items::Other,
        }
    }
}

/// The top-level fields of a request body that reading a Responses body needs.
#[derive(Debug, Default)]
pub(crate) struct BodyView<'a> {
    pub input: Option<Items<'a>>,
    pub previous_response_id: Field<'a>,
    pub conversation: Field<'a>,
    pub model: Field<'a>,
    /// `thinking.type`.
    pub thinking_type: Field<'a>,
    /// `store`, when it is a boolean.
    pub store: Option<bool>,
}

/// The keys any view keeps; every other key's value is skipped.
enum Key {
    Type,
    Role,
    CallId,
    Execution,
    Id,
    ApprovalRequestId,
    EncryptedContent,
    Output,
    ReplacementHistory,
    NumTurns,
    Payload,
    Input,
    /// A part of what a call asks other than `input`, by its place in [`Asks::KEYS`].
    Asks(usize),
    PreviousResponseId,
    Conversation,
    Model,
    Thinking,
    Store,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "type" => Key::Type,
                    "role" => Key::Role,
                    "call_id" => Key::CallId,
                    "execution" => Key::Execution,
                    "id" => Key::Id,
                    "approval_request_id" => Key::ApprovalRequestId,
                    "encrypted_content" => Key::EncryptedContent,
                    "output" => Key::Output,
                    "store" => Key::Store,
                    "replacement_history" => Key::ReplacementHistory,
                    "num_turns" => Key::NumTurns,
                    "payload" => Key::Payload,
                    "input" => Key::Input,
                    "name" => Key::Asks(0),
                    "arguments" => Key::Asks(1),
                    "previous_response_id" => Key::PreviousResponseId,
                    "conversation" => Key::Conversation,
                    "model" => Key::Model,
                    "thinking" => Key::Thinking,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements a visitor that reads any JSON value: `$scalar` is what a string, number, boolean
/// or null becomes, `$seq` and `$map` handle arrays and objects.
macro_rules! any_value {
    ($ty:ty, $expect:expr, scalar: $scalar:expr) => {
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str($expect)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$ty, E> {
            Ok($scalar("boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$ty, E> {
            Ok($scalar("number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$ty, E> {
            Ok($scalar("number"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
            Ok($scalar("null"))
        }
    };
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field<'de>;
            any_value!(Field<'de>, "any value", scalar: |t| if t == "null" { Field::Null } else { Field::Other(t) });
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field<'de>, E> {
                Ok(Field::Other("number"))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field<'de>, A::Error> {
                drain_seq(seq).map(|()| Field::Other("array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
                drain_map(map).map(|()| Field::Other("object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `num_turns`: a non-negative integer, or nothing usable.
struct Turns(Option<u64>);

impl<'de> Deserialize<'de> for Turns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Turns;
            any_value!(Turns, "any value", scalar: |_| Turns(None));
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Turns, E> {
                Ok(Turns(Some(n)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Turns, E> {
                Ok(Turns(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Turns, A::Error> {
                drain_seq(seq).map(|()| Turns(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Turns, A::Error> {
                drain_map(map).map(|()| Turns(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Implements a visitor for a view that only an object fills: any other value gives the
/// view's default (`object: false`).
macro_rules! object_view {
    ($ty:ty, $expect:expr) => {
        any_value!($ty, $expect, scalar: |_| <$ty>::default());
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$ty, E> {
            Ok(<$ty>::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$ty, E> {
            Ok(<$ty>::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<$ty, A::Error> {
            drain_seq(seq).map(|()| <$ty>::default())
        }
    };
}

impl<'de> Deserialize<'de> for ItemView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ItemView<'de>;
            object_view!(ItemView<'de>, "a Responses item");
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemView<'de>, A::Error> {
                let mut item = ItemView {
                    object: true,
                    ..ItemView::default()
                };
                while let Some(key) = map.next_key::<Key>()? {
                    if !item.take(&key, &mut map)? {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(item)
            }
        }
        d.deserialize_any(V)
    }
}

/// A view read in place through [`InPlace`]: emptied, then filled key by key when the value is
/// an object; any other value leaves it empty.
trait Fill<'de>: Default {
    /// What the view reads, for serde's messages.
    const WHAT: &'static str;
    /// Notes that the value is an object.
    fn open(&mut self);
    /// Reads the value of `key`, kept or skipped.
    fn member<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error>;
}

/// Reads a view into the one its caller holds: a rollout line's view is a few hundred bytes,
/// and returning it by value through each layer of the parse copied it three times per line,
/// a seventh of the time of checking a rollout.
struct InPlace<'v, T>(&'v mut T);

impl<'de, T: Fill<'de>> de::DeserializeSeed<'de> for InPlace<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'v, T>(&'v mut T);
        impl<'de, T: Fill<'de>> Visitor<'de> for V<'_, T> {
            type Value = ();
            object_view!((), T::WHAT);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                self.0.open();
                while let Some(key) = map.next_key::<Key>()? {
                    self.0.member(key, &mut map)?;
                }
                Ok(())
            }
        }
        *self.0 = T::default();
        d.deserialize_any(V(self.0))
    }
}

impl<'de> Fill<'de> for Payload<'de> {
    const WHAT: &'static str = "a rollout payload";

    fn open(&mut self) {
        self.item.object = true;
    }

    fn member<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::ReplacementHistory => self.replacement_history = map.next_value()?,
            Key::NumTurns => self.num_turns = map.next_value::<Turns>()?.0,
            _ => {
                if !self.item.take(&key, map)? {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl<'de> Fill<'de> for LineView<'de> {
    const WHAT: &'static str = "a rollout line";

    fn open(&mut self) {
        self.object = true;
    }

    fn member<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::Type => self.ty = map.next_value()?,
            Key::Payload => {
                map.next_value_seed(InPlace(self.payload.get_or_insert_with(Payload::default)))?
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Items<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Items<'de>;
            any_value!(Items<'de>, "a list of items", scalar: |_| Items::Other);
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Items<'de>, E> {
                Ok(Items::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Items<'de>, E> {
                Ok(Items::Text)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items<'de>, A::Error> {
                let mut entries = Entries::new();
                while let Some(item) = seq.next_element()? {
                    entries.push(entry_of(item, entries.len()));
                }
                // Up to half of a grown vector is spare: on a large body, tens of megabytes.
                entries.shrink_to_fit();
                Ok(Items::Entries(entries))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Items<'de>, A::Error> {
                drain_map(map).map(|()| Items::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for BodyView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BodyView<'de>;
            object_view!(BodyView<'de>, "a request body");
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BodyView<'de>, A::Error> {
                let mut body = BodyView::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Input => body.input = Some(map.next_value()?),
                        Key::PreviousResponseId => body.previous_response_id = map.next_value()?,
                        Key::Conversation => body.conversation = map.next_value()?,
                        Key::Model => body.model = map.next_value()?,
                        // Of `thinking`, only its `type` is kept.
                        Key::Thinking => body.thinking_type = map.next_value::<ItemView>()?.ty,
                        // A few bytes: read whole, so that any value is accepted.
                        Key::Store => body.store = map.next_value::<Value>()?.as_bool(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(body)
            }
        }
        d.deserialize_any(V)
    }
}

/// Kind, family, wire label and call-id field of a pairing item type (the table in
/// `DESIGN.md`, "Pairing families").
pub(super) fn pairing(t: &str) -> Option<(Kind, Family, &'static str, &'static str)> {
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
pub(super) fn server_executed(t: &str) -> Option<&'static str> {
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

/// The entry of an item at index `i`, from the fields pairing reads.
pub(super) fn entry_of(item: ItemView<'_>, i: usize) -> Entry<'_> {
    let malformed = |why| Entry::new(Kind::Malformed(why), i, None, "item");
    if !item.object {
        return malformed("item is not a JSON object");
    }
    let ItemView {
        ty,
        role,
        call_id,
        execution,
        id,
        approval_request_id,
        encrypted_content,
        output_is_string,
        asks,
        ..
    } = item;
    let has_id = matches!(id, Field::Str(_));
    let t = match &ty {
        Field::Str(t) => t.as_ref(),
        Field::Absent if role.present() => "message",
        // The API accepts an item reference without its `type`.
        Field::Absent if has_id => "item_reference",
        Field::Absent => return malformed("item has neither `type` nor `role`"),
        _ => return malformed("item `type` is not a string"),
    };
    if t == "message" {
        let entry = match role.as_str() {
            Some("assistant") => Entry::new(Kind::Message(Role::Assistant), i, None, "message"),
            Some(_) => Entry::new(Kind::Message(Role::User), i, None, "message"),
            None => return malformed("message without a string `role`"),
        };
        return entry.with_item_id(id.into_str());
    }
    if t == "item_reference" {
        return Entry::new(Kind::Reference, i, None, "item_reference").with_item_id(id.into_str());
    }
    if t == "reasoning" {
        let trace = Trace {
            reasoning: matches!(encrypted_content, Field::Str(_)),
            ..Trace::default()
        };
        return Entry::new(Kind::Reasoning, i, None, "reasoning")
            .with_item_id(id.into_str())
            .with_trace(trace);
    }
    let Some((kind, family, label, key)) = pairing(t) else {
        let label = server_executed(t).unwrap_or("item");
        return Entry::new(Kind::Other, i, None, label).with_item_id(id.into_str());
    };
    // Server-executed tool search pairs with nothing.
    if family == Family::ToolSearch && execution.as_str() == Some("server") {
        return Entry::new(Kind::Other, i, None, label).with_item_id(id.into_str());
    }
    // An `id` that is the call id (local shell output, MCP approval request) counts as a call id.
    let (id_field, item_id) = match key {
        "call_id" => (call_id, id.into_str()),
        "id" => (id, None),
        _ => (approval_request_id, id.into_str()),
    };
    // "Invalid type for 'input[0].output': expected a computer call output, but got a string
    // instead.": known whether or not its call is in sight.
    let flaw = (family == Family::Computer && kind == Kind::Output && output_is_string)
        .then_some(Flaw::OutputShape);
    match id_field.into_call_id() {
        Ok(cid) => Entry::paired(kind, family, cid, i, None, label)
            .with_item_id(item_id)
            .with_flaw(flaw)
            // What a function or custom call asks, as a typed history tells it too.
            .with_content(match label {
                "function_call" | "custom_tool_call" => asks.content(),
                _ => None,
            }),
        Err(()) => Entry::new(
            Kind::Malformed("the call id is not a string"),
            i,
            None,
            label,
        ),
    }
}
