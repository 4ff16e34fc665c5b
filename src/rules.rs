//! The analysis: pairing, a pure, linear-time function from a [`Skeleton`] to verdicts, and
//! the other rules' findings beside it, read as [`Violation`]s.

use crate::format::Format;
use crate::rule::CACHED_BLANK;
pub use crate::rule::{Rule, Violation};
use crate::skeleton::{Adjacency, EntryRef, Family, Flaw, Kind, Role, Skeleton};
use crate::verdict::{at, At, Verdict};

/// Outputs whose call is not in the body but may be stored server-side (the body continues a
/// stored response, see [`Skeleton::server_history`], or references stored items): neither
/// violations nor repaired, only worth a note.
/// Yields `(entry, call id)` in document order.
pub fn server_side_outputs<'s>(skel: &'s Skeleton<'s>) -> Vec<(usize, &'s str)> {
    server_side_of(skel, &analyze(skel))
}

/// [`server_side_outputs`] from an analysis already made.
pub(crate) fn server_side_of<'s>(skel: &'s Skeleton<'s>, a: &Analysis) -> Vec<(usize, &'s str)> {
    if !a.server_side {
        return Vec::new();
    }
    a.verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| **v == Verdict::ServerSide)
        .filter_map(|(i, _)| Some((i, skel.entries.at(i).id()?)))
        .collect()
}

/// The shared analysis behind [`check`] and the repair planner.
pub(crate) struct Analysis {
    pub verdicts: Vec<Verdict>,
    /// What the id rules found, by entry.
    pub ids: Vec<crate::verdict::Found>,
    /// For each first call entry: the entry answering it.
    pub answer: Vec<Option<At>>,
    /// For each call entry: where new or moved outputs for it go (after this entry's slot).
    pub anchor: Vec<At>,
    /// Whether outputs without a call in the body may answer calls stored server-side.
    pub server_side: bool,
}

