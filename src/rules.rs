//! The pairing rules: a pure, linear-time function from a [`Skeleton`] to [`Violation`]s.

use std::fmt;

use crate::skeleton::{Adjacency, EntryRef, Family, Flaw, Kind, Role, Skeleton};

/// The name of a broken rule. Rules are added as APIs refuse more (the set's version is
/// [`Rule::SET_VERSION`]), so a match on them needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// A call with no output answering it.
    MissingOutput,
    /// An output whose call id matches no call.
    OrphanOutput,
    /// The same call recorded twice (a second call with the id and the server item id of one
    /// already there).
    DuplicateCall,
    /// Another call under an id an earlier call already used (a model reusing `toolu_1`, a
    /// client counting ids from one again): a call of its own, which may have run.
    ReusedCallId,
    /// A second output for a call that already has one.
    DuplicateOutput,
    /// An output placed before its call.
    OutputBeforeCall,
    /// A message (or, in Chat and Anthropic, anything) between a call and its output.
    InterleavedMessage,
    /// An output of another family than its call (a custom output for a function call).
    KindMismatch,
    /// A call or output whose call id is empty or absent.
    EmptyCallId,
    /// An item the adapter could not read.
    MalformedItem,
    /// A reasoning item not followed by the item it was produced with.
    ReasoningWithoutFollowing,
    /// An item with a server id, from a response that reasoned, replayed without its reasoning
    /// item (as far as the body shows it).
    MissingReasoning,
    /// Two items or item references with one server id.
    DuplicateItemId,
    /// A server item id the API refuses: empty, or without the prefix of its type (`fc` for a
    /// function call, `msg` for a message, `rs` for a reasoning item).
    InvalidItemId,
    /// A reasoning item sent by its id alone, without its `encrypted_content`, in a body that
    /// asks not to be stored (`store: false`): the API keeps no items then, so it cannot look
    /// the item up.
    UnpersistedItem,
    /// A call id longer than the API accepts (Responses: 64 characters).
    CallIdTooLong,
    /// A call id with characters the API's pattern refuses (Anthropic: `^[a-zA-Z0-9_-]+$`).
    InvalidCallId,
    /// An assistant message with an empty list of calls (Chat `tool_calls: []`).
    EmptyToolCalls,
    /// Outputs of one call message spread over several messages instead of all in the next
    /// one (Bedrock, Gemini).
    SplitResults,
    /// A message holding tool outputs and conversation blocks (text, images) together
    /// (Bedrock, Gemini).
    MixedResultTurn,
    /// A message of calls that follows neither a user message nor a message of outputs
    /// (Gemini).
    CallWithoutPrecedingUserTurn,
    /// Two client messages, or two model messages, in a row (Bedrock, Gemini; in Chat, for a
    /// self-hosted Mistral model's chat template, which skips calls and tool messages and
    /// takes one system message, first).
    RolesNotAlternating,
    /// A conversation that opens with the model's message, where the client's must come
    /// first (Bedrock).
    OpensWithModel,
    /// An assistant message with calls sent without the model's `reasoning_content` (profile
    /// `deepseek-thinking`).
    MissingReasoningContent,
    /// A text block of whitespace only (Anthropic, Bedrock).
    BlankTextBlock,
    /// A call whose input is not a JSON object (Anthropic `tool_use.input`).
    InvalidCallInput,
    /// An output of another shape than its API takes (Responses `computer_call_output` with a
    /// string `output`, Gemini `functionResponse.response` that is not an object).
    InvalidOutputShape,
    /// Call arguments that are not a JSON object, which servers that render a chat template
    /// refuse (profile `self-hosted`: vLLM, SGLang, llama.cpp).
    InvalidArguments,
    /// An image in a message the client did not write (a `tool` or `assistant` message), which
    /// OpenAI's Chat Completions refuses (profile `openai-chat`).
    ImageOutsideUser,
    /// A tool message whose content is a list of parts, for a server that takes only a string
    /// there (profile `groq`).
    ToolContentNotString,
    /// No message of the user's that is a query, only instructions, calls and results (Chat,
    /// for a self-hosted Qwen 3.5 or later model's chat template).
    NoUserQuery,
    /// Tool use in a request that defines no tools (Anthropic `tools`, Bedrock `toolConfig`).
    ToolsUndefined,
    /// A conversation ending on the model's own turn, for a model that refuses an assistant
    /// prefill (Claude 4.6 and later).
    PrefillUnsupported,
    /// The assistant message of the open tool loop does not start with a thinking block
    /// (profile `anthropic-thinking`).
    MissingThinkingBlock,
    /// A call of the current turn, first of its model turn, sent without its thought
    /// signature (profile `gemini-3`).
    MissingThoughtSignature,
}

