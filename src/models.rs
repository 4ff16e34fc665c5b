//! The families of models with rules of their own, and the names that select them: what a
//! skeleton records of the profile applied to it. Which rules a profile adds, and how they
//! are judged, is in `profile`.

use std::fmt;
use std::str::FromStr;

use crate::format::Format;
use crate::rule::Rule;

/// A family of models with rules of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// DeepSeek in thinking mode: assistant messages with calls keep their `reasoning_content`.
    DeepseekThinking,
    /// Mistral: call ids are exactly nine characters of `[a-zA-Z0-9]`.
    Mistral,
    /// Claude with thinking enabled: the open tool loop starts with a thinking block.
    AnthropicThinking,
    /// Gemini 3: the current turn's calls keep their thought signatures.
    Gemini3,
    /// DeepSeek's Responses endpoint: it pairs an output with its call by position, so nothing
    /// but calls and outputs may stand between them (OpenAI pairs by `call_id`, anywhere after
    /// the call).
    DeepseekResponses,
    /// A self-hosted OpenAI-compatible server (vLLM, SGLang, llama.cpp): it parses each
    /// replayed call's arguments to render its chat template, and refuses any that are not a
    /// JSON object. Named, never inferred: such a server hosts any model.
    SelfHosted,
    /// OpenAI's own Chat Completions: call ids of at most 40 characters, images only in the
    /// user's messages.
    OpenaiChat,
    /// Groq's OpenAI-compatible Chat: a tool message's content is a string.
    Groq,
    /// An OpenAI reasoning model behind the Responses API: an item it produced, replayed by
    /// its id, needs the reasoning item it came with, even when the body shows no reasoning.
    OpenaiReasoning,
}

impl Profile {
    /// Every profile.
    pub const ALL: &'static [Profile] = &[
        Profile::DeepseekThinking,
        Profile::Mistral,
        Profile::AnthropicThinking,
        Profile::Gemini3,
        Profile::DeepseekResponses,
        Profile::SelfHosted,
        Profile::OpenaiChat,
        Profile::Groq,
        Profile::OpenaiReasoning,
    ];

    /// The stable name: `deepseek-thinking`, `mistral`, `anthropic-thinking`, `gemini-3`,
    /// `deepseek-responses`, `self-hosted`, `openai-chat`, `groq`, `openai-reasoning`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::DeepseekThinking => "deepseek-thinking",
            Profile::Mistral => "mistral",
            Profile::AnthropicThinking => "anthropic-thinking",
            Profile::Gemini3 => "gemini-3",
            Profile::DeepseekResponses => "deepseek-responses",
            Profile::SelfHosted => "self-hosted",
            Profile::OpenaiChat => "openai-chat",
            Profile::Groq => "groq",
            Profile::OpenaiReasoning => "openai-reasoning",
        }
    }

    /// The rules this profile adds.
    pub fn rules(self) -> &'static [Rule] {
        match self {
            Profile::DeepseekThinking => &[Rule::MissingReasoningContent],
            Profile::Mistral => &[Rule::InvalidCallId],
            Profile::AnthropicThinking => &[Rule::MissingThinkingBlock],
            Profile::Gemini3 => &[Rule::MissingThoughtSignature],
            Profile::DeepseekResponses => &[Rule::InterleavedMessage],
            Profile::SelfHosted => &[
                Rule::InvalidArguments,
                Rule::RolesNotAlternating,
                Rule::NoUserQuery,
            ],
            Profile::OpenaiChat => &[Rule::CallIdTooLong, Rule::ImageOutsideUser],
            Profile::Groq => &[Rule::ToolContentNotString],
            Profile::OpenaiReasoning => &[Rule::MissingReasoning],
        }
    }

    /// The formats its models are sent (Gemini also through its OpenAI-compatible Chat endpoint).
    pub fn formats(self) -> &'static [Format] {
        match self {
            Profile::DeepseekThinking | Profile::Mistral => &[Format::Chat],
            Profile::AnthropicThinking => &[Format::Anthropic],
            Profile::Gemini3 => &[Format::Gemini, Format::Chat],
            Profile::DeepseekResponses | Profile::OpenaiReasoning => {
                &[Format::Responses, Format::Rollout]
            }
            Profile::SelfHosted | Profile::OpenaiChat | Profile::Groq => &[Format::Chat],
        }
    }

    /// The profile of a model name, given the body's `thinking.type` (`enabled`, `disabled`,
    /// `adaptive`), and why; `None` for a model with no rules of its own. A provider prefix
    /// (`deepseek/`, `mistralai/`, `anthropic.`) is ignored.
    pub fn of_model(model: &str, thinking: Option<&str>) -> Option<(Profile, &'static str)> {
        // The server first: Groq serves other makers' models under its own rules.
        if model.to_ascii_lowercase().starts_with("groq/") {
            return Some((Profile::Groq, "a model served by Groq"));
        }
        let name = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        let has = |s: &str| name.contains(s);
        let word = |w: &str| name.split(['-', ':', '@', '.']).any(|t| t == w);
        if has("deepseek") {
            return match thinking {
                Some("disabled") => None,
                Some("enabled") => Some("`thinking.type` is `enabled`"),
                _ if word("reasoner") || word("r1") => Some("the model always thinks"),
                // DeepSeek V4 thinks unless told not to.
                _ if word("v4") || word("flash") || word("pro") => {
                    Some("thinking is on by default for this model")
                }
                _ => None,
            }
            .map(|why| (Profile::DeepseekThinking, why));
        }
        if mistral_model(&name) {
            return Some((Profile::Mistral, "a Mistral model"));
        }
        if has("claude") {
            return match thinking {
                Some("enabled") => Some("`thinking.type` is `enabled`"),
                Some("adaptive") => Some("`thinking.type` is `adaptive`"),
                _ => None,
            }
            .map(|why| (Profile::AnthropicThinking, why));
        }
        if has("gemini-3") && !has("image") {
            return Some((Profile::Gemini3, "a Gemini 3 model"));
        }
        if (name.starts_with("gpt-") && !name.starts_with("gpt-oss"))
            || name.starts_with("chatgpt-")
            || o_series(&name)
        {
            return Some((Profile::OpenaiChat, "an OpenAI model"));
        }
        None
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Profile {
    type Err = ProfileError;
    /// A profile's name; the servers `self-hosted` stands for are names of it too.
    fn from_str(s: &str) -> Result<Self, ProfileError> {
        if matches!(s, "vllm" | "sglang" | "llama.cpp" | "llama-server") {
            return Ok(Profile::SelfHosted);
        }
        Profile::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| ProfileError::Unknown(s.to_owned()))
    }
}

