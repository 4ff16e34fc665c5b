//! The rules' names, what each means and how to mend it, and a violation of one located in
//! its source: what every other module speaks of.

use std::fmt;

use crate::format::Format;

/// The name of a broken rule. Rules are added as APIs refuse more (the set's version is
/// [`Rule::SET_VERSION`]), so a match on them needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// A call with no output answering it.
    MissingOutput,
    /// An output whose call id matches no call.
    OrphanOutput,
    /// The same call recorded twice: a second call with the id and the server item id of one
    /// already there, or a word-for-word copy of a call of its turn with no output of its own.
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

/// One broken rule, located in the source. Made by toolseq only.
///
/// With the `serde` feature it serialises to its record in the command line's `--json`
/// `violations` (`rule`, `call_id`, `item_id`, `index`, `line`, `block`, `api_error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The format of the history it was found in, whose API's words [`api_error`] gives.
    ///
    /// [`api_error`]: crate::report::api_error
    pub(crate) format: Format,
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
            Rule::InvalidOutputShape => reshapes(self.label),
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
            Rule::MissingReasoning => id_optional(self.label),
            Rule::DuplicateItemId => {
                matches!(self.label, "reasoning" | "item_reference") || id_optional(self.label)
            }
            Rule::InvalidItemId | Rule::UnpersistedItem => {
                self.label == "reasoning" || id_optional(self.label)
            }
            _ => true,
        }
    }
}

/// Item types whose server `id` the API does not need on a replayed item, so a repair may drop
/// it. Server-executed items (`web_search_call`, ...) and reasoning items need theirs.
pub(crate) fn id_optional(label: &str) -> bool {
    matches!(label, "function_call" | "custom_tool_call" | "message")
}

/// Whether an output of this type has a documented shape a repair can give it: a Gemini
/// response is wrapped as `{"output": …}`, an empty Bedrock error result gets a text. A
/// computer call's output is a screenshot, which cannot be made up.
pub(crate) fn reshapes(label: &str) -> bool {
    matches!(label, "functionResponse" | "toolResult")
}

/// The detail of a `blank_text_block` whose empty block sets `cache_control`, for which
/// Anthropic words its refusal otherwise.
pub(crate) const CACHED_BLANK: &str = "an empty text block sets `cache_control`";