impl Rule {
    /// Version of the rule set: it grows when rules are added or change meaning, so scripts
    /// reading `--json` notice.
    pub const SET_VERSION: u32 = 7;

    /// Every rule, in the order of [`Rule::name`]'s documentation.
    pub const ALL: &'static [Rule] = &[
        Rule::MissingOutput,
        Rule::OrphanOutput,
        Rule::DuplicateCall,
        Rule::ReusedCallId,
        Rule::DuplicateOutput,
        Rule::OutputBeforeCall,
        Rule::InterleavedMessage,
        Rule::KindMismatch,
        Rule::EmptyCallId,
        Rule::MalformedItem,
        Rule::ReasoningWithoutFollowing,
        Rule::MissingReasoning,
        Rule::DuplicateItemId,
        Rule::InvalidItemId,
        Rule::UnpersistedItem,
        Rule::CallIdTooLong,
        Rule::InvalidCallId,
        Rule::EmptyToolCalls,
        Rule::SplitResults,
        Rule::MixedResultTurn,
        Rule::CallWithoutPrecedingUserTurn,
        Rule::RolesNotAlternating,
        Rule::OpensWithModel,
        Rule::BlankTextBlock,
        Rule::InvalidCallInput,
        Rule::InvalidOutputShape,
        Rule::ToolsUndefined,
        Rule::PrefillUnsupported,
        Rule::MissingReasoningContent,
        Rule::MissingThinkingBlock,
        Rule::MissingThoughtSignature,
        Rule::InvalidArguments,
        Rule::ImageOutsideUser,
        Rule::ToolContentNotString,
        Rule::NoUserQuery,
    ];

    /// The stable snake_case name (`missing_output`, `orphan_output`, ...), as used in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Rule::MissingOutput => "missing_output",
            Rule::OrphanOutput => "orphan_output",
            Rule::DuplicateCall => "duplicate_call",
            Rule::ReusedCallId => "reused_call_id",
            Rule::DuplicateOutput => "duplicate_output",
            Rule::OutputBeforeCall => "output_before_call",
            Rule::InterleavedMessage => "interleaved_message",
            Rule::KindMismatch => "kind_mismatch",
            Rule::EmptyCallId => "empty_call_id",
            Rule::MalformedItem => "malformed_item",
            Rule::ReasoningWithoutFollowing => "reasoning_without_following",
            Rule::MissingReasoning => "missing_reasoning",
            Rule::DuplicateItemId => "duplicate_item_id",
            Rule::InvalidItemId => "invalid_item_id",
            Rule::UnpersistedItem => "unpersisted_item",
            Rule::CallIdTooLong => "call_id_too_long",
            Rule::InvalidCallId => "invalid_call_id",
            Rule::EmptyToolCalls => "empty_tool_calls",
            Rule::SplitResults => "split_results",
            Rule::MixedResultTurn => "mixed_result_turn",
            Rule::CallWithoutPrecedingUserTurn => "call_without_preceding_user_turn",
            Rule::RolesNotAlternating => "roles_not_alternating",
            Rule::OpensWithModel => "opens_with_model",
            Rule::BlankTextBlock => "blank_text_block",
            Rule::InvalidCallInput => "invalid_call_input",
            Rule::InvalidOutputShape => "invalid_output_shape",
            Rule::InvalidArguments => "invalid_arguments",
            Rule::ImageOutsideUser => "image_outside_user",
            Rule::ToolContentNotString => "tool_content_not_string",
            Rule::NoUserQuery => "no_user_query",
            Rule::ToolsUndefined => "tools_undefined",
            Rule::PrefillUnsupported => "prefill_unsupported",
            Rule::MissingReasoningContent => "missing_reasoning_content",
            Rule::MissingThinkingBlock => "missing_thinking_block",
            Rule::MissingThoughtSignature => "missing_thought_signature",
        }
    }

    /// The rule with this [`name`](Rule::name).
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// One line telling a person what usually causes this and what to do.
    pub fn hint(self) -> &'static str {
        match self {
            Rule::MissingOutput => "the tool was interrupted or its output was lost; send an output for this call (repair inserts one)",
            Rule::OrphanOutput => "its call was dropped (compaction, trimming) or the output carries the wrong call id; drop it or restore the call",
            Rule::DuplicateCall => "the same call was recorded twice; keep one",
            Rule::ReusedCallId => "another call reuses an earlier call's id; repair gives it and the outputs after it a fresh id, and answers it if it has no output",
            Rule::DuplicateOutput => "the call was answered twice (results re-sent); keep one",
            Rule::OutputBeforeCall => "the output was recorded before its call; move it after the call",
            Rule::InterleavedMessage => "a message arrived while the tool ran; the output must come first",
            Rule::KindMismatch => "the output type does not answer this call type (custom vs function)",
            Rule::EmptyCallId => "the item has no call id, so nothing can pair with it; fix where it is built",
            Rule::MalformedItem => "the item could not be read; it is left as it is",
            Rule::ReasoningWithoutFollowing => "keep a reasoning item with the item after it in its response (and that item's id); repair removes a reasoning item left alone",
            Rule::MissingReasoning => "the reasoning item of this response was dropped; replay it, or drop this item's id (repair does, where the API allows)",
            Rule::DuplicateItemId => "the same item was replayed twice (often a reasoning item once per parallel call); keep one",
            Rule::InvalidItemId => "the client gave the item an id of its own (a UUID, an empty string) where the API wants the one it made; repair drops an optional id, and a reasoning item whose id is wrong",
            Rule::UnpersistedItem => "with `store: false` send reasoning with its `encrypted_content` (ask for `include: [\"reasoning.encrypted_content\"]`); repair drops the reasoning item and its follower's id",
            Rule::CallIdTooLong => "the id came from another provider or client; repair gives the call and its outputs a shorter one",
            Rule::InvalidCallId => "the id came from another provider (e.g. `functions.read_file:0`); repair gives the call and its outputs a valid one",
            Rule::EmptyToolCalls => "send no `tool_calls` rather than an empty list; repair drops it",
            Rule::SplitResults => "all results of one turn go in the one message after it; repair moves them there",
            Rule::MixedResultTurn => "send the text in its own user message after the results; repair moves it there, in order (and, where roles must alternate, puts a model turn between when placeholders are opted in)",
            Rule::CallWithoutPrecedingUserTurn => "a model turn with calls must follow the user's turn or a turn of responses; put back the turn that was dropped, or merge this turn into the model turn before it",
            Rule::OpensWithModel => "the history was trimmed from the front, or its first message dropped; put the user's first message back (opted-in placeholders put a user turn saying the start is missing)",
            Rule::RolesNotAlternating => "user and assistant messages must alternate; merge the two messages (text cannot join a message of tool results: put it after the model's reply); for a chat template, keep the model's reply after its tool results and one system message, first",
            Rule::NoUserQuery => "a compaction or a trimmed window dropped the user's message; keep the user's last query in the history (the template raises without one)",
            Rule::BlankTextBlock => "an empty tool result, a hook or a compaction left a text block of whitespace; drop the block or put text in it",
            Rule::InvalidCallInput => "the stream was cut off while the model wrote the call's input, and the partial text was stored; send the input as an object, or drop the turn",
            Rule::InvalidOutputShape => "send the output in the shape the API documents for this type (an object: a screenshot for a computer call, a Struct for a Gemini response)",
            Rule::InvalidArguments => "the model's arguments were cut off or malformed and stored as they came; the server parses them for its chat template: send them as a JSON object (or `{}`)",
            Rule::ImageOutsideUser => "OpenAI takes images only from the user: send a tool's or the model's image in a user message after the tool messages",
            Rule::ToolContentNotString => "this server takes a tool's output only as a string: join the text parts into one (an image cannot go there)",
            Rule::ToolsUndefined => "send the tool definitions with every request that replays tool use, even one (a summary, a compaction) that should call none; toolseq cannot invent them",
            Rule::PrefillUnsupported => "this model answers only a user turn: send the user's next message (or a tool result) after the model's; toolseq never writes one for the user",
            Rule::MissingReasoningContent => "the client dropped the model's `reasoning_content` when it stored this message; keep it and send it back (toolseq never invents it), or turn thinking off",
            Rule::MissingThinkingBlock => "the client dropped the thinking block this message opened with; send it back unchanged (a signed block cannot be made up), or start a new user turn, or turn thinking off",
            Rule::MissingThoughtSignature => "the client dropped the call's `thoughtSignature`; send it back as received (an opt-in repair puts the value Google documents for skipping the check instead)",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken rule, located in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which rule.
    pub rule: Rule,
    /// The call id involved, when the item has one.
    pub call_id: Option<String>,
    /// The server item id involved (`rs_…`, `fc_…`), for the rules about item ids.
    pub item_id: Option<String>,
    /// Index of the offending source item (Responses item, Chat or Anthropic message).
    pub index: usize,
    /// Position inside that item (Chat `tool_calls` slot, Anthropic content block).
    pub block: Option<usize>,
    /// Wire name of the offending item (`function_call_output`, `tool_result`, ...).
    pub label: &'static str,
    /// For an output: index of the call it answers, when there is one.
    pub call_index: Option<usize>,
    /// Whether the offending entry is a call (rather than an output or other item).
    pub on_call: bool,
    /// For malformed items: why the adapter could not read it; for a few shapes, which one
    /// (an empty text block that sets `cache_control`).
    pub detail: Option<&'static str>,
}

