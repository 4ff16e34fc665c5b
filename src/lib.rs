//! # toolseq
//!
//! Keeps an LLM agent's history of tool calls and tool outputs paired, so that the model API never
//! answers HTTP 400 with `No tool output found for function call …`, `An assistant message with
//! 'tool_calls' must be followed by tool messages …` or `` `tool_use` ids were found without
//! `tool_result` blocks … ``.
//!
//! ```
//! use serde_json::json;
//!
//! // The user interrupted a shell call and typed a new message: the output never arrived.
//! let mut body = json!({"input": [
//!     {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "action": {}},
//!     {"type": "message", "role": "user", "content": "never mind"}
//! ]});
//! let report = toolseq::repair(&mut body, None, &toolseq::RepairOptions::default()).unwrap();
//! assert_eq!(report.violations[0].rule, toolseq::Rule::MissingOutput);
//! assert_eq!(body["input"][1]["type"], "function_call_output");
//! assert!(toolseq::check(&body, None).unwrap().is_clean());
//! ```
//!
//! ## Features
//!
//! None is on by default; the library needs none of them.
//! - `serde`: `Serialize` for [`Report`], [`Violation`], [`Change`] and [`Finding`], to the
//!   command line's `--json` records. No dependency of its own.
//! - `async-openai`: typed histories of async-openai's request types ([`typed`]).
//! - `otel`: the guard's findings to an OpenTelemetry collector (`collector`).
//! - `cli`: the `toolseq` command (`check`, `fix`, `items`, `timeline`); `proxy`: `toolseq proxy`.
#![deny(missing_docs)]

mod change;
#[cfg(feature = "otel")]
pub mod collector;
pub mod convention;
pub mod error;
mod escape;
mod fingerprint;
pub mod format;
pub mod guard;
mod ids;
mod instrument;
pub mod layer;
pub mod ledger;
mod models;
pub mod otlp;
mod pipeline;
pub mod profile;
mod repair;
pub mod report;
mod request;
mod rule;
mod rules;
#[cfg(feature = "serde")]
mod schema;
mod shapes;
mod skeleton;
mod templates;
mod timer;
mod turns;
pub mod typed;
mod verdict;
mod wire;

use serde_json::Value;

#[doc(hidden)]
pub use tracing as __tracing;

/// The internals the command line and the crate's own tests and benchmarks reach: the readers,
/// the skeleton, the plan. Not part of the API: no stability promise, no documentation.
#[doc(hidden)]
pub mod __private {
    #[allow(missing_docs)]
    pub mod wire {
        pub use crate::wire::*;
    }
    #[allow(missing_docs)]
    pub mod skeleton {
        pub use crate::skeleton::*;
    }
    #[allow(missing_docs)]
    pub mod repair {
        pub use crate::repair::*;
    }
    #[allow(missing_docs)]
    pub mod rules {
        pub use crate::rules::*;
    }
    #[allow(missing_docs)]
    pub mod profile {
        pub use crate::profile::{fit, select};
    }
}

pub use error::Error;
pub use format::{Detection, Format};
pub use guard::{Guard, Policy};
pub use profile::Profile;
pub use repair::RepairOptions;
pub use report::{Change, Finding, Report};
pub use rules::{Rule, Violation};

pub(crate) fn detection(body: &Value, format: Option<Format>) -> Result<Detection, Error> {
    match format {
        Some(format) => Ok(Detection {
            format,
            evidence: "given",
        }),
        None => Ok(wire::detect(body)?),
    }
}

/// Reads a body and applies the profile of its model (`opts.model` takes precedence over the
/// body's `model` field) and the repairs the caller opted in to.
pub(crate) fn read_profiled<'a>(
    body: &'a Value,
    format: Format,
    opts: &RepairOptions,
) -> Result<(skeleton::Skeleton<'a>, Option<profile::Selection>), Error> {
    let mut skel = wire::read(body, format)?;
    let selection = profile::fit(
        &mut skel,
        body,
        format,
        opts.model.as_deref(),
        opts.thought_signature_bypass,
    )?;
    skel.placeholders = opts.placeholders;
    Ok((skel, selection))
}

