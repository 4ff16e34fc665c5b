//! The format-free view of a history: what the rules and the repair planner work on.
//!
//! A wire adapter reads a request body into a [`Skeleton`]; nothing in this module knows any wire
//! format. One source item (a Responses item, a Chat message, an Anthropic message) may produce
//! several entries: an Anthropic user message holding two `tool_result` blocks and a text block
//! becomes two [`Kind::Output`] entries followed by one [`Kind::Message`] entry.
//!
//! Adapters push [`Entry`] values into the skeleton's [`Entries`], which keeps each as a small
//! row and gives it back as an [`EntryRef`], read a field at a time. Call ids are borrowed from
//! the body they were read from where it can lend them, so reading allocates nothing per item;
//! [`Skeleton::into_owned`] detaches a skeleton when the body cannot outlive it.

use std::borrow::Cow;

use crate::format::Format;

pub mod content;
mod entries;
pub use entries::{Entries, EntryRef, Iter};

/// Which calls an output may answer. An output answers only a call of its own family: a custom
/// tool output never answers a function call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `function_call` and `local_shell_call` (Responses), Chat `tool_calls`, Anthropic `tool_use`.
    Function,
    /// `custom_tool_call` / `custom_tool_call_output`.
    Custom,
    /// `tool_search_call` / `tool_search_output`.
    ToolSearch,
    /// `computer_call` / `computer_call_output`.
    Computer,
    /// `shell_call` / `shell_call_output`.
    Shell,
    /// `apply_patch_call` / `apply_patch_call_output`.
    ApplyPatch,
    /// `mcp_approval_request` / `mcp_approval_response` (paired by the request's `id`).
    McpApproval,
    /// `program` / `program_output`.
    Program,
    /// Anthropic server tools: `server_tool_use` / `*_tool_result` in the same assistant message,
    /// and `mcp_tool_use` / `mcp_tool_result`.
    ServerTool,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The person (or a `developer`/`system` instruction, which counts as the client speaking).
    User,
    /// The model.
    Assistant,
}

/// What an entry is, as far as pairing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A tool call the model asked for.
    Call,
    /// A tool output the client sends back.
    Output,
    /// Text from a person or the model.
    Message(Role),
    /// Anything that pairs with nothing (server-executed tools, unknown types).
    Other,
    /// A reasoning item: it must be followed by the item it was produced with.
    Reasoning,
    /// A list of calls that is present but empty (Chat `tool_calls: []`), which the API refuses.
    EmptyCallList,
    /// A reference to an item stored server-side (Responses `item_reference`): it may be a call
    /// whose output the body carries, so such outputs cannot be judged orphans.
    Reference,
    /// An item the adapter could not read; the reason says why.
    Malformed(&'static str),
}

/// A chat template family whose checks refuse histories (a self-hosted server renders the
/// history with the model's own template, which raises on shapes it does not expect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Template {
    /// Mistral's (Devstral, Ministral, Mistral Small): after the optional first system
    /// message, the user's messages and the assistant's messages without calls take turns.
    Mistral,
    /// Qwen 3.5's and later: some user message must be a query, not a wrapped tool response.
    Qwen,
}

/// How close an output must stay to its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjacency {
    /// Anywhere after its call: OpenAI's Responses API pairs an output with its call by
    /// `call_id`, so a message between them is accepted.
    AfterCall,
    /// In the run of calls and outputs its call belongs to, with nothing else between them, not
    /// even a reasoning item between parallel calls; a call after an output starts another run
    /// (DeepSeek's Responses endpoint, which pairs by position: `No tool output found for tool
    /// call call_…`).
    Positional,
    /// In the run of outputs that directly follows the call's message, which may span several
    /// messages (Chat Completions: one `tool` message per call).
    FollowingRun,
    /// In the run of outputs that opens the very next message (Anthropic `tool_result` blocks).
    NextMessageHead,
    /// In the very next message, which holds every output of the call message and nothing else
    /// (Bedrock `toolResult` blocks, Gemini `functionResponse` parts).
    NextMessageOnly,
}

/// Which characters a call id may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdChars {
    /// Any character.
    Any,
    /// `[a-zA-Z0-9_-]` (Anthropic, Bedrock).
    Word,
    /// `[a-zA-Z0-9]` (Mistral).
    Alnum,
}

/// What call ids a format (or a model) accepts, and how a repair names a call whose id it
/// refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallIdRule {
    /// Longest id accepted, in characters (OpenAI Responses: 64).
    pub max_len: Option<usize>,
    /// The only length accepted, in characters (Mistral: 9).
    pub exact_len: Option<usize>,
    /// Which characters are accepted.
    pub chars: IdChars,
    /// Prefix of the ids a repair makes up (`call_`, `toolu_`; none for Mistral).
    pub prefix: &'static str,
}

