//! Codex rollout files (JSON Lines of `{"timestamp", "ordinal"?, "type", "payload"}`), read as
//! the history Codex sends when it resumes them, not as the concatenation of their items.
//!
//! - `response_item` lines are Responses items; `inter_agent_communication` lines are model
//!   input too.
//! - A `compacted` line with `replacement_history` replaces everything before it with that list;
//!   a legacy one without it keeps only the user messages, plus its `message` summary.
//! - An `event_msg` line `{"type": "thread_rolled_back", "num_turns": N}` drops the last N user
//!   turns, as Codex cuts them: at the Nth-last real user turn (a user message that is not
//!   contextual, such as `<environment_context>` or a `<turn_aborted>` marker; an agent message;
//!   an inter-agent communication), moved earlier over the contextual messages just before it.
//!   Rolling back more turns than there are keeps what precedes the first turn.
//!
//! Codex also picks its compaction base in a reverse pass over turn segments
//! (`task_started` / `task_complete` / `turn_aborted`), skipping a checkpoint inside a
//! rolled-back turn; then it replays the lines after that base in order, which applies a later
//! checkpoint and the rollback as the forward reading here does. The two differ only when the
//! newest checkpoint lies in a rolled-back turn and no older one survives, a case this reading
//! does not follow.
//!
//! An entry's `index` is its line (counting lines that hold JSON); an item inside a
//! `replacement_history` has `block = Some(position)`. Applying a plan edits those lines and
//! arrays and leaves every other line as it was.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::adapter::{Adapter, Edits};
use super::responses;
use super::text::{entry_of, Field, Items, LineView};
use crate::change::Change;
use crate::format::{Format, ReadError};
use crate::repair::{Placed, Plan, RepairOptions};
use crate::rules::Violation;
use crate::skeleton::{Adjacency, Entries, Entry, Family, Kind, Role, Skeleton};

/// The Codex rollout adapter: lines whose payloads are Responses items.
pub(super) struct Rollout;

impl Adapter for Rollout {
    fn format(&self) -> Format {
        Format::Rollout
    }

    fn list_key(&self) -> Option<&'static str> {
        None
    }

    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str> {
        (item.get("type").and_then(Value::as_str) == Some("response_item"))
            .then_some("rollout `response_item` lines")
    }

    fn read<'a>(&self, lines: &'a [Value]) -> Skeleton<'a> {
        let mut skel = Skeleton::new(Format::Rollout, Adjacency::AfterCall);
        skel.call_ids = responses::CALL_IDS;
        for (i, line) in lines.iter().enumerate() {
            push(&mut skel, effect(line, i), Entries::push);
        }
        skel
    }

    fn push(&self, skel: &mut Skeleton<'static>, line: &Value) -> Result<(), ReadError> {
        // A line may replace or cut the history before it, not only append.
        let index = skel.items;
        push(skel, effect(line, index), Entries::push_owned);
        Ok(())
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Value {
        responses::Responses.synthetic(family, call_id, text)
    }

    fn object_of<'v>(&self, line: &'v mut Value, e: &Entry) -> Option<&'v mut Map<String, Value>> {
        item_of(line, e.block())?.as_object_mut()
    }

    fn block_field(&self) -> &'static str {
        "replacement_history"
    }

    fn call_id_key(&self, e: &Entry) -> &'static str {
        responses::Responses.call_id_key(e)
    }

    fn apply(&self, lines: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        // In-place edits are laid out line by line with the rest, as `toolseq fix` streams them.
        self.rebuild(lines, edits)
    }

    fn rebuild(&self, lines: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        apply(lines, edits)
    }

    fn place_note(
        &self,
        lines: &mut Vec<Value>,
        _call_item: usize,
        after_run: usize,
        note: &str,
    ) -> bool {
        let timestamp = after_run
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .and_then(|l| l.get("timestamp"))
            .cloned();
        let line = json!({"timestamp": timestamp, "type": "response_item",
                          "payload": responses::user_message(note)});
        lines.insert(after_run, line);
        true
    }

    fn api_error(&self, v: &Violation) -> Option<String> {
        responses::api_error(v, &|i| self.location(i, None))
    }
}