/// Checks a request body or bare list of items against every pairing rule, and the rules of
/// the body's `model` ([`profile`]).
///
/// `format` is detected when `None`; the report says which format was used and why.
pub fn check(body: &Value, format: Option<Format>) -> Result<Report, Error> {
    check_model(body, format, None)
}

/// [`check`] as `model` would: a model name (`devstral-medium-2512`) or a [`Profile`] name
/// (`gemini-3`), for a body that does not say (a bare list, a Gemini body, whose model is in
/// the URL) or to see how another model would answer the same history.
pub fn check_for(body: &Value, format: Option<Format>, model: &str) -> Result<Report, Error> {
    check_model(body, format, Some(model))
}

fn check_model(body: &Value, format: Option<Format>, model: Option<&str>) -> Result<Report, Error> {
    let detection = detection(body, format)?;
    let opts = RepairOptions {
        model: model.map(str::to_owned),
        ..RepairOptions::default()
    };
    let body = pipeline::Body {
        body,
        format: detection.format,
    };
    Ok(pipeline::judge(&body, detection, &opts)?.report)
}

/// Checks and repairs a body in place: synthetic outputs for unanswered calls, misplaced outputs
/// moved next to their call, orphan and duplicate outputs removed (and returned in the report).
///
/// On error the body is untouched. Malformed items and calls without ids are reported and left
/// where they are. [`RepairOptions::model`] names the model when the body does not.
pub fn repair(
    body: &mut Value,
    format: Option<Format>,
    opts: &RepairOptions,
) -> Result<Report, Error> {
    let detection = detection(body, format)?;
    let format = detection.format;
    pipeline::run(&mut pipeline::Json { body, format }, detection, opts, true)
}

/// The readers, the skeleton, the plan and the rules' internals are not part of the API; each
/// of these fails to compile (and the same lines with `toolseq::__private::` compile, in the
/// crate's own tests):
///
/// ```compile_fail
/// use toolseq::wire::read;
/// ```
/// ```compile_fail
/// use toolseq::skeleton::Skeleton;
/// ```
/// ```compile_fail
/// use toolseq::repair::plan;
/// ```
/// ```compile_fail
/// use toolseq::rules::check;
/// ```
#[cfg(doctest)]
pub struct PrivateInternals;

/// Reports grow: a match on a change (or a rule, or a finding) needs a wildcard arm, a variant's
/// pattern needs `..`, and only toolseq makes a report. Each of these fails to compile:
///
/// ```compile_fail
/// fn kind(c: &toolseq::Change) -> &'static str {
///     use toolseq::Change::*;
///     match c {
///         Inserted { .. } | Moved { .. } | Rewritten { .. } | Stripped { .. } | Signed { .. }
///         | Placeholder { .. } | Reshaped { .. } | Separated { .. } | Removed { .. } => "change",
///     }
/// }
/// ```
/// ```compile_fail
/// fn moved(c: &toolseq::Change) -> usize {
///     match c {
///         toolseq::Change::Moved { from, call_id: _, call_index: _, after_index: _ } => *from,
///         _ => 0,
///     }
/// }
/// ```
/// ```compile_fail
/// let _ = toolseq::Report { items: 0, violations: vec![], changes: vec![], findings: vec![],
///     profile: None, detection: toolseq::Detection { format: toolseq::Format::Chat, evidence: "" } };
/// ```
///
/// and the same with the wildcard and `..` compiles:
///
/// ```
/// fn moved(c: &toolseq::Change) -> usize {
///     match c {
///         toolseq::Change::Moved { from, .. } => *from,
///         _ => 0,
///     }
/// }
/// let every: &[toolseq::Rule] = toolseq::Rule::ALL;
/// assert!(every.contains(&toolseq::Rule::MissingOutput));
/// ```
#[cfg(doctest)]
pub struct GrowingReports;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
