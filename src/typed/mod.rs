//! Typed histories: check and repair the client's own items, without building a
//! `serde_json::Value` of the whole history first.
//!
//! A client that holds its history as typed items (async-openai's, or an enum of its own, as a
//! Codex fork does) implements [`HistoryItem`] for its item type: how an item reads for pairing,
//! and how to make and edit the few items a repair touches. The same rules and the same repair
//! plan as the JSON path then run on the items themselves, and the report is the same.
//!
//! ```
//! use std::borrow::Cow;
//! use serde::Serialize;
//! use toolseq::typed::{self, labels::responses as labels, Entries, Entry, Family, HistoryItem, Kind, Role};
//! use toolseq::{Format, Rule};
//!
//! #[derive(Serialize, Debug, PartialEq)]
//! #[serde(tag = "type", rename_all = "snake_case")]
//! enum Item {
//!     Message { role: String, content: String },
//!     FunctionCall { call_id: String, name: String, arguments: String },
//!     FunctionCallOutput { call_id: String, output: String },
//! }
//!
//! impl HistoryItem for Item {
//!     const FORMAT: Format = Format::Responses;
//!
//!     fn read<'a>(&'a self, index: usize, out: &mut Entries<'a>) {
//!         out.push(match self {
//!             Item::Message { role, .. } if role == "assistant" => {
//!                 Entry::new(Kind::Message(Role::Assistant), index, None, labels::MESSAGE)
//!             }
//!             Item::Message { .. } => Entry::new(Kind::Message(Role::User), index, None, labels::MESSAGE),
//!             // What it asks, so that a call stored twice is told from another call.
//!             Item::FunctionCall { call_id, name, arguments } => Entry::paired(
//!                 Kind::Call, Family::Function, Some(Cow::Borrowed(call_id)), index, None,
//!                 labels::FUNCTION_CALL).with_call(name, arguments),
//!             Item::FunctionCallOutput { call_id, .. } => Entry::paired(
//!                 Kind::Output, Family::Function, Some(Cow::Borrowed(call_id)), index, None,
//!                 labels::FUNCTION_CALL_OUTPUT),
//!         });
//!     }
//!
//!     fn synthetic(_family: Family, call_id: &str, text: &str) -> Option<Self> {
//!         Some(Item::FunctionCallOutput { call_id: call_id.into(), output: text.into() })
//!     }
//! }
//!
//! let mut history = vec![
//!     Item::FunctionCall { call_id: "call_1".into(), name: "shell".into(), arguments: "{}".into() },
//!     Item::Message { role: "user".into(), content: "never mind".into() },
//! ];
//! assert_eq!(typed::check(&history).violations[0].rule, Rule::MissingOutput);
//! let report = typed::repair(&mut history, &Default::default())?;
//! assert_eq!(report.changes.len(), 1);
//! assert_eq!(history[1], Item::FunctionCallOutput { call_id: "call_1".into(), output: "aborted".into() });
//! assert!(typed::check(&history).is_clean());
//! // The same labels as the JSON path: the same report.
//! let json = toolseq::check(&serde_json::to_value(&history).unwrap(), None)?;
//! assert_eq!(json.violations, typed::check(&history).violations);
//! # Ok::<(), toolseq::Error>(())
//! ```

#[cfg(feature = "async-openai")]
mod async_openai;

/// The labels (wire names) an entry carries, as the JSON adapters write them. A typed history
/// gives its entries the same, so that its report reads as the JSON path's, field for field.
///
/// The rule, in one line per format:
/// - Responses: the item's `type` (`message`, `function_call`, `function_call_output`,
///   `reasoning`, `item_reference`, …).
/// - Chat Completions: `tool_calls` for each call of an assistant message, `assistant` for the
///   text beside them, `tool` for a tool message, the role for any other message (`user`,
///   `system`, `developer`), `message` for a role the API does not name.
/// - Anthropic Messages: the block's `type` for tool blocks (`tool_use`, `tool_result`,
///   `server_tool_use`, …), `message` for a message's text.
///
/// ```
/// use toolseq::typed::labels;
/// assert_eq!(labels::chat::CALL, "tool_calls");
/// assert_eq!(labels::responses::FUNCTION_CALL, "function_call");
/// ```
pub mod labels {
    /// Responses items: the item's `type`.
    pub mod responses {
        /// A message of any role.
        pub const MESSAGE: &str = "message";
        /// A function call.
        pub const FUNCTION_CALL: &str = "function_call";
        /// A function call's output.
        pub const FUNCTION_CALL_OUTPUT: &str = "function_call_output";
        /// A custom tool call.
        pub const CUSTOM_TOOL_CALL: &str = "custom_tool_call";
        /// A custom tool call's output.
        pub const CUSTOM_TOOL_CALL_OUTPUT: &str = "custom_tool_call_output";
        /// A reasoning item.
        pub const REASONING: &str = "reasoning";
        /// A reference to a stored item.
        pub const ITEM_REFERENCE: &str = "item_reference";
    }