impl Violation {
    /// Whether [`repair`](crate::repair()) mends this. Malformed items and calls without an id are
    /// reported and left where they are: nothing can be paired with them.
    pub fn repairable(&self) -> bool {
        match self.rule {
            Rule::MalformedItem => false,
            // Only the server makes a server tool's result.
            Rule::MissingOutput => !matches!(self.label, "server_tool_use" | "mcp_tool_use"),
            Rule::EmptyCallId => !self.on_call,
            Rule::CallWithoutPrecedingUserTurn
            | Rule::RolesNotAlternating
            | Rule::OpensWithModel => false,
            // Gemini's (a `content` entry) needs a model turn put between, opted in.
            Rule::MixedResultTurn => self.label != "content",
            // Tools cannot be invented, nor the user's next turn.
            Rule::ToolsUndefined | Rule::PrefillUnsupported | Rule::NoUserQuery => false,
            Rule::InvalidOutputShape => crate::shapes::reshapes(self.label),
            // What the model or the tool meant cannot be made up.
            Rule::BlankTextBlock
            | Rule::InvalidCallInput
            | Rule::InvalidArguments
            | Rule::ImageOutsideUser
            | Rule::ToolContentNotString => false,
            // Only the model could write these back; the signature bypass is opt-in.
            Rule::MissingReasoningContent
            | Rule::MissingThinkingBlock
            | Rule::MissingThoughtSignature => false,
            Rule::MissingReasoning => crate::ids::id_optional(self.label),
            Rule::DuplicateItemId => {
                matches!(self.label, "reasoning" | "item_reference")
                    || crate::ids::id_optional(self.label)
            }
            Rule::InvalidItemId | Rule::UnpersistedItem => {
                self.label == "reasoning" || crate::ids::id_optional(self.label)
            }
            _ => true,
        }
    }
}