impl CallIdRule {
    /// Every non-empty id is accepted.
    pub const ANY: CallIdRule = CallIdRule {
        max_len: None,
        exact_len: None,
        chars: IdChars::Any,
        prefix: "call_",
    };

    /// Mistral's: "Tool call id was … but must be a-z, A-Z, 0-9, with a length of 9."
    pub const MISTRAL: CallIdRule = CallIdRule {
        max_len: None,
        exact_len: Some(9),
        chars: IdChars::Alnum,
        prefix: "",
    };

    /// Whether `id` breaks the length limit.
    pub fn too_long(&self, id: &str) -> bool {
        // A string holds no more characters than bytes: most ids never need counting.
        self.max_len
            .is_some_and(|max| id.len() > max && id.chars().count() > max)
    }

    /// Whether `id` holds a character the pattern refuses, or is not of the one length
    /// accepted.
    pub fn bad_chars(&self, id: &str) -> bool {
        let chars_ok = match self.chars {
            IdChars::Any => true,
            IdChars::Word => id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            IdChars::Alnum => id.bytes().all(|b| b.is_ascii_alphanumeric()),
        };
        !chars_ok || self.exact_len.is_some_and(|n| id.len() != n)
    }

    /// The id a repair gives a call whose id is refused: the prefix and a hash of the old id,
    /// so the same old id always becomes the same new one (on the call, on its outputs, and when
    /// the repair is replayed on a stored history).
    pub fn replacement(&self, id: &str) -> String {
        self.replacement_salted(id, 0)
    }

    /// [`replacement`](CallIdRule::replacement) with a salt, for when the unsalted id is
    /// already taken in the body.
    pub(crate) fn replacement_salted(&self, id: &str, salt: u32) -> String {
        // FNV-1a: stable across runs and platforms, unlike the std hasher.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id
            .bytes()
            .chain(salt.to_le_bytes().into_iter().filter(|_| salt > 0))
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        match self.exact_len {
            // 62^9 is close to 2^64: nine base-62 digits keep nearly all of the hash.
            Some(n) => {
                const DIGITS: &[u8; 62] =
                    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                let mut out = String::from(self.prefix);
                for _ in 0..n.saturating_sub(self.prefix.len()) {
                    out.push(char::from(DIGITS[(h % 62) as usize]));
                    h /= 62;
                }
                out
            }
            None => format!("{}{h:016x}", self.prefix),
        }
    }
}

/// What the model's reasoning left on a call, which some models want sent back with it (see
/// [`Profile`](crate::profile::Profile)). Read by the adapters; judged only under a profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trace {
    /// The message holding the call carries the model's reasoning text (Chat
    /// `reasoning_content`); on a reasoning item, that it carries its `encrypted_content`
    /// (Responses), so the API need not look it up.
    pub reasoning: bool,
    /// The message holding the call opens with a thinking block (Anthropic `thinking` or
    /// `redacted_thinking`).
    pub thinking_first: bool,
    /// The call carries a thought signature (Gemini `thoughtSignature`, or
    /// `extra_content.google.thought_signature` on a Chat tool call).
    pub signature: bool,
}

/// A shape the item's API refuses, seen by the adapter as it read the item, beside pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flaw {
    /// The message holds a text block of whitespace only (Anthropic, Bedrock: `text content
    /// blocks must contain non-whitespace text`).
    BlankText,
    /// The call's input is not a JSON object (Anthropic `tool_use.input`: `Input should be a
    /// valid dictionary`), as an aborted stream leaves it.
    InputNotObject,
    /// The output is not of the shape its API takes (Responses `computer_call_output` with a
    /// string `output`; Gemini `functionResponse.response` that is not an object).
    OutputShape,
    /// The call's arguments are not a JSON object (Chat `function.arguments`), which servers
    /// that parse them for a chat template (vLLM, SGLang, llama.cpp) refuse.
    ArgumentsNotObject,
    /// A message the client did not write holds an image part (Chat `image_url` in a `tool` or
    /// `assistant` message), which OpenAI refuses.
    ImageOutsideUser,
    /// A tool message whose content is a list of parts rather than a string, which some
    /// servers refuse (Groq: `for 'role:tool' … content : value must be a string`).
    ContentNotString,
    /// The message holds an empty text block that sets `cache_control` (Anthropic: `cache_control
    /// cannot be set for empty text blocks`).
    BlankCachedText,
    /// A user message whose text is a tool response wrapped in `<tool_response>` tags, which
    /// Qwen's chat templates do not count as the user's query.
    WrappedToolResponse,
}

