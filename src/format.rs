//! The wire formats toolseq reads, how a body's format was decided, and why a body could not be
//! read. Nothing here reads a body: each format's adapter lives in the crate's `wire` module.

use std::fmt;
use std::str::FromStr;

/// A wire format of conversation history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenAI Responses API `input` items.
    Responses,
    /// OpenAI Chat Completions `messages`.
    Chat,
    /// Anthropic Messages `messages`.
    Anthropic,
    /// Codex rollout lines (`{"timestamp", "type": "response_item", "payload"}` among others),
    /// as a JSON array of line objects; the payloads are Responses items.
    Rollout,
    /// Google Gemini `generateContent` `contents`.
    Gemini,
    /// AWS Bedrock Converse `messages` (`toolUse` / `toolResult` blocks).
    Bedrock,
}

impl Format {
    /// Every format, in the order detection tries them.
    pub const ALL: [Format; 6] = [
        Format::Rollout,
        Format::Responses,
        Format::Gemini,
        Format::Bedrock,
        Format::Chat,
        Format::Anthropic,
    ];

    /// Lower-case name: `responses`, `chat`, `anthropic`, `rollout`, `gemini`, `bedrock`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Responses => "responses",
            Format::Chat => "chat",
            Format::Anthropic => "anthropic",
            Format::Rollout => "rollout",
            Format::Gemini => "gemini",
            Format::Bedrock => "bedrock",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Format {
    type Err = ReadError;
    fn from_str(s: &str) -> Result<Self, ReadError> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| ReadError::UnknownFormat(s.to_owned()))
    }
}

/// Which format a body was read as, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// The format.
    pub format: Format,
    /// Why: `given`, or the evidence that decided it.
    pub evidence: &'static str,
}

impl Detection {
    /// Whether nothing in the body decided the format (no tool items): the format was assumed.
    pub fn is_assumed(&self) -> bool {
        self.evidence.ends_with("assumed")
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.format, self.evidence)
    }
}

/// Why a body could not be read as a history. Nothing was checked, and the body is untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The body is not a history of any format toolseq reads, or not of the format given; the
    /// text says what was not understood.
    Shape(String),
    /// A format name toolseq does not know.
    UnknownFormat(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Shape(why) => write!(f, "not a conversation history: {why}"),
            ReadError::UnknownFormat(name) => {
                write!(f, "unknown format `{}` (expected ", name.escape_debug())?;
                for (i, format) in Format::ALL.iter().enumerate() {
                    let sep = match i {
                        0 => "",
                        _ if i + 1 == Format::ALL.len() => " or ",
                        _ => ", ",
                    };
                    write!(f, "{sep}{format}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for ReadError {}