/// Computes placement, answers and anchors in a fixed number of linear passes.
pub(crate) fn analyze(skel: &Skeleton) -> Analysis {
    let entries = &skel.entries;
    let n = entries.len();
    let mut verdicts = vec![Verdict::Plain; n];
    // Each pass over a long history's entries costs about as much as a rule: this one also
    // counts the calls and notices references.
    let (mut call_count, mut references) = (0, false);
    let keys = crate::fingerprint::Keys::new(entries.iter().map(|e| {
        call_count += usize::from(e.kind() == Kind::Call);
        references |= e.kind() == Kind::Reference;
        e.id()
    }));
    let mut calls = crate::fingerprint::IdSet::with_capacity(call_count);

    // A reference to an item the body shows is a duplicate of it, which a repair removes, not a
    // call stored out of sight.
    let mut server_side = skel.server_history.is_some();
    if !server_side && references {
        let shown: foldhash::HashSet<&str> = entries
            .iter()
            .filter(|e| e.kind() != Kind::Reference)
            .filter_map(|e| e.item_id())
            .collect();
        server_side = entries.iter().any(|e| {
            e.kind() == Kind::Reference && e.item_id().is_none_or(|id| !shown.contains(id))
        });
    }

    // Pairs output `i` with `c`, the first call of its id, if any. An output that may answer it
    // is marked a duplicate of it for now; which one answers is chosen once placement is known.
    let judge = |i: usize, c: Option<usize>, verdicts: &mut [Verdict]| {
        let e = entries.at(i);
        verdicts[i] = match c {
            None if server_side => Verdict::ServerSide,
            None => Verdict::Orphan,
            Some(c) if entries.at(c).family() != e.family() => Verdict::Mismatch { call: at(c) },
            // A server tool's result belongs in its call's message, after it; elsewhere the API
            // knows no such call.
            Some(c)
                if e.family() == Some(Family::ServerTool)
                    && !(entries.at(c).index() == e.index() && i > c) =>
            {
                Verdict::Orphan
            }
            Some(c) => Verdict::DuplicateOutput { call: at(c) },
        };
    };
    // One pass in document order: an output mostly follows its call closely, so comparing their
    // ids finds the call's id still in cache. Outputs that come before any call with their id
    // wait for the end, when every first call is known.
    let mut early = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        verdicts[i] = match (e.kind(), keys.has(i)) {
            (Kind::Malformed(_), _) => Verdict::Malformed,
            (Kind::Call, false) => Verdict::EmptyCall,
            (Kind::Call, true) => match calls.insert(&keys, at(i)) {
                Some(first) => Verdict::DuplicateCall { first },
                None => Verdict::Call,
            },
            (Kind::Output, false) => Verdict::EmptyOutput,
            (Kind::Output, true) => {
                match calls.get(&keys, at(i)) {
                    Some(c) => judge(i, Some(c as usize), &mut verdicts),
                    None => early.push(i),
                }
                continue;
            }
            _ => Verdict::Plain,
        };
    }
    for &i in &early {
        let c = calls.get(&keys, at(i)).map(|c| c as usize);
        judge(i, c, &mut verdicts);
    }
    // Pairing is done: what it needed goes before placement and the id rules make theirs, so
    // that a long history never holds both.
    drop((calls, keys));

    let (placed_zone, anchor) = placement(skel);
    // Each call keeps its best candidate: well placed, then after the call, then before it;
    // first in document order on ties, those after their call before those ahead of it. The
    // candidate is kept in `answer`, its rank beside it in a byte.
    let mut answer: Vec<Option<At>> = vec![None; n];
    let mut ranks: Vec<u8> = vec![u8::MAX; n];
    let mut rank = |i: usize, verdicts: &[Verdict]| {
        let Verdict::DuplicateOutput { call } = verdicts[i] else {
            return;
        };
        let c = call as usize;
        let rank = if placed_zone(c, i) {
            0
        } else if i > c {
            1
        } else {
            2
        };
        if rank < ranks[c] {
            ranks[c] = rank;
            answer[c] = Some(at(i));
        }
    };
    for i in 0..n {
        if matches!(verdicts[i], Verdict::DuplicateOutput { call } if (call as usize) < i) {
            rank(i, &verdicts);
        }
    }
    for i in early {
        rank(i, &verdicts);
    }
    // Only first calls have a best answer. Walked in document order, not the set's: the set's
    // order sends each step to a random place in these vectors.
    for (c, o) in answer.iter().enumerate() {
        if let Some(o) = *o {
            verdicts[o as usize] = Verdict::Answer {
                call: at(c),
                placed: ranks[c] == 0,
            };
        }
    }
    drop(ranks);
    let reused = reused_ids(skel, &mut verdicts, &mut answer, &placed_zone);
    pending_server_calls(skel, &mut verdicts, &answer);
    let mut ids = crate::ids::analyze(skel, &verdicts);
    if !reused.is_empty() {
        crate::ids::rename_reused(skel, &reused, &mut ids);
    }
    // Where a repair puts outputs: after the anchor of each call not answered in place.
    let incoming = (0..n)
        .filter(|&c| {
            verdicts[c] == Verdict::Call
                && !matches!(
                    answer[c].map(|o| verdicts[o as usize]),
                    Some(Verdict::Answer { placed: true, .. })
                )
        })
        .map(|c| anchor[c] as usize);
    let mut more = crate::turns::analyze(skel, &verdicts, incoming);
    more.extend(crate::profile::analyze(skel, &verdicts));
    more.extend(crate::request::analyze(skel));
    more.extend(crate::shapes::analyze(skel, &verdicts));
    more.extend(crate::templates::analyze(skel, &verdicts));
    if !more.is_empty() {
        ids.extend(more);
        ids.sort_by_key(|f| f.entry);
    }
    Analysis {
        verdicts,
        ids,
        answer,
        anchor,
        server_side,
    }
}

