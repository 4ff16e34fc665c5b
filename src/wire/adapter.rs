//! The interface every wire format implements, and the plan laid out for it.
//!
//! An adapter reads its format's items into a [`Skeleton`], says which items only it holds,
//! lays a [`Plan`] out on its items, makes the synthetic output a call of its format is answered
//! with, and words the API's refusals. Everything else in toolseq works on the skeleton and the
//! plan, so adding a format is one file implementing [`Adapter`] and a line in
//! [`Format::adapter`](crate::Format).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::change::Change;
use crate::format::{Format, ReadError};
use crate::repair::{Placed, Plan, RepairOptions};
use crate::rules::{Rule, Violation};
use crate::skeleton::{Entry, Family, Skeleton};

/// One wire format.
pub(crate) trait Adapter: Sync {
    /// The format this adapter reads.
    fn format(&self) -> Format;

    /// The field of a request body that holds the history (`input`, `messages`, `contents`);
    /// `None` when the format is only ever a bare list (rollout lines).
    fn list_key(&self) -> Option<&'static str>;

    /// Whether the list field may instead hold a plain string (Responses `input`): one user
    /// message, with nothing to pair.
    fn text_history(&self) -> bool {
        false
    }

    /// Evidence, from a request body's top-level fields alone, that it is of this format
    /// (Responses `input`, Gemini `contents`). Tried before any item is looked at.
    fn claims_body(&self, _body: &Map<String, Value>) -> Option<&'static str> {
        None
    }

    /// Evidence, from one item of a history, that only this format holds such an item.
    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str>;

    /// Weaker evidence from a body's top-level fields, used when no item decided (Anthropic
    /// `system`, Bedrock `inferenceConfig`).
    fn hints_body(&self, _body: &Map<String, Value>) -> Option<&'static str> {
        None
    }

    /// Reads a list of items into a skeleton.
    fn read<'a>(&self, items: &'a [Value]) -> Skeleton<'a>;

    /// Adds what the body around the list says (Responses: a stored history it continues).
    fn read_body(&self, _body: &Value, _skel: &mut Skeleton<'_>) {}

    /// Appends one item to a skeleton built incrementally. A format whose items cannot be read
    /// one at a time (Gemini pairs responses without ids by position in the call turn) refuses.
    fn push(&self, skel: &mut Skeleton<'static>, item: &Value) -> Result<(), ReadError> {
        let index = skel.items;
        let one = self.read(std::slice::from_ref(item));
        for (k, e) in one.entries.iter().enumerate() {
            // A row keeps no content: the item's own entries still know theirs.
            let e = Entry {
                index,
                ..e.to_entry()
            };
            skel.entries
                .push_owned(e.with_content(one.entries.content_of(k)));
        }
        skel.items += 1;
        Ok(())
    }

    /// Whether items can be read one at a time with [`push`](Adapter::push).
    fn incremental(&self) -> bool {
        true
    }

    /// Whether each item is one call, output or message and a repair only removes, inserts or
    /// edits whole items, so that items can be rewritten one at a time.
    fn flat(&self) -> bool {
        false
    }

    /// The output a repair inserts for a call of this family.
    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Value;

    /// The field of an item holding the blocks an entry's `block` counts (`content`,
    /// `tool_calls`, `parts`, `replacement_history`).
    fn block_field(&self) -> &'static str;

    /// The JSON object an entry stands for inside its source item: the item itself, or the
    /// block it counts (a Chat tool call, a content block).
    fn object_of<'v>(&self, item: &'v mut Value, e: &Entry) -> Option<&'v mut Map<String, Value>> {
        match e.block() {
            Some(b) => item
                .get_mut(self.block_field())?
                .get_mut(b)?
                .as_object_mut(),
            None => item.as_object_mut(),
        }
    }

    /// The field of that object holding the call id.
    fn call_id_key(&self, e: &Entry) -> &'static str;

    /// Puts [`BYPASS_SIGNATURE`](crate::profile::BYPASS_SIGNATURE) on the call at `e` as its
    /// thought signature and returns the field it went in; `None` where the format carries no
    /// signatures.
    fn sign(&self, _item: &mut Value, _e: &Entry) -> Option<&'static str> {
        None
    }

    /// Puts a placeholder for what only the model could write on the item holding the call at
    /// `e`, and returns the field; `None` where the format has none.
    fn placeholder(&self, _item: &mut Value, _e: &Entry) -> Option<&'static str> {
        None
    }

    /// Gives the output at `e` the shape the API documents and returns the field rewritten;
    /// `None` where the format has no such repair.
    fn reshape(&self, _item: &mut Value, _e: &Entry) -> Option<&'static str> {
        None
    }

    /// Applies a plan made on `skel` to the items: in-place edits first, then what moves.
    fn apply(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        let mut changes = edit_in_place(self, items, edits.skel, edits.plan);
        if edits.plan.moves_items() {
            changes.extend(self.rebuild(items, edits));
        }
        changes
    }

    /// Removes, moves and inserts what `edits` says; every other item stays as it is.
    fn rebuild(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change>;

    /// Puts a short user note at `after_run`, the first item after the call at `call_item`
    /// and the outputs that follow it, where it separates no call from its output. False when
    /// the format has no such place.
    fn place_note(
        &self,
        items: &mut Vec<Value>,
        call_item: usize,
        after_run: usize,
        note: &str,
    ) -> bool;

    /// Where an item (and a block inside it) sits, as a JSON-path-like location
    /// (`messages[2].content[0]`; a bare list of rollout lines counts `item`s).
    fn location(&self, index: usize, block: Option<usize>) -> String {
        let list = self.list_key().unwrap_or("item");
        match block {
            Some(b) => format!("{list}[{index}].{}[{b}]", self.block_field()),
            None => format!("{list}[{index}]"),
        }
    }

    /// The error the API answers for this violation, in its own words; `None` where it is not
    /// known to refuse it with a specific message.
    fn api_error(&self, v: &Violation) -> Option<String>;
}

