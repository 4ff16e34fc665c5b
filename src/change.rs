//! What a repair changed in a body, item by item, with every removed item kept whole.

use serde_json::Value;

use crate::rules::Rule;

/// One change a repair made to the body. Kinds and their fields are added as repairs grow, so a
/// match on them needs a wildcard arm and `..`.
///
/// With the `serde` feature a change serialises to its record in the command line's `--json`
/// `repairs` (see [`Report`](crate::Report)'s serialisation); like that record it carries no
/// history text: a removed item and an inserted text stay in the Rust value only.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A synthetic output was inserted to answer a call.
    #[non_exhaustive]
    Inserted {
        /// The call it answers.
        call_id: String,
        /// Source index of that call.
        call_index: usize,
        /// Source index of the item it was put after.
        after_index: usize,
        /// Whether the call was known to be cancelled (the text says so) rather than lost.
        cancelled: bool,
        /// Whether the call was still running when the request was sent (the text says so).
        still_running: bool,
        /// The text the synthetic output carries.
        text: String,
        /// The inserted item, as inserted.
        item: Value,
    },
    /// An existing output was moved up next to its call.
    #[non_exhaustive]
    Moved {
        /// The call it answers.
        call_id: String,
        /// Source index the output was at.
        from: usize,
        /// Source index of the call.
        call_index: usize,
        /// Source index of the item it was put after.
        after_index: usize,
    },
    /// A call id the API refuses was replaced, identically on the call and its outputs.
    #[non_exhaustive]
    Rewritten {
        /// The old call id.
        from: String,
        /// The new call id.
        to: String,
        /// Why.
        rule: Rule,
        /// Source index of the item.
        index: usize,
        /// Position inside that source item.
        block: Option<usize>,
    },
    /// A field was removed from an item left in place (a replayed item's server id, an empty
    /// `tool_calls` list).
    #[non_exhaustive]
    Stripped {
        /// The field's name in the body.
        field: &'static str,
        /// Its value, kept so that nothing is lost silently.
        value: Value,
        /// Why.
        rule: Rule,
        /// Source index of the item.
        index: usize,
    },
    /// A call missing its thought signature was given the value Google documents for skipping
    /// the check ([`BYPASS_SIGNATURE`](crate::profile::BYPASS_SIGNATURE)); only when the caller
    /// opted in.
    #[non_exhaustive]
    Signed {
        /// Where the value went (`thoughtSignature`, `extra_content.google.thought_signature`).
        field: &'static str,
        /// The call's id, if it has one.
        call_id: Option<String>,
        /// Why.
        rule: Rule,
        /// Source index of the item.
        index: usize,
        /// Position inside that source item.
        block: Option<usize>,
    },
    /// A placeholder was put where only the model could write the value (an empty
    /// `reasoning_content` on a DeepSeek thinking-mode message; a model turn saying it did not
    /// reply, between results and the text split from them where roles must alternate); only
    /// when the caller opted in.
    #[non_exhaustive]
    Placeholder {
        /// The field that got it (`reasoning_content`), or `turn` for a new model turn, which
        /// `index` is the place of in the repaired list.
        field: &'static str,
        /// Why.
        rule: Rule,
        /// Source index of the item.
        index: usize,
    },
    /// An output was given the shape its API documents: a Gemini `response` that was not an
    /// object wrapped as `{"output": …}` (Google: "Use 'output' key to specify function
    /// output"), an empty Bedrock error result a short text saying so.
    #[non_exhaustive]
    Reshaped {
        /// The field rewritten (`response`, `content`).
        field: &'static str,
        /// The output's call id, if it has one.
        call_id: Option<String>,
        /// Why.
        rule: Rule,
        /// Source index of the item.
        index: usize,
        /// Position inside that source item.
        block: Option<usize>,
    },
    /// Conversation blocks (text, images) were moved out of a message that also holds tool
    /// results, into a user message right after it, in their order.
    #[non_exhaustive]
    Separated {
        /// Why.
        rule: Rule,
        /// Source index of the message.
        index: usize,
        /// How many blocks moved.
        blocks: usize,
    },
    /// An item was removed; it is kept here whole so that nothing is lost silently.
    #[non_exhaustive]
    Removed {
        /// Why.
        rule: Rule,
        /// Its call id, if it had one.
        call_id: Option<String>,
        /// Source index it was at.
        index: usize,
        /// Position inside that source item.
        block: Option<usize>,
        /// The removed item (a whole item, message, tool call or content block).
        item: Value,
    },
}