/// Calls that reuse an earlier call's id, told from the same call recorded twice: a repeat
/// with the server item id of an earlier call of that id is a re-recorded item (a duplicate,
/// removed), and so is a copy of a call of its turn, word for word, left without an output of
/// its own ([`Entries::copy_of`](crate::skeleton::Entries::copy_of)); any other
/// is another call, which may have run and is never removed. Each output of such an id answers
/// a call of the latest run of calls with that id before it (calls with no message or output
/// between them: parallel calls), the run's calls in order; an output before any such
/// call answers the first. It is then judged as pairing judges any output. Returns each reused
/// call and each output answering one, with how many calls of its id came before that call (1
/// for the second): the entries a repair gives a fresh id. Runs only on a body with a repeated
/// call id.
fn reused_ids(
    skel: &Skeleton,
    verdicts: &mut [Verdict],
    answer: &mut [Option<At>],
    placed_zone: &impl Fn(usize, usize) -> bool,
) -> Vec<(usize, u32)> {
    let entries = &skel.entries;
    let repeated: foldhash::HashSet<&str> = (0..verdicts.len())
        .filter(|&i| matches!(verdicts[i], Verdict::DuplicateCall { .. }))
        .filter_map(|i| entries.at(i).id())
        .collect();
    if repeated.is_empty() {
        return Vec::new();
    }
    // The server item ids of the calls of each repeated id so far.
    let mut item_ids: foldhash::HashMap<&str, Vec<&str>> = foldhash::HashMap::default();
    let mut reused: foldhash::HashSet<&str> = foldhash::HashSet::default();
    for (verdict, e) in verdicts.iter_mut().zip(entries.iter()) {
        let Some(id) = e
            .id()
            .filter(|id| e.kind() == Kind::Call && repeated.contains(id))
        else {
            continue;
        };
        let seen = item_ids.entry(id).or_default();
        let again = e.item_id().is_some_and(|item| seen.contains(&item));
        seen.extend(e.item_id());
        if matches!(verdict, Verdict::DuplicateCall { .. }) && !again {
            *verdict = Verdict::Call;
            reused.insert(id);
        }
    }
    if reused.is_empty() {
        return Vec::new();
    }
    /// The calls of one id so far, and the run outputs are being given to.
    #[derive(Default)]
    struct Calls {
        all: Vec<usize>,
        run: Vec<usize>,
        run_turn: usize,
        next: usize,
    }
    let mut of: foldhash::HashMap<&str, Calls> = foldhash::HashMap::default();
    let mut best: foldhash::HashMap<usize, (u8, usize)> = foldhash::HashMap::default();
    let mut renamed = Vec::new();
    let mut turn = 0;
    for (o, e) in entries.iter().enumerate() {
        // A message or an output ends a run of calls: the next call starts another turn.
        if matches!(e.kind(), Kind::Message(_) | Kind::Output) {
            turn += 1;
        }
        let Some(id) = e.id().filter(|id| reused.contains(id)) else {
            continue;
        };
        let calls = of.entry(id).or_default();
        if e.kind() == Kind::Call && verdicts[o] == Verdict::Call {
            if calls.run_turn != turn || calls.run.is_empty() {
                calls.run.clear();
                calls.next = 0;
                calls.run_turn = turn;
            }
            if !calls.all.is_empty() {
                renamed.push((o, calls.all.len() as u32));
            }
            calls.all.push(o);
            calls.run.push(o);
            answer[o] = None;
            continue;
        }
        let judged = matches!(
            verdicts[o],
            Verdict::Answer { .. } | Verdict::DuplicateOutput { .. } | Verdict::Mismatch { .. }
        );
        if e.kind() != Kind::Output || !judged {
            continue;
        }
        let c = match calls.run.get(calls.next) {
            Some(&c) => {
                calls.next += 1;
                c
            }
            None => match calls.run.last() {
                Some(&c) => c,
                // Before any call of its id: it answers the first, wherever that is.
                None => first_call(entries, verdicts, id, o),
            },
        };
        if let Some(g) = calls.all.iter().position(|&k| k == c).filter(|&g| g > 0) {
            renamed.push((o, g as u32));
        }
        if entries.at(c).family() != e.family() {
            verdicts[o] = Verdict::Mismatch { call: at(c) };
            continue;
        }
        let rank = if placed_zone(c, o) {
            0
        } else if o > c {
            1
        } else {
            2
        };
        if best.get(&c).is_none_or(|&(r, _)| rank < r) {
            best.insert(c, (rank, o));
        }
        verdicts[o] = Verdict::DuplicateOutput { call: at(c) };
    }
    for (c, (rank, o)) in best {
        verdicts[o] = Verdict::Answer {
            call: at(c),
            placed: rank == 0,
        };
        answer[c] = Some(at(o));
    }
    // A call that repeats one of its turn word for word and got no output of its own is that
    // call stored twice: the model did not ask twice, and nothing of it could have run apart
    // (its output would carry the same id). A copy with an output of its own may have run,
    // and stays a call of its own.
    let copies: foldhash::HashSet<usize> = of
        .values()
        .flat_map(|calls| calls.all.iter().skip(1).copied())
        .filter(|&c| answer[c].is_none())
        .filter_map(|c| {
            let first = entries.copy_of(c)?;
            verdicts[c] = Verdict::DuplicateCall { first: at(first) };
            Some(c)
        })
        .collect();
    renamed.retain(|(e, _)| !copies.contains(e));
    renamed.sort_unstable();
    renamed
}

