//! Laying a plan out on messages that hold lists of blocks (Anthropic and Bedrock `content`,
//! Gemini `parts`): blocks leave and arrive inside messages, a message left empty goes, and new
//! messages are made only where no message can take the blocks.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::adapter::Edits;
use crate::change::Change;
use crate::repair::Placed;
use crate::rules::Rule;
use crate::skeleton::{Family, Kind};

/// How one format's messages hold blocks.
pub(super) struct Shape {
    /// The field holding a message's blocks.
    pub field: &'static str,
    /// The role of the client's messages (where outputs go).
    pub user: &'static str,
    /// The role of the model's messages, where the two sides must take turns: a placeholder
    /// turn of it may go between a turn of results and the client's text (opted in).
    pub model: Option<&'static str>,
    /// Whether a block is a call.
    pub is_call: fn(&Value) -> bool,
    /// Whether a message holding outputs may hold nothing else (Bedrock, Gemini), so outputs
    /// only join a following user message that holds outputs alone.
    pub results_only: bool,
    /// Whether a block is a tool output.
    pub is_result: fn(&Value) -> bool,
    /// The block a string `content` stands for, if the format allows string content.
    pub text_block: Option<fn(String) -> Value>,
    /// The output answering a call, given the call's block.
    pub synthetic: fn(Option<&Value>, Family, &str, &str) -> Value,
}

/// Where an inserted block goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// First in this user message.
    Head(usize),
    /// Right after this block of this message.
    AfterBlock(usize, usize),
    /// In a new user message right after this message.
    NewAfter(usize),
}

