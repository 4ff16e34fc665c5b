//! Rules about ids themselves, beside pairing: server item ids (duplicates, a reasoning item and
//! the item it was produced with, an id'd item replayed without its reasoning item) and call ids
//! the API's pattern or length limit refuses, and empty call lists. Linear, on the skeleton
//! alone.

use std::collections::{HashMap, HashSet};

use crate::rule::{id_optional, Rule};
use crate::skeleton::{Kind, Role, Skeleton};
use crate::verdict::{Action, Field, Found, Verdict};

/// What a repair does about an item whose server id must go: a reasoning item (and an item
/// reference, with `references`) goes whole, an optional id is dropped, any other is left.
fn losing_id(e: crate::skeleton::EntryRef<'_>, references: bool) -> Action {
    if e.kind() == Kind::Reasoning || (references && e.kind() == Kind::Reference) {
        Action::Remove
    } else if id_optional(e.label()) {
        Action::Strip(Field::ItemId)
    } else {
        Action::Leave
    }
}

/// Whether the Responses API refuses `id` on an item of this type: an empty id (`Expected an
/// ID that contains letters, numbers, underscores, or dashes`), or one without the prefix the
/// API gives that type (`Invalid 'input[371].id': '019f629b-…'. Expected an ID that begins with
/// 'msg'.`, openai/codex#33176; `… begins with 'fc'`, `… begins with 'rs'`). Other types are
/// not checked: their prefixes are not documented.
fn refused_item_id(label: &str, id: &str) -> bool {
    let prefix = match label {
        "function_call" => "fc",
        "message" => "msg",
        "reasoning" => "rs",
        _ => return id.is_empty(),
    };
    !id.starts_with(prefix)
}

/// Whether an entry is an item the model produced in a response (and so may carry a server id
/// and belong with a reasoning item).
fn model_item(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Call
            | Kind::Message(Role::Assistant)
            | Kind::Other
            | Kind::Reasoning
            | Kind::Reference
    )
}

pub(crate) fn analyze(skel: &Skeleton, verdicts: &[Verdict]) -> Vec<Found> {
    let entries = &skel.entries;
    let n = entries.len();
    let removed_by_pairing = |i: usize| verdicts[i].removal().is_some();
    let mut found = Vec::new();
    // Per entry: whether a repair removes the item or its id.
    let mut loses_id: Vec<bool> = (0..n).map(removed_by_pairing).collect();

    let rule = skel.call_ids;
    let mut renames = Renames::default();
    let mut any_reasoning = false;
    let mut item_ids = 0;
    // Every rule about item ids, the reasoning rules too, needs an entry with one.
    let hashes = if entries.may_have_item_ids() {
        crate::fingerprint::hashes_in_place(entries.iter().map(|e| {
            any_reasoning |= e.kind() == Kind::Reasoning;
            item_ids += usize::from(e.item_id().is_some());
            e.item_id()
        }))
    } else {
        Vec::new()
    };
    let mut seen = crate::fingerprint::IdSet::with_capacity(item_ids);
    for (i, e) in entries.iter().enumerate() {
        if e.kind() == Kind::EmptyCallList {
            found.push(Found {
                entry: i,
                rule: Rule::EmptyToolCalls,
                violation: true,
                action: Action::Strip(Field::EmptyCallList),
            });
        }
        if matches!(e.kind(), Kind::Call | Kind::Output)
            && !removed_by_pairing(i)
            && e.family() != Some(crate::skeleton::Family::McpApproval)
        {
            if let Some(id) = e.id() {
                let broken = if rule.too_long(id) {
                    Some(Rule::CallIdTooLong)
                } else if rule.bad_chars(id) {
                    Some(Rule::InvalidCallId)
                } else {
                    None
                };
                if let Some(r) = broken {
                    let new_id = renames.name(skel, id);
                    found.push(Found {
                        entry: i,
                        rule: r,
                        violation: true,
                        action: Action::Rewrite(new_id),
                    });
                }
            }
        }
        if let Some(rule) = e
            .item_id()
            .filter(|_| !removed_by_pairing(i))
            .and_then(|id| {
                if skel.unstored && e.kind() == Kind::Reasoning && !e.trace().reasoning {
                    Some(Rule::UnpersistedItem)
                } else {
                    refused_item_id(e.label(), id).then_some(Rule::InvalidItemId)
                }
            })
        {
            let action = losing_id(e, false);
            loses_id[i] = action != Action::Leave;
            found.push(Found {
                entry: i,
                rule,
                violation: true,
                action,
            });
            if loses_id[i] {
                continue;
            }
        }
        if hashes.get(i).is_none_or(|&h| h == 0) || removed_by_pairing(i) {
            continue;
        }
        let same =
            |a: u32, b: u32| entries.at(a as usize).item_id() == entries.at(b as usize).item_id();
        if seen
            .insert_hashed(&hashes, crate::verdict::at(i), same)
            .is_some()
        {
            let action = losing_id(e, true);
            loses_id[i] = action != Action::Leave;
            found.push(Found {
                entry: i,
                rule: Rule::DuplicateItemId,
                violation: true,
                action,
            });
        }
    }

    // Without reasoning items, neither rule below can break, except for a reasoning model's
    // stored response: the API looks an id'd item up and finds the reasoning item it came with
    // (with `store: false` nothing is stored to look up, as Codex sends).
    let stored_reasoning =
        skel.profile == Some(crate::profile::Profile::OpenaiReasoning) && !skel.unstored;
    if !any_reasoning && !stored_reasoning {
        found.sort_by_key(|f| f.entry);
        return found;
    }
    // A reasoning item goes with the id'd item right after it: broken in the body, or broken by
    // a repair that removes that item or its id, the reasoning item goes too.
    for (i, e) in entries.iter().enumerate() {
        if e.kind() != Kind::Reasoning || e.item_id().is_none() || loses_id[i] {
            continue;
        }
        // The next entry is the next item sent: items yield one entry each, and rollout lines
        // that are not model input yield none.
        let next = entries.get(i + 1);
        let follows = next.is_some_and(|f| {
            model_item(f.kind()) && f.kind() != Kind::Reasoning && f.item_id().is_some()
        });
        if !follows || loses_id[i + 1] {
            loses_id[i] = true;
            found.push(Found {
                entry: i,
                rule: Rule::ReasoningWithoutFollowing,
                violation: !follows,
                action: Action::Remove,
            });
        }
    }

    // In a body that shows reasoning items, an item with a server id that no reasoning item
    // precedes since the last user message was replayed without its reasoning. Outputs a repair
    // inserts or moves never cross a user message, so they cannot change this verdict.
    // `shown`: a reasoning item is in the body; `kept`: one is left after the repair (which
    // removes a reasoning item under an id the API refuses, and its follower then loses its id
    // too, as a consequence rather than a violation of its own).
    let (mut shown, mut kept) = (false, false);
    for (i, e) in entries.iter().enumerate() {
        match e.kind() {
            Kind::Message(Role::User) => (shown, kept) = (false, false),
            Kind::Reasoning | Kind::Reference => {
                shown = true;
                kept |= !loses_id[i];
            }
            Kind::Call | Kind::Message(Role::Assistant) | Kind::Other
                if !kept && e.item_id().is_some() && !loses_id[i] =>
            {
                let action = if id_optional(e.label()) {
                    loses_id[i] = true;
                    Action::Strip(Field::ItemId)
                } else {
                    Action::Leave
                };
                found.push(Found {
                    entry: i,
                    rule: Rule::MissingReasoning,
                    violation: !shown || action == Action::Leave,
                    action,
                });
            }
            _ => {}
        }
    }
    found.sort_by_key(|f| f.entry);
    found
}