/// A profile toolseq cannot apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileError {
    /// A profile name toolseq does not know (see [`Profile::ALL`]).
    Unknown(String),
    /// A profile named for a body its models are not sent in (`mistral` for an Anthropic
    /// body): its rules cannot be checked there.
    Format {
        /// The profile named.
        profile: Profile,
        /// The body's format.
        format: Format,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::Unknown(name) => {
                write!(f, "unknown profile `{}` (expected ", name.escape_debug())?;
                for (i, p) in Profile::ALL.iter().enumerate() {
                    f.write_str(if i == 0 { "" } else { ", " })?;
                    write!(f, "{p}")?;
                }
                f.write_str(")")
            }
            ProfileError::Format { profile, format } => {
                write!(f, "profile `{profile}` applies to ")?;
                for (i, fm) in profile.formats().iter().enumerate() {
                    f.write_str(if i == 0 { "" } else { " or " })?;
                    write!(f, "{fm}")?;
                }
                write!(f, " histories, not to a {format} body")
            }
        }
    }
}

impl std::error::Error for ProfileError {}

/// Whether a lowercase model name (without its provider) is one of Mistral's.
pub(crate) fn mistral_model(name: &str) -> bool {
    const MISTRAL: [&str; 10] = [
        "mistral",
        "mixtral",
        "codestral",
        "devstral",
        "magistral",
        "ministral",
        "pixtral",
        "voxtral",
        "open-mistral",
        "open-mixtral",
    ];
    let bare = name.rsplit('.').next().unwrap_or(name);
    MISTRAL
        .iter()
        .any(|m| bare.starts_with(m) || name.starts_with(m))
}

/// Whether a lowercase model name is one of OpenAI's `o` series (`o3`, `o4-mini`).
pub(crate) fn o_series(name: &str) -> bool {
    ["o1", "o3", "o4"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    })
}