/// What one rollout line does to the history.
#[derive(Debug)]
pub(super) enum Effect<'a> {
    /// Adds nothing (a line that is not model input).
    Nothing,
    /// Appends this entry.
    One(Entry<'a>),
    /// Replaces the history with these entries (a `compacted` line with `replacement_history`).
    Replace(Vec<Entry<'a>>),
    /// Keeps only the user messages, then appends this summary (a legacy `compacted` line).
    KeepUserMessages(Entry<'a>),
    /// Drops the last N user turns.
    RollBack(usize),
}

/// Applies the effect of a line read on its own (with index 0) as the next line.
pub(super) fn push_next(skel: &mut Skeleton<'static>, mut effect: Effect<'_>) {
    let index = skel.items;
    match &mut effect {
        Effect::One(e) | Effect::KeepUserMessages(e) => e.index = index,
        Effect::Replace(entries) => entries.iter_mut().for_each(|e| e.index = index),
        Effect::Nothing | Effect::RollBack(_) => {}
    }
    push(skel, effect, Entries::push_owned);
}

/// Applies one line's effect to a skeleton built line by line, adding each entry with `add`.
fn push<'a, 'b>(skel: &mut Skeleton<'a>, effect: Effect<'b>, add: fn(&mut Entries<'a>, Entry<'b>)) {
    skel.items += 1;
    match effect {
        Effect::Nothing => {}
        Effect::One(entry) => add(&mut skel.entries, entry),
        Effect::Replace(entries) => {
            skel.entries.clear();
            entries.into_iter().for_each(|e| add(&mut skel.entries, e));
        }
        Effect::KeepUserMessages(summary) => {
            skel.entries
                .retain(|e| e.kind() == Kind::Message(Role::User));
            add(&mut skel.entries, summary);
        }
        Effect::RollBack(turns) => {
            let starts: Vec<usize> = skel
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| TURN_STARTS.contains(&e.label()))
                .map(|(i, _)| i)
                .collect();
            let (Some(&first), true) = (starts.first(), turns > 0) else {
                return;
            };
            // More turns than there are: what precedes the first turn stays.
            let mut cut = starts.len().checked_sub(turns).map_or(first, |k| starts[k]);
            // Codex moves the cut over the context updates it wrote just before that turn.
            while cut > first && skel.entries.at(cut - 1).label() == CONTEXT {
                cut -= 1;
            }
            skel.entries.truncate(cut);
        }
    }
}

/// The label of a user message that starts a turn, as Codex counts turns.
const USER_TURN: &str = "user turn";

/// The label of a message Codex writes as context (`<environment_context>`, `<turn_aborted>`,
/// permissions and skills instructions): not a turn of its own.
const CONTEXT: &str = "contextual message";

/// Labels of the entries that start a user turn for Codex's rollback.
const TURN_STARTS: [&str; 3] = [USER_TURN, "inter_agent_communication", "agent_message"];

/// What line `i` does.
fn effect(line: &Value, i: usize) -> Effect<'_> {
    let mut effect = effect_of(LineView::of(line), i);
    label_turn(&mut effect, || line.get("payload").cloned());
    effect
}

/// Labels a message by what it is to Codex's turns, reading its text (`payload`, asked for only
/// for a message): a real user turn, context Codex wrote, or neither (a developer instruction,
/// an assistant message).
fn label_turn(effect: &mut Effect<'_>, payload: impl FnOnce() -> Option<Value>) {
    let Effect::One(entry) = effect else {
        return;
    };
    if entry.kind != Kind::Message(Role::User) {
        return;
    }
    let Some(item) = payload() else {
        return;
    };
    let text = first_text(&item);
    let role = item.get("role").and_then(Value::as_str);
    if text.is_some_and(is_context) {
        entry.label = CONTEXT;
    } else if role == Some("user") {
        entry.label = USER_TURN;
    }
}

/// The first text part of a message's content.
fn first_text(item: &Value) -> Option<&str> {
    match item.get("content")? {
        Value::String(s) => Some(s),
        Value::Array(parts) => parts.iter().find_map(|p| p.get("text")?.as_str()),
        _ => None,
    }
}

