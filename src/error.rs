//! Errors: input that cannot be read as a history, and requests the guard refused.

use std::fmt;

use crate::report::Report;

/// Why toolseq could not check, or refused, a history.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a history toolseq can read; the body is left untouched.
    Shape(String),
    /// A format name other than `responses`, `chat`, `anthropic`, `rollout`.
    UnknownFormat(String),
    /// The guard's `block` policy refused a history with violations; the report says why.
    Blocked(Box<Report>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(why) => write!(f, "not a conversation history: {why}"),
            Error::UnknownFormat(name) => write!(
                f,
                "unknown format `{}` (expected responses, chat, anthropic or rollout)",
                name.escape_debug()
            ),
            Error::Blocked(report) => write!(
                f,
                "request blocked: {} tool pairing violation(s)\n{report}",
                report.violations.len()
            ),
        }
    }
}

impl std::error::Error for Error {}