    /// Chat Completions messages.
    pub mod chat {
        /// Each call of an assistant message's `tool_calls`.
        pub const CALL: &str = "tool_calls";
        /// The text of an assistant message (beside its calls, or alone).
        pub const ASSISTANT: &str = "assistant";
        /// A tool message: a call's output.
        pub const TOOL: &str = "tool";
        /// The user's message.
        pub const USER: &str = "user";
        /// A system message.
        pub const SYSTEM: &str = "system";
        /// A developer message.
        pub const DEVELOPER: &str = "developer";
        /// A message of a role the API does not name.
        pub const MESSAGE: &str = "message";
        /// A legacy `function` message.
        pub const FUNCTION: &str = "function";
    }

    /// Anthropic Messages blocks.
    pub mod anthropic {
        /// A client tool call.
        pub const TOOL_USE: &str = "tool_use";
        /// A client tool's result.
        pub const TOOL_RESULT: &str = "tool_result";
        /// A message's text.
        pub const MESSAGE: &str = "message";
    }
}

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

use crate::change::Change;
use crate::error::Error;
use crate::format::{Detection, Format};
use crate::repair::{Field, Plan, RepairOptions};
use crate::report::Report;
use crate::skeleton::Skeleton;
/// What a [`HistoryItem`] reads its items into: entries of calls, outputs and messages.
pub use crate::skeleton::{Entries, Entry, Family, Kind, Role};
use crate::wire::items::{self, ItemOps};
use crate::wire::{self, Edits};

/// An item of a typed history: what pairing needs to read of it, and the few edits a repair
/// makes. Every edit has a default that declines it; a repair the item type cannot hold is left
/// undone and its violation stays in the report.
///
/// `Serialize` gives the report its JSON copy of the items a repair removes or inserts.
pub trait HistoryItem: Serialize + Sized {
    /// The API the history is sent to, whose rules it is checked against. Formats whose outputs
    /// are items of their own ([`Format::Responses`], [`Format::Chat`]) can be repaired; the
    /// others, whose outputs are blocks inside messages, can only be checked.
    const FORMAT: Format;

    /// Pushes the entries this item, the `index`th of the history, stands for: one for most
    /// items, one per call for a message holding calls (with its `block`), as the format's JSON
    /// adapter reads the item's serialisation. A call says what it asks with
    /// [`Entry::with_call`] (its name and arguments), as the JSON path reads it: a copy of a
    /// call stored twice in its turn is then removed as the JSON path removes it; without it, a
    /// second call under an id is always a call of its own.
    fn read<'a>(&'a self, index: usize, out: &mut Entries<'a>);

    /// The output a repair inserts for an unanswered call of this family, saying `text`; `None`
    /// when the item type has none.
    fn synthetic(family: Family, call_id: &str, text: &str) -> Option<Self>;

    /// A short user message saying `text` (a late output shown to the model by the guard).
    fn note(_text: &str) -> Option<Self> {
        None
    }

    /// Replaces the call id of the call or output `entry` stands for, returning the old one.
    fn set_call_id(&mut self, _entry: &Entry<'_>, _id: &str) -> Option<String> {
        None
    }

    /// Removes the server item id (`fc_…`, `msg_…`) of what `entry` stands for, returning it.
    fn remove_item_id(&mut self, _entry: &Entry<'_>) -> Option<Value> {
        None
    }