impl Flaw {
    /// Every flaw, in the order of their codes.
    pub(crate) const ALL: [Flaw; 8] = [
        Flaw::BlankText,
        Flaw::InputNotObject,
        Flaw::OutputShape,
        Flaw::ArgumentsNotObject,
        Flaw::ImageOutsideUser,
        Flaw::ContentNotString,
        Flaw::BlankCachedText,
        Flaw::WrappedToolResponse,
    ];
}

/// One entry of a [`Skeleton`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What the entry is.
    pub kind: Kind,
    /// Pairing family, for calls and outputs.
    pub family: Option<Family>,
    /// The call id, for calls and outputs. `None` when absent; `Some("")` when empty.
    pub call_id: Option<Cow<'a, str>>,
    /// Index of the source item (Responses item, Chat or Anthropic message).
    pub index: usize,
    /// Position inside the source item (Chat `tool_calls` slot, Anthropic content block). 32
    /// bits, as in the skeleton's rows: no message holds four billion blocks, and an entry of
    /// 120 bytes (not 128) is moved in registers, where a larger one took a call to `memcpy`
    /// each time a rollout line's entry moved (4% of a rollout check).
    pub block: Option<u32>,
    /// The wire name of the item (`function_call`, `tool_use`, ...), for diagnostics.
    pub label: &'static str,
    /// The server id of the item (Responses `id`: `rs_…`, `fc_…`, `msg_…`), when it has one.
    pub item_id: Option<Cow<'a, str>>,
    /// For a call: what the model's reasoning left on it.
    pub trace: Trace,
    /// A shape of the item its API refuses, if the adapter saw one.
    pub flaw: Option<Flaw>,
    /// For a call: what it asks (its name and arguments), hashed, which tells a call stored
    /// twice from another call under its id; `None` when the reader does not say. Not kept
    /// once the entry is pushed: [`Entries`] notes the copies as they come.
    pub content: Option<std::num::NonZeroU64>,
}

/// A block position as an entry keeps it; one past 32 bits (which no message reaches) stays the
/// last.
pub(crate) fn block32(block: Option<usize>) -> Option<u32> {
    block.map(|b| u32::try_from(b).unwrap_or(u32::MAX))
}

impl<'a> Entry<'a> {
    /// An entry with no family and no id.
    pub fn new(kind: Kind, index: usize, block: Option<usize>, label: &'static str) -> Self {
        Entry {
            kind,
            family: None,
            call_id: None,
            index,
            block: block32(block),
            label,
            item_id: None,
            trace: Trace::default(),
            flaw: None,
            content: None,
        }
    }

    /// A call or output entry.
    pub fn paired(
        kind: Kind,
        family: Family,
        call_id: Option<Cow<'a, str>>,
        index: usize,
        block: Option<usize>,
        label: &'static str,
    ) -> Self {
        Entry {
            kind,
            family: Some(family),
            call_id,
            index,
            block: block32(block),
            label,
            item_id: None,
            trace: Trace::default(),
            flaw: None,
            content: None,
        }
    }

    /// The same entry with what the model's reasoning left on it.
    pub fn with_trace(mut self, trace: Trace) -> Self {
        self.trace = trace;
        self
    }

    /// The same entry with a shape its API refuses.
    pub fn with_flaw(mut self, flaw: Option<Flaw>) -> Self {
        self.flaw = flaw;
        self
    }

    /// The same call entry with what it asks, hashed ([`content`]).
    pub fn with_content(mut self, content: Option<u64>) -> Self {
        // A hash of 0 (once in 2^64) counts as 1.
        self.content = content.and_then(|h| std::num::NonZeroU64::new(h.max(1)));
        self
    }

    /// The same call entry with what it asks: its name and its arguments' text (for a typed
    /// history whose calls hold them as strings). A call whose id and content repeat an earlier
    /// call of the same turn, with no output of its own, is a copy stored twice, which a repair
    /// removes; without content, any second call under an id is a call of its own.
    pub fn with_call(self, name: &str, arguments: &str) -> Self {
        self.with_content(Some(content::of_parts(&[
            name.as_bytes(),
            arguments.as_bytes(),
        ])))
    }

    /// The same entry with its server item id.
    pub fn with_item_id(mut self, id: Option<Cow<'a, str>>) -> Self {
        self.item_id = id;
        self
    }