pub(super) fn rebuild(
    shape: &Shape,
    messages: &mut Vec<Value>,
    mut edits: Edits<'_>,
) -> Vec<Change> {
    let skel = edits.skel;
    let mut slots: Vec<Option<Value>> = std::mem::take(messages).into_iter().map(Some).collect();
    let mut moved: HashMap<usize, Value> = HashMap::new();
    let mut dead: BTreeMap<usize, HashSet<usize>> = BTreeMap::new();
    for (e, entry) in skel.entries.iter().enumerate() {
        let Some(b) = entry.block().filter(|_| edits.leaves(e)) else {
            continue;
        };
        let Some(block) = blocks_mut(shape, &mut slots[entry.index()]).and_then(|c| c.get_mut(b))
        else {
            continue;
        };
        let v = block.take();
        dead.entry(entry.index()).or_default().insert(b);
        if edits.moved.contains_key(&e) {
            moved.insert(e, v);
        } else {
            edits.record_removal(e, v);
        }
    }

    // Messages whose conversation blocks move out (with why, for the report), and which of
    // their blocks stay: outputs and anything not understood.
    let separated: HashMap<usize, Rule> = edits
        .plan
        .separations
        .iter()
        .map(|s| (skel.entries.at(s.entry).index(), s.rule))
        .collect();
    let staying: HashSet<(usize, usize)> = skel
        .entries
        .iter()
        .filter(|e| separated.contains_key(&e.index()))
        .filter(|e| matches!(e.kind(), Kind::Output | Kind::Malformed(_)))
        .filter_map(|e| Some((e.index(), e.block()?)))
        .collect();

    let mut placed: HashMap<Target, Vec<Value>> = HashMap::new();
    for (anchor, list) in std::mem::take(&mut edits.after) {
        let a = skel.entries.at(anchor);
        let next = a.index() + 1;
        let target = match (a.kind(), a.block()) {
            (Kind::Output, Some(b)) => Target::AfterBlock(a.index(), b),
            _ if takes_results(
                shape,
                slots.get(next),
                dead.get(&next),
                separated.contains_key(&next),
            ) =>
            {
                Target::Head(next)
            }
            _ => Target::NewAfter(a.index()),
        };
        for p in list {
            let call_block = match p {
                Placed::Synthetic { call } => {
                    let c = skel.entries.at(call);
                    slots[c.index()]
                        .as_ref()
                        .and_then(|m| m.get(shape.field)?.get(c.block()?))
                }
                Placed::Moved { .. } => None,
            };
            let v =
                edits.materialize_with(anchor, p, &mut |e| moved.remove(&e), |family, id, text| {
                    (shape.synthetic)(call_block, family, id, text)
                });
            if let Some(v) = v {
                placed.entry(target).or_default().push(v);
            }
        }
    }

    let mut touched: HashSet<usize> = dead.keys().copied().collect();
    touched.extend(separated.keys().copied());
    for t in placed.keys() {
        match *t {
            Target::Head(i) | Target::AfterBlock(i, _) => touched.insert(i),
            Target::NewAfter(_) => false,
        };
    }
    let opened_on_user = slots
        .first()
        .and_then(Option::as_ref)
        .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some(shape.user));
    let ended_on_user = slots
        .last()
        .and_then(Option::as_ref)
        .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some(shape.user));
    let mut out = Vec::with_capacity(slots.len() + 1);
    for (i, slot) in slots.into_iter().enumerate() {
        let mut slot = slot;
        let mut apart = Vec::new();
        if touched.contains(&i) {
            let keep = |b: usize| !separated.contains_key(&i) || staying.contains(&(i, b));
            slot = rebuild_one(shape, slot, i, dead.get(&i), &mut placed, keep, &mut apart);
        }
        out.extend(slot);
        if let Some(blocks) = placed.remove(&Target::NewAfter(i)) {
            out.push(json!({"role": shape.user, shape.field: blocks}));
        }
        if !apart.is_empty() {
            edits.changes.push(Change::Separated {
                rule: separated.get(&i).copied().unwrap_or(Rule::MixedResultTurn),
                index: i,
                blocks: apart.len(),
            });
            out.push(json!({"role": shape.user, shape.field: apart}));
        }
    }
    // Where the two sides must take turns, a client turn of results alone followed by the
    // client's text (split from it, answered here, or so already) gets a placeholder model turn
    // between, opted in.
    if let Some(model) = shape.model.filter(|_| edits.placeholders()) {
        let results_only = |m: &Value| {
            m.get("role").and_then(Value::as_str) == Some(shape.user)
                && m.get(shape.field)
                    .and_then(Value::as_array)
                    .is_some_and(|b| !b.is_empty() && b.iter().all(shape.is_result))
        };
        let says = |m: &Value| {
            m.get("role").and_then(Value::as_str) == Some(shape.user)
                && m.get(shape.field)
                    .and_then(Value::as_array)
                    .is_some_and(|b| !b.iter().any(shape.is_result))
        };
        // A history that opens with the model's turn of calls lost its start (Gemini wants the
        // user's turn before one, Bedrock a user's message first), or the repair took the
        // client turn before it away (results that answered calls after them).
        let lost_start = opened_on_user
            || edits.plan.turns.iter().any(|t| {
                matches!(
                    t.rule,
                    Rule::CallWithoutPrecedingUserTurn | Rule::OpensWithModel
                )
            });
        // Bedrock wants the user first whatever the model says; Gemini, before calls.
        let any_first = edits.skel.user_first;
        let opens_with_calls = lost_start
            && out.first().is_some_and(|m| {
                m.get("role").and_then(Value::as_str) == Some(model)
                    && (any_first
                        || m.get(shape.field)
                            .and_then(Value::as_array)
                            .is_some_and(|b| b.iter().any(shape.is_call)))
            });
        if opens_with_calls {
            out.insert(
                0,
                json!({"role": shape.user, shape.field: [{"text": USER_TURN}]}),
            );
            edits.changes.push(Change::Placeholder {
                field: "turn",
                rule: if any_first {
                    Rule::OpensWithModel
                } else {
                    Rule::CallWithoutPrecedingUserTurn
                },
                index: 0,
            });
        }
        let mut k = 0;
        while k + 1 < out.len() {
            if results_only(&out[k]) && says(&out[k + 1]) {
                out.insert(
                    k + 1,
                    json!({"role": model, shape.field: [{"text": MODEL_TURN}]}),
                );
                edits.changes.push(Change::Placeholder {
                    field: "turn",
                    rule: Rule::RolesNotAlternating,
                    index: k + 1,
                });
                k += 1;
            }
            k += 1;
        }
    }
    // A body that ended on the user's turn keeps ending on one: removing the only blocks of
    // its last message would leave the model's message last, which Anthropic reads as a prefill
    // to continue (and Claude 4.6 and later refuse). The turn stays, saying what went.
    let ends_on_user = out
        .last()
        .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some(shape.user));
    if let (true, false, Some(text_block)) = (ended_on_user, ends_on_user, shape.text_block) {
        let note = "(tool results removed here: the calls they answered are not in this history)";
        out.push(json!({"role": shape.user, shape.field: [text_block(note.to_owned())]}));
    }
    *messages = out;
    edits.changes
}