    /// Removes a present but empty list of calls (Chat `tool_calls: []`), returning it.
    fn remove_empty_call_list(&mut self) -> Option<Value> {
        None
    }

    /// Removes the call at `block` of a message holding several, returning it. Blocks of one
    /// item are removed from the last to the first.
    fn remove_block(&mut self, _block: usize) -> Option<Value> {
        None
    }

    /// Whether the item has nothing left to send once blocks were removed (an assistant message
    /// that held only the removed calls): it is then dropped.
    fn is_vacant(&self) -> bool {
        false
    }
}

/// Reads a typed history into a skeleton. `opts` says which model's rules apply and whether the
/// history continues one stored server-side.
pub fn read<'a, T: HistoryItem>(
    history: &'a [T],
    opts: &RepairOptions,
) -> Result<(Skeleton<'a>, Option<crate::profile::Selection>), Error> {
    let mut skel = skeleton(history);
    if opts.server_history {
        skel.server_history = Some("server_history");
    }
    let selection = crate::profile::fit(
        &mut skel,
        &Value::Null,
        T::FORMAT,
        opts.model.as_deref(),
        opts.thought_signature_bypass,
    )?;
    skel.placeholders = opts.placeholders;
    Ok((skel, selection))
}

fn skeleton<T: HistoryItem>(history: &[T]) -> Skeleton<'_> {
    let mut skel = wire::empty_skeleton(T::FORMAT);
    skel.items = history.len();
    // A message with parallel calls reads into an entry per call: room for half again as many
    // entries as items spares copying the whole vector when it grows, and room never written
    // takes no memory.
    skel.entries.reserve(history.len() + history.len() / 2);
    for (i, item) in history.iter().enumerate() {
        item.read(i, &mut skel.entries);
    }
    skel
}

/// Checks a typed history against every pairing rule of its format.
pub fn check<T: HistoryItem>(history: &[T]) -> Report {
    crate::pipeline::analyzed(skeleton(history), detection::<T>(), None).report
}

/// [`check`] with the model's rules ([`RepairOptions::model`]) and a history continuing one
/// stored server-side ([`RepairOptions::server_history`]).
pub fn check_with<T: HistoryItem>(history: &[T], opts: &RepairOptions) -> Result<Report, Error> {
    Ok(crate::pipeline::judge(history, detection::<T>(), opts)?.report)
}

/// What a typed history's report says of its format.
fn detection<T: HistoryItem>() -> Detection {
    Detection {
        format: T::FORMAT,
        evidence: "typed history",
    }
}

/// Checks and repairs a typed history in place, as [`repair`](crate::repair()) does a body:
/// synthetic outputs for unanswered calls, misplaced outputs moved next to their call, orphan
/// and duplicate outputs removed (and returned, as JSON, in the report).
///
/// Refused, with the history untouched, for a format whose outputs are blocks inside messages.
pub fn repair<T: HistoryItem>(history: &mut Vec<T>, opts: &RepairOptions) -> Result<Report, Error> {
    if !repairable(T::FORMAT) {
        return Err(unrepairable(T::FORMAT));
    }
    crate::pipeline::run(history, detection::<T>(), opts, true)
}

/// Whether typed histories of this format can be repaired item by item.
pub(crate) fn repairable(format: Format) -> bool {
    matches!(format, Format::Responses | Format::Chat)
}

pub(crate) fn unrepairable(format: Format) -> Error {
    Error::Unsupported(format!(
        "a typed {format} history can be checked but not repaired: its outputs are blocks inside messages"
    ))
}

/// Applies a plan made on `skel` (detached, read from `history`) to the history.
pub(crate) fn apply<T: HistoryItem>(
    history: &mut Vec<T>,
    skel: &Skeleton,
    plan: &Plan,
    opts: &RepairOptions,
) -> Vec<Change> {
    let mut changes = edit_in_place(history, skel, plan);
    if plan.moves_items() {
        changes.extend(items::rebuild(
            history,
            Edits::new(skel, plan, opts, T::FORMAT.adapter()),
            &Typed,
        ));
    }
    changes
}