/// A plan laid out for an adapter: what leaves each entry, and what goes after each anchor.
pub(crate) struct Edits<'a> {
    pub skel: &'a Skeleton<'a>,
    pub plan: &'a Plan,
    opts: &'a RepairOptions,
    pub(super) adapter: &'a dyn Adapter,
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
    /// Whether the caller opted in to placeholders.
    pub(super) fn placeholders(&self) -> bool {
        self.opts.placeholders
    }

    pub(crate) fn new(
        skel: &'a Skeleton,
        plan: &'a Plan,
        opts: &'a RepairOptions,
        adapter: &'a dyn Adapter,
    ) -> Self {
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
            plan,
            opts,
            adapter,
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
        let e = self.skel.entries.at(entry);
        let rule = self
            .removed
            .get(&entry)
            .copied()
            .unwrap_or(Rule::MalformedItem);
        self.changes.push(Change::Removed {
            rule,
            call_id: e.call_id().map(str::to_owned),
            index: e.index(),
            block: e.block(),
            item,
        });
    }

    /// Turns a placement into the item to insert: a moved item from `take`, a synthetic output
    /// made by `make` (which a format whose outputs need more of the call than its id, such as
    /// Gemini's name, gets to see).
    pub fn materialize_with(
        &mut self,
        anchor: usize,
        placed: Placed,
        take: &mut impl FnMut(usize) -> Option<Value>,
        make: impl FnOnce(Family, &str, &str) -> Value,
    ) -> Option<Value> {
        self.place(
            anchor,
            placed,
            take,
            |f, id, text| Some(make(f, id, text)),
            Value::clone,
        )
    }

    /// Turns a placement after the entry `anchor` into the item to insert, of any item type:
    /// moved items come from `take`, synthetic ones from `make` (`None` when the item type
    /// cannot hold one), and `json` gives the report its copy of an inserted item.
    pub fn place<T>(
        &mut self,
        anchor: usize,
        placed: Placed,
        take: &mut impl FnMut(usize) -> Option<T>,
        make: impl FnOnce(Family, &str, &str) -> Option<T>,
        json: impl FnOnce(&T) -> Value,
    ) -> Option<T> {
        let entries = &self.skel.entries;
        let after_index = entries.at(anchor).index();
        match placed {
            Placed::Moved { entry, call } => {
                let item = take(entry)?;
                self.changes.push(Change::Moved {
                    call_id: entries.at(call).call_id().unwrap_or_default().to_owned(),
                    from: entries.at(entry).index(),
                    call_index: entries.at(call).index(),
                    after_index,
                });
                Some(item)
            }
            Placed::Synthetic { call } => {
                let c = entries.at(call);
                let old = c.call_id().unwrap_or_default();
                // A call the repair renames is answered under its new id.
                let id = self.plan.new_id(call).unwrap_or(old).to_owned();
                let text = self.opts.text_for(old);
                let item = make(c.family().unwrap_or(Family::Function), &id, text)?;
                self.changes.push(Change::Inserted {
                    cancelled: self.opts.cancelled.contains(old),
                    still_running: self.opts.running.contains(old),
                    text: text.to_owned(),
                    call_id: id,
                    call_index: c.index(),
                    after_index,
                    item: json(&item),
                });
                Some(item)
            }
        }
    }
}

