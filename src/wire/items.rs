//! Laying a plan out on a list whose outputs are items of their own (Responses items, Chat
//! messages, a client's typed items): whole items leave, move and arrive, and a call dropped from
//! inside a message goes alone, the message with it only when nothing else is left to send.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::adapter::Edits;
use crate::change::Change;
use crate::skeleton::Family;

/// What laying a plan out needs of one kind of item.
pub(crate) trait ItemOps<T> {
    /// Removes the call at `block` of a message holding several and returns it; `None` where
    /// items hold no calls.
    fn remove_block(&self, _item: &mut T, _block: usize) -> Option<Value> {
        None
    }

    /// Whether the item has nothing left to send once calls were removed from it.
    fn is_vacant(&self, _item: &T) -> bool {
        false
    }

    /// The output answering a call; `None` when the item type has none.
    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Option<T>;

    /// The report's JSON copy of an item.
    fn json(&self, item: &T) -> Value;
}

/// Removes, moves and inserts what `edits` says; every other item stays as it was.
pub(crate) fn rebuild<T>(
    items: &mut Vec<T>,
    mut edits: Edits<'_>,
    ops: &impl ItemOps<T>,
) -> Vec<Change> {
    let skel = edits.skel;
    let mut slots: Vec<Option<T>> = std::mem::take(items).into_iter().map(Some).collect();
    let mut moved: HashMap<usize, T> = HashMap::new();
    // Calls to drop from inside messages, per message: (block, entry).
    let mut dropped_blocks: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (e, entry) in skel.entries.iter().enumerate() {
        if !edits.leaves(e) {
            continue;
        }
        match entry.block() {
            Some(b) => dropped_blocks
                .entry(entry.index())
                .or_default()
                .push((b, e)),
            None => {
                let Some(item) = slots.get_mut(entry.index()).and_then(Option::take) else {
                    continue;
                };
                if edits.moved.contains_key(&e) {
                    moved.insert(e, item);
                } else {
                    edits.record_removal(e, ops.json(&item));
                }
            }
        }
    }
    for (i, mut drops) in dropped_blocks {
        let Some(item) = slots.get_mut(i).and_then(Option::as_mut) else {
            continue;
        };
        drops.sort_unstable();
        let mut removed = Vec::with_capacity(drops.len());
        for &(b, e) in drops.iter().rev() {
            if let Some(block) = ops.remove_block(item, b) {
                removed.push((e, block));
            }
        }
        // Reported in the order the blocks stood.
        for (e, block) in removed.into_iter().rev() {
            edits.record_removal(e, block);
        }
        if ops.is_vacant(item) {
            slots[i] = None;
        }
    }
    let after = std::mem::take(&mut edits.after);
    let mut pending = after.into_iter().peekable();
    let mut out = Vec::with_capacity(slots.len() + skel.entries.len() / 8);
    for (i, slot) in slots.into_iter().enumerate() {
        out.extend(slot);
        while let Some((anchor, placed)) =
            pending.next_if(|(a, _)| skel.entries.at(*a).index() == i)
        {
            for p in placed {
                out.extend(edits.place(
                    anchor,
                    p,
                    &mut |e| moved.remove(&e),
                    |f, id, text| ops.synthetic(f, id, text),
                    |item| ops.json(item),
                ));
            }
        }
    }
    *items = out;
    edits.changes
}