/// Gives each call that reuses an earlier call's id, and the outputs answering it (`reused`:
/// entry and how many calls of that id came before), a fresh id: one per call, the same on its
/// outputs, and never an id the body uses. The call's finding is the violation.
pub(crate) fn rename_reused(skel: &Skeleton, reused: &[(usize, u32)], found: &mut Vec<Found>) {
    let entries = &skel.entries;
    let mut taken: HashSet<String> = entries
        .iter()
        .filter_map(|e| e.id().map(str::to_owned))
        .collect();
    let mut given: HashMap<(&str, u32), String> = HashMap::new();
    // An id the API refuses is renamed already, by its own rule, to one id for every call that
    // used it: a reused one gets its own instead, under that rule.
    let already: HashMap<usize, usize> = found
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.action, Action::Rewrite(_)))
        .map(|(k, f)| (f.entry, k))
        .collect();
    taken.extend(found.iter().filter_map(|f| match &f.action {
        Action::Rewrite(new_id) => Some(new_id.clone()),
        _ => None,
    }));
    for &(entry, generation) in reused {
        let e = entries.at(entry);
        let Some(id) = e.id() else { continue };
        let new_id = given
            .entry((id, generation))
            .or_insert_with(|| {
                let fresh = (generation.saturating_mul(1000)..)
                    .map(|salt| skel.call_ids.replacement_salted(id, salt))
                    .find(|n| !taken.contains(n))
                    .unwrap_or_default();
                taken.insert(fresh.clone());
                fresh
            })
            .clone();
        if let Some(&k) = already.get(&entry) {
            found[k].action = Action::Rewrite(new_id);
            continue;
        }
        found.push(Found {
            entry,
            rule: Rule::ReusedCallId,
            violation: e.kind() == Kind::Call,
            action: Action::Rewrite(new_id),
        });
    }
    found.sort_by_key(|f| f.entry);
}

/// The new ids given to refused call ids: one per old id, so a call and its outputs stay a
/// pair, and never an id the body already uses or another old id got.
#[derive(Default)]
struct Renames<'s> {
    given: HashMap<&'s str, String>,
    /// Every id in the body and every id given; built at the first refused id only, so a
    /// clean body pays nothing.
    taken: Option<HashSet<String>>,
}

impl<'s> Renames<'s> {
    fn name(&mut self, skel: &'s Skeleton<'s>, id: &'s str) -> String {
        if let Some(new_id) = self.given.get(id) {
            return new_id.clone();
        }
        let taken = self.taken.get_or_insert_with(|| {
            skel.entries
                .iter()
                .filter_map(|e| e.id().map(str::to_owned))
                .collect()
        });
        let new_id = (0..)
            .map(|salt| skel.call_ids.replacement_salted(id, salt))
            .find(|n| !taken.contains(n))
            .unwrap_or_default();
        taken.insert(new_id.clone());
        self.given.insert(id, new_id.clone());
        new_id
    }
}
