//! Rules about how turns follow one another, for the formats that want a turn of tool outputs
//! to hold them all and nothing else (Bedrock, Gemini) and a turn of calls to follow the
//! client's turn (Gemini), or the two sides to take turns (Bedrock). Linear, on the skeleton
//! alone.

use crate::rule::Rule;
use crate::skeleton::{Adjacency, Family, Kind, Role, Skeleton};
use crate::verdict::{Action, Found, Verdict};

/// Whether an entry is the model speaking (a call, or its text).
fn model(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Call | Kind::Message(Role::Assistant) | Kind::Reasoning
    )
}

/// Whether an entry is a client tool output (server tool results sit in the model's turn).
fn output(e: crate::skeleton::EntryRef) -> bool {
    e.kind() == Kind::Output && e.family() != Some(Family::ServerTool)
}

/// Findings of `mixed_result_turn`, `call_without_preceding_user_turn` and
/// `roles_not_alternating`, by entry.
///
/// `incoming` says, per call entry, the entry after which a repair puts its output, if it
/// puts one: a message that receives outputs counts as holding them.
pub(crate) fn analyze(
    skel: &Skeleton,
    verdicts: &[Verdict],
    incoming: impl Iterator<Item = usize>,
) -> Vec<Found> {
    let strict = skel.adjacency == Adjacency::NextMessageOnly;
    if !strict && !skel.calls_follow_user && !skel.alternating_roles && !skel.user_first {
        return Vec::new();
    }
    let entries = &skel.entries;
    let items = entries.items_reached();
    // Per source item: whether it holds outputs a repair keeps, the model's entries, the
    // client's.
    let mut results = vec![false; items];
    // Whether it still holds outputs once the repair has moved the misplaced ones away: a
    // mixed turn left with text alone needs no splitting.
    let mut keeps_results = vec![false; items];
    let mut by_model = vec![false; items];
    let mut by_user = vec![false; items];
    let mut said = vec![false; items];
    for (e, v) in entries.iter().zip(verdicts) {
        if e.kind() == Kind::Message(Role::User) {
            said[e.index()] = true;
        }
        if output(e) && v.removal().is_none() {
            results[e.index()] = true;
            keeps_results[e.index()] |= !matches!(v, Verdict::Answer { placed: false, .. });
        }
        if model(e.kind()) {
            by_model[e.index()] = true;
        }
        if output(e) || e.kind() == Kind::Message(Role::User) {
            by_user[e.index()] = true;
        }
    }
    // Per source item: whether a repair puts a new turn of results right after it (its call's
    // outputs, with no client turn after it to take them).
    let mut new_results_after = vec![false; items];
    for a in incoming {
        if output(entries.at(a)) {
            results[entries.at(a).index()] = true;
            keeps_results[entries.at(a).index()] = true;
        } else if strict {
            new_results_after[entries.at(a).index()] = true;
        }
    }
    let side = |m: usize| match (by_user[m], by_model[m]) {
        (true, false) => Some(Role::User),
        (false, true) => Some(Role::Assistant),
        _ => None,
    };
    let mut found = Vec::new();
    if skel.user_first && items > 0 && side(0) == Some(Role::Assistant) {
        found.push(Found {
            entry: 0,
            rule: Rule::OpensWithModel,
            violation: true,
            action: if skel.placeholders {
                Action::PlaceholderTurn
            } else {
                Action::Leave
            },
        });
    }
    let mut seen_call_turn = None;
    let mut seen_item = None;
    for (i, e) in entries.iter().enumerate() {
        if skel.alternating_roles && seen_item != Some(e.index()) {
            seen_item = Some(e.index());
            // A client message of outputs alone after another is a pairing violation, whose
            // repair moves them back; only a message saying something stands in two turns.
            let spilled = side(e.index()) == Some(Role::User) && !said[e.index()];
            let previous = e.index().checked_sub(1);
            // The client's text right after a turn of results a repair makes.
            let after_new = said[e.index()]
                && side(e.index()) == Some(Role::User)
                && previous.is_some_and(|p| new_results_after[p]);
            let again = !spilled
                && (after_new
                    || previous.is_some_and(|p| side(p).is_some() && side(p) == side(e.index())));
            if again {
                // Text after a client turn of results alone: a placeholder model turn between
                // mends it, where the caller opted in.
                let after_results = after_new
                    || previous.is_some_and(|p| results[p] && !said[p] && said[e.index()]);
                found.push(Found {
                    entry: i,
                    rule: Rule::RolesNotAlternating,
                    violation: true,
                    action: if after_results && skel.placeholders {
                        Action::PlaceholderTurn
                    } else {
                        Action::Leave
                    },
                });
            }
        }
        if strict && e.kind() == Kind::Message(Role::User) && results[e.index()] {
            // Split, the text would follow the results as a second client turn: where the API
            // takes the mixed turn, that would turn a request it takes into one it refuses.
            let received = e
                .index()
                .checked_sub(1)
                .is_some_and(|p| new_results_after[p]);
            let split = (!skel.mixed_turns_accepted || skel.placeholders)
                && (keeps_results[e.index()] || received);
            found.push(Found {
                entry: i,
                rule: Rule::MixedResultTurn,
                violation: true,
                action: if split {
                    Action::Separate
                } else {
                    Action::Leave
                },
            });
        }
        if skel.calls_follow_user && e.kind() == Kind::Call && seen_call_turn != Some(e.index()) {
            seen_call_turn = Some(e.index());
            let follows_user = e
                .index()
                .checked_sub(1)
                .is_some_and(|p| by_user[p] && !by_model[p]);
            if !follows_user {
                // A history that opens with the model's calls lost its start: a placeholder user
                // turn before it says so, where the caller opted in.
                let first = e.index() == 0;
                found.push(Found {
                    entry: i,
                    rule: Rule::CallWithoutPrecedingUserTurn,
                    violation: true,
                    action: if first && skel.placeholders {
                        Action::PlaceholderTurn
                    } else {
                        Action::Leave
                    },
                });
            }
        }
    }
    found
}

/// For formats whose outputs fill the next message: whether the output at entry `o`, answering
/// the call at entry `c` but not in the message right after it, only spilled into a later
/// client message (no model turn in between), so that moving it back is all that is needed.
pub(crate) fn split_results<'s>(skel: &'s Skeleton<'s>) -> impl Fn(usize, usize) -> bool + 's {
    let entries = &skel.entries;
    let strict = skel.adjacency == Adjacency::NextMessageOnly;
    // Model entries before each position, and each source item's last entry.
    let mut before = Vec::with_capacity(if strict { entries.len() + 1 } else { 0 });
    let mut last = Vec::new();
    if strict {
        let mut n = 0;
        for (i, e) in entries.iter().enumerate() {
            before.push(n);
            n += usize::from(model(e.kind()));
            if last.len() <= e.index() {
                last.resize(e.index() + 1, 0);
            }
            last[e.index()] = i;
        }
        before.push(n);
    }
    move |c: usize, o: usize| {
        strict && o > c && {
            let after_call_message = last[entries.at(c).index()] + 1;
            before[o] == before[after_call_message.min(o)]
        }
    }
}