fn edit_in_place<T: HistoryItem>(history: &mut [T], skel: &Skeleton, plan: &Plan) -> Vec<Change> {
    let mut changes = Vec::new();
    // Entry by entry, each entry's edits together, in the order the JSON path makes them.
    let mut rewrites: HashMap<usize, Vec<&crate::repair::Rewrite>> = HashMap::new();
    for r in &plan.rewrites {
        rewrites.entry(r.entry).or_default().push(r);
    }
    let mut strips: HashMap<usize, Vec<&crate::repair::Strip>> = HashMap::new();
    for s in &plan.strips {
        strips.entry(s.entry).or_default().push(s);
    }
    let mut done = std::collections::HashSet::new();
    for entry in plan.edited_entries() {
        if !done.insert(entry) {
            continue;
        }
        let e = &skel.entries.at(entry).to_entry();
        for r in rewrites.remove(&entry).unwrap_or_default() {
            if let Some(old) = history
                .get_mut(e.index)
                .and_then(|item| item.set_call_id(e, &r.new_id))
            {
                changes.push(Change::Rewritten {
                    from: old,
                    to: r.new_id.clone(),
                    rule: r.rule,
                    index: e.index,
                    block: e.block(),
                });
            }
        }
        for s in strips.remove(&entry).unwrap_or_default() {
            let Some(item) = history.get_mut(e.index) else {
                continue;
            };
            let (value, field) = match s.field {
                Field::ItemId => (item.remove_item_id(e), "id"),
                Field::EmptyCallList => (item.remove_empty_call_list(), "tool_calls"),
            };
            if let Some(value) = value {
                changes.push(Change::Stripped {
                    field,
                    value,
                    rule: s.rule,
                    index: e.index,
                });
            }
        }
    }
    changes
}

/// The typed item's own edits, for laying a plan out.
struct Typed;

impl<T: HistoryItem> ItemOps<T> for Typed {
    fn remove_block(&self, item: &mut T, block: usize) -> Option<Value> {
        item.remove_block(block)
    }

    fn is_vacant(&self, item: &T) -> bool {
        item.is_vacant()
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Option<T> {
        T::synthetic(family, call_id, text)
    }

    fn json(&self, item: &T) -> Value {
        serde_json::to_value(item).unwrap_or(Value::Null)
    }
}

/// Shows `note` to the model as a user message after the outputs that follow the call
/// `call_id`. False when the call is not in the history or the item type has no notes.
pub(crate) fn place_note<T: HistoryItem>(history: &mut Vec<T>, call_id: &str, note: &str) -> bool {
    let Some((_, after_run)) = wire::note_slot(&skeleton(history), call_id) else {
        return false;
    };
    match T::note(note) {
        Some(item) => {
            history.insert(after_run, item);
            true
        }
        None => false,
    }
}

// The pipeline reads and writes a typed history through these.
impl<T: HistoryItem> crate::pipeline::History for [T] {
    fn read(
        &self,
        opts: &RepairOptions,
    ) -> Result<(Skeleton<'_>, Option<crate::profile::Selection>), Error> {
        read(self, opts)
    }
}

impl<T: HistoryItem> crate::pipeline::History for Vec<T> {
    fn read(
        &self,
        opts: &RepairOptions,
    ) -> Result<(Skeleton<'_>, Option<crate::profile::Selection>), Error> {
        read(self, opts)
    }
}

impl<T: HistoryItem> crate::pipeline::Target for Vec<T> {
    fn apply(&mut self, skel: &Skeleton, plan: &Plan, opts: &RepairOptions) -> Vec<Change> {
        apply(self, skel, plan, opts)
    }

    fn place_note(&mut self, call_id: &str, note: &str) -> bool {
        place_note(self, call_id, note)
    }
}

// Written here, beside the typed repair it runs, so that the report does not import it back.
impl Report {
    /// [`apply_to`](Report::apply_to) for a typed history ([`crate::typed`]): the same repairs,
    /// made on the client's own items. A late output delivered as a note is not stored, the
    /// item type having no way to say where it goes.
    pub fn apply_to_typed<T: HistoryItem>(
        &self,
        stored: &mut Vec<T>,
    ) -> Result<Report, crate::Error> {
        repair(stored, &self.replay_options())
    }
}