    /// The same entry, owning its ids.
    pub fn into_owned(self) -> Entry<'static> {
        Entry {
            call_id: self.call_id.map(|id| Cow::Owned(id.into_owned())),
            item_id: self.item_id.map(|id| Cow::Owned(id.into_owned())),
            kind: self.kind,
            family: self.family,
            index: self.index,
            block: self.block,
            label: self.label,
            trace: self.trace,
            flaw: self.flaw,
            content: self.content,
        }
    }

    /// The position inside the source item, as an index.
    pub fn block(&self) -> Option<usize> {
        self.block.map(|b| b as usize)
    }

    /// The same entry at position `block` inside its source item.
    pub fn at_block(mut self, block: Option<usize>) -> Self {
        self.block = block32(block);
        self
    }

    /// The call id when present and not empty.
    pub fn id(&self) -> Option<&str> {
        self.call_id.as_deref().filter(|id| !id.is_empty())
    }
}

/// The format-free view of a history, entries in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skeleton<'a> {
    /// The format it was read from, whose API's words a violation's error is in.
    pub format: Format,
    /// Entries in document order.
    pub entries: Entries<'a>,
    /// How close an output must stay to its call in this format.
    pub adjacency: Adjacency,
    /// Number of source items (a Chat or Anthropic message counts once).
    pub items: usize,
    /// What call ids the format accepts.
    pub call_ids: CallIdRule,
    /// Why calls answered in this body may live server-side, out of its sight (the Responses
    /// field `previous_response_id` or `conversation`); `None` when the body is the whole history.
    pub server_history: Option<&'static str>,
    /// Whether a message holding calls must follow a user message or a message of outputs
    /// (Gemini: "function call turn comes immediately after a user turn or after a function
    /// response turn").
    pub calls_follow_user: bool,
    /// Whether the client's and the model's messages must alternate (Bedrock, Gemini).
    pub alternating_roles: bool,
    /// Whether the conversation must open with the client's message (Bedrock: `A conversation
    /// must start with a user message.`).
    pub user_first: bool,
    /// Whether the API takes a turn of tool results and text together, answering it badly
    /// (Gemini: an empty reply), so that splitting it needs a model turn between the two
    /// client turns, which only an opted-in placeholder gives.
    pub mixed_turns_accepted: bool,
    /// Whether the body asks that its response not be stored (Responses `store: false`): the
    /// API then keeps no items, so one sent by id alone cannot be looked up.
    pub unstored: bool,
    /// Whether the request holds tool use and defines no tools (Anthropic `tools`, Bedrock
    /// `toolConfig`), which these APIs refuse.
    pub tools_undefined: bool,
    /// Whether the model refuses a conversation that ends on its own turn (an assistant
    /// prefill: Claude 4.6 and later).
    pub no_prefill: bool,
    /// The model profile whose rules apply too, if any (see [`crate::profile`]).
    pub profile: Option<crate::models::Profile>,
    /// The chat template a self-hosted server renders the history with, where its rules are
    /// known (see the `self-hosted` profile in [`crate::profile`]).
    pub template: Option<Template>,
    /// Whether a repair may answer a missing thought signature with the value Google documents
    /// for skipping its check (opt-in, see
    /// [`RepairOptions::thought_signature_bypass`](crate::RepairOptions)).
    pub signature_bypass: bool,
    /// Whether a repair may put a placeholder where an API accepts one in place of what only
    /// the model could write (opt-in, see
    /// [`RepairOptions::placeholders`](crate::RepairOptions)).
    pub placeholders: bool,
}

impl Skeleton<'_> {
    /// An empty skeleton of a format, with the given ordering rule.
    pub fn new(format: Format, adjacency: Adjacency) -> Self {
        Skeleton {
            format,
            entries: Entries::new(),
            adjacency,
            items: 0,
            server_history: None,
            call_ids: CallIdRule::ANY,
            calls_follow_user: false,
            alternating_roles: false,
            mixed_turns_accepted: false,
            user_first: false,
            unstored: false,
            tools_undefined: false,
            no_prefill: false,
            profile: None,
            template: None,
            signature_bypass: false,
            placeholders: false,
        }
    }

    /// The same skeleton, owning its call ids, so the body it was read from can change.
    pub fn into_owned(self) -> Skeleton<'static> {
        Skeleton {
            format: self.format,
            entries: self.entries.into_owned(),
            adjacency: self.adjacency,
            items: self.items,
            server_history: self.server_history,
            call_ids: self.call_ids,
            calls_follow_user: self.calls_follow_user,
            alternating_roles: self.alternating_roles,
            mixed_turns_accepted: self.mixed_turns_accepted,
            user_first: self.user_first,
            unstored: self.unstored,
            tools_undefined: self.tools_undefined,
            no_prefill: self.no_prefill,
            profile: self.profile,
            template: self.template,
            signature_bypass: self.signature_bypass,
            placeholders: self.placeholders,
        }
    }
}