/// Marks the server tools' calls left without a result: paused, or broken when the next user
/// message holds more than client tool results (Anthropic: `'web_search' tool use … without a
/// corresponding 'web_search_tool_result' block`).
fn pending_server_calls(skel: &Skeleton, verdicts: &mut [Verdict], answer: &[Option<At>]) {
    let entries = &skel.entries;
    for c in 0..verdicts.len() {
        let e = entries.at(c);
        if verdicts[c] != Verdict::Call
            || answer[c].is_some()
            || e.family() != Some(Family::ServerTool)
        {
            continue;
        }
        let next = e.index() + 1;
        let broken = (c + 1..entries.len())
            .map(|k| entries.at(k))
            .take_while(|n| n.index() <= next)
            .any(|n| n.index() == next && matches!(n.kind(), Kind::Message(_)));
        verdicts[c] = Verdict::PendingServerCall { broken };
    }
}

/// The first call with id `id`, for an output at `o` that comes before it.
fn first_call(
    entries: &crate::skeleton::Entries,
    verdicts: &[Verdict],
    id: &str,
    o: usize,
) -> usize {
    (o..verdicts.len())
        .find(|&c| verdicts[c] == Verdict::Call && entries.at(c).id() == Some(id))
        .unwrap_or(o)
}

/// In [`placement`]'s zones: no zone.
const NO_ZONE: At = At::MAX;