/// Whether a message's text is one of the fragments Codex writes as context: a whole
/// `<tag>…</tag>` wrapper (`<environment_context>`, `<turn_aborted>`, `<user_instructions>`,
/// `<permissions instructions>`, `<skills_instructions>`, …) or the AGENTS.md preamble.
fn is_context(text: &str) -> bool {
    let text = text.trim();
    if text.starts_with("# AGENTS.md instructions") {
        return true;
    }
    let Some(rest) = text.strip_prefix('<') else {
        return false;
    };
    let name_end = rest.find(['>', ' ', '\n']).unwrap_or(rest.len());
    let name = &rest[..name_end];
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && text.ends_with(&format!("</{name}>"))
        || text.starts_with("<permissions instructions>")
}

/// What line `i` does, from the fields reading it needs.
fn effect_of(line: LineView<'_>, i: usize) -> Effect<'_> {
    let malformed = |why| Effect::One(Entry::new(Kind::Malformed(why), i, None, "rollout line"));
    if !line.object {
        return malformed("rollout line is not a JSON object");
    }
    let Field::Str(t) = &line.ty else {
        return malformed("rollout line without a string `type`");
    };
    let payload = line.payload;
    match t.as_ref() {
        "response_item" => match payload {
            // Codex's agent message (model input written by another agent) starts a turn.
            Some(p) if p.item.ty.as_str() == Some("agent_message") => {
                Effect::One(Entry::new(Kind::Other, i, None, "agent_message"))
            }
            Some(p) => Effect::One(entry_of(p.item, i)),
            None => malformed("response_item without payload"),
        },
        "inter_agent_communication" => Effect::One(Entry::new(
            Kind::Message(Role::User),
            i,
            None,
            "inter_agent_communication",
        )),
        "compacted" => match payload.and_then(|p| p.replacement_history).map(|h| *h) {
            Some(Items::Entries(entries)) => Effect::Replace(
                entries
                    .into_iter()
                    .enumerate()
                    .map(|(k, mut e)| {
                        e.index = i;
                        e.at_block(Some(k))
                    })
                    .collect(),
            ),
            Some(Items::Text | Items::Other) => malformed("`replacement_history` is not an array"),
            None => Effect::KeepUserMessages(Entry::new(
                Kind::Message(Role::User),
                i,
                None,
                "compacted summary",
            )),
        },
        "event_msg" => match payload {
            Some(p) if p.item.ty.as_str() == Some("thread_rolled_back") => match p.num_turns {
                Some(n) => Effect::RollBack(usize::try_from(n).unwrap_or(usize::MAX)),
                None => malformed("thread_rolled_back without a number `num_turns`"),
            },
            _ => Effect::Nothing,
        },
        // Lines of Codex 0.171.0 that are not model input.
        "session_meta"
        | "turn_context"
        | "world_state"
        | "token_usage_record"
        | "security_risk_score"
        | "inter_agent_communication_metadata" => Effect::Nothing,
        // A line type of a later Codex: Codex itself skips what it cannot read.
        _ => Effect::Nothing,
    }
}

/// One line read from its text (see [`super::read_line`]): what it does, its ids borrowed from
/// the text.
pub(super) fn read_text(text: &str) -> Result<Effect<'_>, serde_json::Error> {
    let mut effect = effect_of(LineView::read(text)?, 0);
    // Only a message's line is read a second time, whole, for its text. Labelled in place: an
    // effect is as large as an entry, and each move of it is a copy.
    label_turn(&mut effect, || {
        let mut line: Value = serde_json::from_str(text).ok()?;
        line.get_mut("payload").map(Value::take)
    });
    Ok(effect)
}

/// What becomes of one line that a plan touches.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOut {
    /// The line stays as it is.
    Keep,
    /// The line goes (its item was removed or moved elsewhere).
    Drop,
    /// The line is replaced by this one (an item edited in place, a changed `replacement_history`).
    Replace(Value),
}

/// A plan laid out line by line: for each touched line, what becomes of it and which new lines
/// follow it. Lines not named are left as they are.
#[derive(Debug, Default)]
pub struct LinePlan {
    /// Touched lines, by line index.
    pub lines: HashMap<usize, (LineOut, Vec<Value>)>,
}