/// What a placeholder model turn says: only what happened.
const MODEL_TURN: &str = "(no reply: the user wrote while the tools ran)";

/// What a placeholder user turn before the history says: only what is known.
const USER_TURN: &str = "(the conversation before this point is not in this history)";

/// Whether outputs may open message `m`: a user message (in a format that wants outputs alone,
/// one left holding nothing but outputs).
fn takes_results(
    shape: &Shape,
    m: Option<&Option<Value>>,
    dead: Option<&HashSet<usize>>,
    separated: bool,
) -> bool {
    let Some(Some(Value::Object(m))) = m else {
        return false;
    };
    if m.get("role").and_then(Value::as_str) != Some(shape.user) {
        return false;
    }
    match m.get(shape.field) {
        None | Some(Value::Null) => true,
        Some(Value::String(_)) => shape.text_block.is_some() && !shape.results_only,
        Some(Value::Array(blocks)) => {
            !shape.results_only
                || separated
                || blocks.iter().enumerate().all(|(b, block)| {
                    dead.is_some_and(|d| d.contains(&b)) || (shape.is_result)(block)
                })
        }
        Some(_) => false,
    }
}

fn blocks_mut<'v>(shape: &Shape, slot: &'v mut Option<Value>) -> Option<&'v mut Vec<Value>> {
    slot.as_mut()?.get_mut(shape.field)?.as_array_mut()
}

/// Rebuilds message `i`'s blocks: placed blocks first, then the survivors with blocks placed
/// after them; survivors `keep` refuses go to `apart`. A message left with no blocks only
/// carried what was removed or moved out, so it goes too.
fn rebuild_one(
    shape: &Shape,
    slot: Option<Value>,
    i: usize,
    dead: Option<&HashSet<usize>>,
    placed: &mut HashMap<Target, Vec<Value>>,
    keep: impl Fn(usize) -> bool,
    apart: &mut Vec<Value>,
) -> Option<Value> {
    let Some(Value::Object(mut msg)) = slot else {
        return slot;
    };
    let old = match msg.get_mut(shape.field).map(Value::take) {
        Some(Value::Array(blocks)) => blocks,
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => match shape.text_block {
            Some(text_block) => vec![text_block(s)],
            None => {
                msg.insert(shape.field.into(), Value::String(s));
                return Some(Value::Object(msg));
            }
        },
        _ => Vec::new(),
    };
    let had_blocks = !old.is_empty();
    let mut blocks = placed.remove(&Target::Head(i)).unwrap_or_default();
    for (b, block) in old.into_iter().enumerate() {
        if !dead.is_some_and(|d| d.contains(&b)) {
            if keep(b) {
                blocks.push(block);
            } else {
                apart.push(block);
            }
        }
        if let Some(more) = placed.remove(&Target::AfterBlock(i, b)) {
            blocks.extend(more);
        }
    }
    if blocks.is_empty() {
        // Left with conversation blocks alone, the message is no longer a mixed one.
        std::mem::swap(&mut blocks, apart);
    }
    if blocks.is_empty() && had_blocks {
        return None;
    }
    set(&mut msg, shape.field, blocks);
    Some(Value::Object(msg))
}

fn set(msg: &mut Map<String, Value>, field: &str, blocks: Vec<Value>) {
    match msg.get_mut(field) {
        Some(slot) => *slot = Value::Array(blocks),
        None => {
            msg.insert(field.into(), Value::Array(blocks));
        }
    }
}