/// An entry's position in the analysis. Entries are counted in 32 bits, which halves the
/// analysis's vectors and keeps more of a long history's in cache; four billion entries would
/// take hundreds of gigabytes of skeleton, so the count never comes near it.
pub(crate) type At = u32;

/// `i` as an [`At`].
pub(crate) fn at(i: usize) -> At {
    i as At
}

/// How one entry fares against the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Pairs with nothing and breaks nothing.
    Plain,
    /// A malformed item.
    Malformed,
    /// A call (first with its id).
    Call,
    /// A call with an empty or absent id.
    EmptyCall,
    /// A later call with the id of `first`.
    DuplicateCall { first: At },
    /// The output chosen to answer `call`.
    Answer { call: At, placed: bool },
    /// A server tool's call (Anthropic `server_tool_use`) with no result in its message: paused,
    /// which the API accepts while the next user message holds only client tool results;
    /// `broken` when that message holds anything else. Never answered by a repair: only the
    /// server makes its result.
    PendingServerCall { broken: bool },
    /// An output with no call.
    Orphan,
    /// An output with no call in the body, in a body whose calls may live server-side: left
    /// alone, because the server may pair it.
    ServerSide,
    /// An output with an empty or absent id.
    EmptyOutput,
    /// An output of another family than `call`.
    Mismatch { call: At },
    /// An output for `call`, which has a better answer.
    DuplicateOutput { call: At },
}

impl Verdict {
    /// The rule for which a repair removes an entry with this verdict, if it does.
    pub(crate) fn removal(self) -> Option<Rule> {
        Some(match self {
            Verdict::DuplicateCall { .. } => Rule::DuplicateCall,
            Verdict::Orphan => Rule::OrphanOutput,
            Verdict::EmptyOutput => Rule::EmptyCallId,
            Verdict::Mismatch { .. } => Rule::KindMismatch,
            Verdict::DuplicateOutput { .. } => Rule::DuplicateOutput,
            _ => return None,
        })
    }
}

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
    pub ids: Vec<crate::ids::Found>,
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
/// removed); any other
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
/// use toolseq::skeleton::{Adjacency, Entry, Family, Kind, Role, Skeleton};
/// use toolseq::rules::{check, Rule};
///
/// let mut skel = Skeleton::new(Adjacency::AfterCall);
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
            let mut v = violation(e, f.rule, None);
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
        return Some(violation(entries.at(i), rule, call_index));
    })
}

/// The detail of a `blank_text_block` whose empty block sets `cache_control`, for which
/// Anthropic words its refusal otherwise.
pub(crate) const CACHED_BLANK: &str = "an empty text block sets `cache_control`";

fn violation(e: EntryRef, rule: Rule, call_index: Option<usize>) -> Violation {
    Violation {
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