/// Which lines a plan touches: the caller fetches those (and only those) for [`plan_lines`].
pub fn touched_lines(skel: &Skeleton, plan: &Plan) -> HashSet<usize> {
    let at = |e: usize| skel.entries.at(e).index();
    let mut lines = HashSet::new();
    lines.extend(plan.removals.iter().map(|r| at(r.entry)));
    lines.extend(plan.edited_entries().map(at));
    for ins in &plan.inserts {
        lines.insert(at(ins.anchor));
        if let Placed::Moved { entry, .. } = ins.placed {
            lines.insert(at(entry));
        }
    }
    lines
}

/// Lays a plan out on the touched lines (`lines`, fetched by the caller, each a whole rollout
/// line) and returns what changed.
fn lay_out(mut lines: HashMap<usize, Value>, mut edits: Edits<'_>) -> (LinePlan, Vec<Change>) {
    let (skel, plan) = (edits.skel, edits.plan);
    let mut changes = Vec::new();
    // In-place edits first, while every item is where the plan saw it.
    let named: HashSet<usize> = plan.edited_entries().collect();
    for &e in &named {
        let entry = skel.entries.at(e);
        let item = lines
            .get_mut(&entry.index())
            .and_then(|line| item_of(line, entry.block()));
        if let Some(item) = item {
            // Inside the line, the item is a plain Responses item.
            changes.extend(super::adapter::edit_with(
                &responses::Responses,
                item,
                skel,
                plan,
                e,
            ));
        }
    }

    // Take out what leaves its place; array slots become null, dropped when the array is rebuilt.
    // A moved item takes its metadata along: the `metadata` key beside a line's payload, or its
    // slot of `replacement_history_metadata`.
    let mut moved: HashMap<usize, Placing> = HashMap::new();
    let mut dropped_lines: HashSet<usize> = HashSet::new();
    let mut dropped_slots: HashMap<usize, HashSet<usize>> = HashMap::new();
    for (e, entry) in skel.entries.iter().enumerate() {
        if !edits.leaves(e) {
            continue;
        }
        let Some(line) = lines.get_mut(&entry.index()) else {
            continue;
        };
        let (value, metadata) = match entry.block() {
            None => {
                dropped_lines.insert(entry.index());
                let metadata = line.get("metadata").cloned();
                (line.get_mut("payload").map(Value::take), metadata)
            }
            Some(k) => {
                dropped_slots.entry(entry.index()).or_default().insert(k);
                let metadata = metadata_slot(line, k).cloned();
                (item_of(line, Some(k)).map(Value::take), metadata)
            }
        };
        let Some(value) = value else { continue };
        if edits.moved.contains_key(&e) {
            moved.insert(e, (value, metadata));
        } else {
            edits.record_removal(e, value);
        }
    }

    // Place outputs after their anchors: in the anchor's array, or as new lines after its line.
    let mut new_lines: HashMap<usize, Vec<Value>> = HashMap::new();
    let mut in_array: HashMap<(usize, usize), Vec<Placing>> = HashMap::new();
    let adapter = edits.adapter;
    for (anchor, list) in std::mem::take(&mut edits.after) {
        let a = skel.entries.at(anchor);
        let timestamp = lines
            .get(&a.index())
            .and_then(|l| l.get("timestamp"))
            .cloned();
        for p in list {
            let placed = edits.place(
                anchor,
                p,
                &mut |e| moved.remove(&e),
                |family, id, text| Some((adapter.synthetic(family, id, text), None)),
                |(item, _)| item.clone(),
            );
            let Some((v, metadata)) = placed else {
                continue;
            };
            match a.block() {
                Some(k) => in_array
                    .entry((a.index(), k))
                    .or_default()
                    .push((v, metadata)),
                None => {
                    let mut line =
                        json!({"timestamp": timestamp, "type": "response_item", "payload": v});
                    if let Some(m) = metadata {
                        line["metadata"] = m;
                    }
                    new_lines.entry(a.index()).or_default().push(line);
                }
            }
        }
    }
    changes.extend(edits.changes);

    let arrays_grown: HashSet<usize> = in_array.keys().map(|&(l, _)| l).collect();
    let edited: HashSet<usize> = named.iter().map(|&e| skel.entries.at(e).index()).collect();
    let mut out = LinePlan::default();
    for (i, mut line) in lines {
        let array_changed = dropped_slots.contains_key(&i) || arrays_grown.contains(&i);
        let edited = edited.contains(&i);
        let what = if dropped_lines.contains(&i) {
            LineOut::Drop
        } else if array_changed {
            rebuild_array(&mut line, i, dropped_slots.get(&i), &mut in_array);
            LineOut::Replace(line)
        } else if edited {
            LineOut::Replace(line)
        } else {
            LineOut::Keep
        };
        out.lines
            .insert(i, (what, new_lines.remove(&i).unwrap_or_default()));
    }
    (out, changes)
}

