//! What the analysis decides: each entry's pairing verdict, and each finding of the other
//! rules with what a repair does about it.

use crate::rule::Rule;

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

/// What a repair does about one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Remove the item (returned whole in the report).
    Remove,
    /// Remove a field from the item.
    Strip(Field),
    /// Give the call or output this call id.
    Rewrite(String),
    /// Move the message's conversation blocks out of its tool-result turn.
    Separate,
    /// Give the call the value Google documents for skipping the thought signature check
    /// (only when the caller opted in).
    Bypass,
    /// Put a placeholder where only the model could write the value (only when the caller
    /// opted in).
    Placeholder,
    /// Put a placeholder turn of the other side before this turn, where the two sides must
    /// take turns: a model turn before the client's text after a turn of results, a user turn
    /// before a history that opens with the model's calls (only when the caller opted in).
    PlaceholderTurn,
    /// Give the output the shape its API documents (a Gemini response wrapped as
    /// `{"output": …}`; an empty Bedrock error result a short text).
    Reshape,
    /// Nothing honest can be done (a signed reasoning item cannot be made up, a server id a
    /// server-executed item needs cannot be dropped): reported only.
    Leave,
}

/// One finding: the entry, the rule it breaks (`None` for a removal that only follows from
/// another repair), and what a repair does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub entry: usize,
    pub rule: Rule,
    pub violation: bool,
    pub action: Action,
}

impl Found {
    /// A violation of `rule` at `entry` that no repair mends: reported and left.
    pub(crate) fn leave(entry: usize, rule: Rule) -> Found {
        Found {
            entry,
            rule,
            violation: true,
            action: Action::Leave,
        }
    }
}

/// A field an edit removes from an item, leaving the item in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The item's server id (Responses `id`), which the API does not need on a replayed item.
    ItemId,
    /// An empty list of calls (Chat `tool_calls: []`).
    EmptyCallList,
}
