//! Errors: input that cannot be read as a history, and requests the guard refused.

use std::fmt;

use crate::format::ReadError;
use crate::profile::ProfileError;
use crate::report::Report;

/// Why toolseq could not check, or refused, a history.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a history toolseq can read; the body is left untouched.
    Shape(String),
    /// A format name toolseq does not know (see [`Format::ALL`](crate::Format::ALL)).
    UnknownFormat(String),
    /// A profile that does not exist, or does not apply to the body (see [`ProfileError`]).
    Profile(ProfileError),
    /// What was asked cannot be done on this input (a typed history of a format whose outputs
    /// are blocks inside messages cannot be repaired item by item); nothing was changed.
    Unsupported(String),
    /// The guard's `block` policy refused a history with violations; the report says why.
    Blocked(Box<Report>),
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Shape(why) => Error::Shape(why),
            ReadError::UnknownFormat(name) => Error::UnknownFormat(name),
        }
    }
}

impl From<ProfileError> for Error {
    fn from(e: ProfileError) -> Self {
        Error::Profile(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(why) => ReadError::Shape(why.clone()).fmt(f),
            Error::UnknownFormat(name) => ReadError::UnknownFormat(name.clone()).fmt(f),
            Error::Profile(e) => e.fmt(f),
            Error::Unsupported(why) => f.write_str(why),
            Error::Blocked(report) => write!(
                f,
                "request blocked: {} tool pairing violation(s)\n{report}",
                report.violations.len()
            ),
        }
    }
}

impl std::error::Error for Error {}