/// The item an entry stands for inside its line: the payload, or a replacement history slot.
fn item_of(line: &mut Value, block: Option<usize>) -> Option<&mut Value> {
    let payload = line.get_mut("payload")?;
    match block {
        None => Some(payload),
        Some(k) => payload.get_mut("replacement_history")?.get_mut(k),
    }
}

/// An item on its way to a new place, with the metadata Codex keeps for it, if any.
type Placing = (Value, Option<Value>);

/// The metadata Codex keeps for slot `k` of a `compacted` line's replacement history.
fn metadata_slot(line: &Value, k: usize) -> Option<&Value> {
    line.get("payload")?
        .get("replacement_history_metadata")?
        .get(k)
}

/// What `replacement_history_metadata` holds for an item toolseq wrote: Codex's default.
fn new_item_metadata() -> Value {
    json!({"client_authored": false})
}

/// Rebuilds a `compacted` line's replacement history without its dropped slots and with the
/// items placed after each slot, and its `replacement_history_metadata` in step: Codex refuses a
/// line whose two arrays differ in length, and then resumes as if it had never compacted.
fn rebuild_array(
    line: &mut Value,
    i: usize,
    dropped: Option<&HashSet<usize>>,
    in_array: &mut HashMap<(usize, usize), Vec<Placing>>,
) {
    let Some(payload) = line.get_mut("payload").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(Value::Array(old)) = payload.get_mut("replacement_history").map(Value::take) else {
        return;
    };
    // Kept in step only when it was: an array of another length is Codex's to refuse as it is.
    let mut old_meta = match payload.get_mut("replacement_history_metadata") {
        Some(Value::Array(m)) if m.len() == old.len() => Some(std::mem::take(m).into_iter()),
        _ => None,
    };
    let mut new = Vec::with_capacity(old.len() + 1);
    let mut new_meta = Vec::with_capacity(old.len() + 1);
    for (k, item) in old.into_iter().enumerate() {
        let meta = old_meta.as_mut().and_then(Iterator::next);
        if !dropped.is_some_and(|d| d.contains(&k)) {
            new.push(item);
            new_meta.push(meta.unwrap_or(Value::Null));
        }
        for (placed, metadata) in in_array.remove(&(i, k)).unwrap_or_default() {
            new.push(placed);
            new_meta.push(metadata.unwrap_or_else(new_item_metadata));
        }
    }
    payload.insert("replacement_history".into(), Value::Array(new));
    if old_meta.is_some() {
        payload.insert(
            "replacement_history_metadata".into(),
            Value::Array(new_meta),
        );
    }
}

/// Lays a plan out on the touched lines of a rollout read line by line (see
/// [`touched_lines`]): `lines` holds those lines, parsed. Every other line stays as it is.
pub fn plan_lines(
    lines: HashMap<usize, Value>,
    skel: &Skeleton,
    plan: &Plan,
    opts: &RepairOptions,
) -> (LinePlan, Vec<Change>) {
    lay_out(lines, Edits::new(skel, plan, opts, &Rollout))
}

/// Applies a plan to the lines of a rollout held as a JSON array.
fn apply(lines: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
    let touched = touched_lines(edits.skel, edits.plan);
    let fetched: HashMap<usize, Value> = touched
        .iter()
        .filter_map(|&i| Some((i, lines.get(i)?.clone())))
        .collect();
    let (mut laid, changes) = lay_out(fetched, edits);
    let mut out = Vec::with_capacity(lines.len() + 4);
    for (i, line) in std::mem::take(lines).into_iter().enumerate() {
        match laid.lines.remove(&i) {
            None => out.push(line),
            Some((what, after)) => {
                match what {
                    LineOut::Keep => out.push(line),
                    LineOut::Drop => {}
                    LineOut::Replace(v) => out.push(v),
                }
                out.extend(after);
            }
        }
    }
    *lines = out;
    changes
}