/// Returns the "is output `o` well placed for call `c`" test and, per entry, the insertion anchor
/// for outputs of a call at that entry.
fn placement<'s>(skel: &'s Skeleton<'s>) -> (impl Fn(usize, usize) -> bool + 's, Vec<At>) {
    let entries = &skel.entries;
    let n = entries.len();
    // Responses: one zone (OpenAI), or a run number that grows at each entry that is not a call
    // or an output and at each call after an output (DeepSeek); Chat/Anthropic: the message
    // index of the call group whose output run an entry belongs to.
    // `NO_ZONE` for none: an `Option` doubled the vector, one of a long history's largest.
    let mut zone: Vec<At> = vec![NO_ZONE; n];
    let mut anchor: Vec<At> = (0..at(n)).collect();
    match skel.adjacency {
        Adjacency::AfterCall => zone.fill(0),
        Adjacency::Positional => {
            let mut seg = 0;
            let mut after_output = false;
            for (i, e) in entries.iter().enumerate() {
                let kind = e.kind();
                if !matches!(kind, Kind::Call | Kind::Output)
                    || (kind == Kind::Call && after_output)
                {
                    seg += 1;
                }
                after_output = kind == Kind::Output;
                zone[i] = at(seg);
            }
        }
        Adjacency::NextMessageOnly => {
            let items = entries.items_reached();
            let mut last_output: Vec<Option<At>> = vec![None; items + 1];
            let mut last_entry: Vec<At> = vec![0; items + 1];
            for (i, e) in entries.iter().enumerate() {
                last_entry[e.index()] = at(i);
                if e.kind() == Kind::Output && e.family() != Some(Family::ServerTool) {
                    last_output[e.index()] = Some(at(i));
                    zone[i] = e.index().checked_sub(1).map_or(NO_ZONE, at);
                }
            }
            for (i, e) in entries.iter().enumerate() {
                if e.kind() == Kind::Call {
                    anchor[i] = last_output[e.index() + 1].unwrap_or(last_entry[e.index()]);
                }
            }
        }
        Adjacency::FollowingRun | Adjacency::NextMessageHead => {
            let same_message_only = skel.adjacency == Adjacency::NextMessageHead;
            let mut group: Option<usize> = None;
            // The last message of the group's turn (Anthropic merges consecutive assistant
            // messages into one).
            let mut group_end = 0;
            // (group message, last output's message)
            let mut run: Option<(usize, usize)> = None;
            // Indexed by source item: a message's anchor is its last call or output entry.
            let mut group_anchor: Vec<Option<At>> = vec![None; entries.items_reached()];
            for (i, e) in entries.iter().enumerate() {
                // Server tools pair inside one assistant message and are placed by the server.
                if e.family() == Some(Family::ServerTool) {
                    zone[i] = at(e.index());
                    continue;
                }
                match e.kind() {
                    Kind::Call => {
                        group = Some(e.index());
                        group_end = e.index();
                        run = None;
                        group_anchor[e.index()] = Some(at(i));
                    }
                    Kind::Output => {
                        let z = match (group, run) {
                            (Some(m), _) if m != e.index() => Some(m),
                            (None, Some((m, msg))) if !same_message_only || msg == e.index() => {
                                Some(m)
                            }
                            _ => None,
                        };
                        group = None;
                        run = z.map(|m| (m, e.index()));
                        zone[i] = z.map_or(NO_ZONE, at);
                        if let Some(m) = z {
                            group_anchor[m] = Some(at(i));
                        }
                    }
                    // Anthropic combines consecutive messages of one role into one turn: an
                    // assistant message right after the call's message is that same turn.
                    Kind::Message(Role::Assistant)
                        if same_message_only && group.is_some() && e.index() == group_end + 1 =>
                    {
                        group_end = e.index();
                    }
                    _ => {
                        if group == Some(e.index()) {
                            group_anchor[e.index()] = Some(at(i));
                        } else {
                            group = None;
                            run = None;
                        }
                    }
                }
            }
            for (i, e) in entries.iter().enumerate() {
                if e.kind() == Kind::Call {
                    anchor[i] = group_anchor[e.index()].unwrap_or(at(i));
                }
            }
        }
    }
    let loose = matches!(skel.adjacency, Adjacency::AfterCall | Adjacency::Positional);
    let test = move |c: usize, o: usize| {
        if entries.at(c).family() == Some(Family::ServerTool) {
            entries.at(o).index() == entries.at(c).index() && o > c
        } else if loose {
            o > c && zone[o] == zone[c]
        } else {
            zone[o] != NO_ZONE && zone[o] == at(entries.at(c).index())
        }
    };
    (test, anchor)
}