/// The run of `list` (sorted by entry) that names `entry`: a binary search, so editing many
/// items stays linear.
fn sorted_slice<T>(list: &[T], entry: usize, key: impl Fn(&T) -> usize) -> &[T] {
    let start = list.partition_point(|x| key(x) < entry);
    let end = start + list[start..].partition_point(|x| key(x) == entry);
    &list[start..end]
}

/// Applies the plan's in-place edits (call id rewrites, removed fields), which change no item's
/// position, so they go first, on the source indexes the plan was made on.
pub(super) fn edit_in_place(
    adapter: &(impl Adapter + ?Sized),
    items: &mut [Value],
    skel: &Skeleton,
    plan: &Plan,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut done = std::collections::HashSet::new();
    for entry in plan.edited_entries() {
        if !done.insert(entry) {
            continue;
        }
        if let Some(item) = items.get_mut(skel.entries.at(entry).index()) {
            changes.extend(edit_with(adapter, item, skel, plan, entry));
        }
    }
    changes
}

pub(super) fn edit_with(
    adapter: &(impl Adapter + ?Sized),
    item: &mut Value,
    skel: &Skeleton,
    plan: &Plan,
    entry: usize,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let e = &skel.entries.at(entry).to_entry();
    for r in sorted_slice(&plan.rewrites, entry, |r| r.entry) {
        let key = adapter.call_id_key(e);
        let Some(obj) = adapter.object_of(item, e) else {
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
            block: e.block(),
        });
    }
    for b in sorted_slice(&plan.bypasses, entry, |b| b.entry) {
        if let Some(field) = adapter.sign(item, e) {
            changes.push(Change::Signed {
                field,
                call_id: e.call_id.as_deref().map(str::to_owned),
                rule: b.rule,
                index: e.index,
                block: e.block(),
            });
        }
    }
    for p in sorted_slice(&plan.placeholders, entry, |p| p.entry) {
        if let Some(field) = adapter.placeholder(item, e) {
            changes.push(Change::Placeholder {
                field,
                rule: p.rule,
                index: e.index,
            });
        }
    }
    for r in sorted_slice(&plan.reshapes, entry, |r| r.entry) {
        if let Some(field) = adapter.reshape(item, e) {
            changes.push(Change::Reshaped {
                field,
                call_id: e.call_id.as_deref().map(str::to_owned),
                rule: r.rule,
                index: e.index,
                block: e.block(),
            });
        }
    }
    for s in sorted_slice(&plan.strips, entry, |s| s.entry) {
        let (obj, field) = match s.field {
            crate::repair::Field::ItemId => (adapter.object_of(item, e), "id"),
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