/// Checks a skeleton against every rule. Violations come in document order.
///
/// ```
/// use toolseq::__private::skeleton::{Adjacency, Entry, Family, Kind, Role, Skeleton};
/// use toolseq::__private::rules::{check, Rule};
///
/// let mut skel = Skeleton::new(toolseq::Format::Responses, Adjacency::AfterCall);
/// skel.entries.push(Entry::paired(Kind::Call, Family::Function, Some("call_1".into()), 0, None, "function_call"));
/// skel.entries.push(Entry::new(Kind::Message(Role::User), 1, None, "message"));
/// skel.items = 2;
/// let found = check(&skel);
/// assert_eq!(found[0].rule, Rule::MissingOutput);
/// ```
pub fn check(skel: &Skeleton) -> Vec<Violation> {
    violations(skel, &analyze(skel)).collect()
}

/// The violations an analysis of `skel` found, in document order, made one at a time: a report
/// of a million violations writes each as it is made and never holds them all.
pub(crate) fn violations<'s>(
    skel: &'s Skeleton<'s>,
    a: &'s Analysis,
) -> impl Iterator<Item = Violation> + 's {
    let entries = &skel.entries;
    let split = crate::turns::split_results(skel);
    let mut ids = a.ids.iter().filter(|f| f.violation).peekable();
    let mut next = 0;
    // Walked by verdict: in a long clean history nearly every entry is a call answered in place
    // or a plain message, and its entry need not be read at all.
    std::iter::from_fn(move || loop {
        let (i, verdict) = (next, a.verdicts.get(next)?);
        if let Some(f) = ids.next_if(|f| f.entry == i) {
            let e = entries.at(i);
            let mut v = violation(skel.format, e, f.rule, None);
            v.item_id = match f.rule {
                Rule::CallIdTooLong | Rule::InvalidCallId => None,
                _ => e.item_id().map(str::to_owned),
            };
            // The field sits on the message, not on the call it was found on.
            if f.rule == Rule::MissingReasoningContent {
                v.block = None;
            }
            return Some(v);
        }
        next += 1;
        let call_at = |c: At| Some(entries.at(c as usize).index());
        let (rule, call_index) = match *verdict {
            Verdict::Plain | Verdict::ServerSide | Verdict::Answer { placed: true, .. } => continue,
            Verdict::Call if a.answer[i].is_some() => continue,
            Verdict::PendingServerCall { broken: false } => continue,
            Verdict::Call | Verdict::PendingServerCall { broken: true } => {
                (Rule::MissingOutput, None)
            }
            Verdict::Malformed => (Rule::MalformedItem, None),
            Verdict::EmptyCall | Verdict::EmptyOutput => (Rule::EmptyCallId, None),
            Verdict::DuplicateCall { first } => (Rule::DuplicateCall, call_at(first)),
            Verdict::Orphan => (Rule::OrphanOutput, None),
            Verdict::Mismatch { call } => (Rule::KindMismatch, call_at(call)),
            Verdict::DuplicateOutput { call } => (Rule::DuplicateOutput, call_at(call)),
            Verdict::Answer { call, .. } if i < call as usize => {
                (Rule::OutputBeforeCall, call_at(call))
            }
            Verdict::Answer { call, .. } if split(call as usize, i) => {
                (Rule::SplitResults, call_at(call))
            }
            Verdict::Answer { call, .. } => (Rule::InterleavedMessage, call_at(call)),
        };
        return Some(violation(skel.format, entries.at(i), rule, call_index));
    })
}

fn violation(format: Format, e: EntryRef, rule: Rule, call_index: Option<usize>) -> Violation {
    Violation {
        format,
        rule,
        call_id: e.call_id().map(str::to_owned),
        item_id: None,
        index: e.index(),
        block: e.block(),
        label: e.label(),
        call_index,
        on_call: e.kind() == Kind::Call,
        detail: match (e.kind(), e.flaw()) {
            (Kind::Malformed(why), _) => Some(why),
            (_, Some(Flaw::BlankCachedText)) => Some(CACHED_BLANK),
            _ => None,
        },
    }
}
