//! What a check or repair found and did: readable by a person (`Display`), inspectable by a program.

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde_json::Value;

use crate::rules::{Rule, Violation};
use crate::wire::{Detection, Format};

/// One change a repair made to the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A synthetic output was inserted to answer a call.
    Inserted {
        /// The call it answers.
        call_id: String,
        /// Source index of that call.
        call_index: usize,
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
    Moved {
        /// The call it answers.
        call_id: String,
        /// Source index the output was at.
        from: usize,
        /// Source index of the call.
        call_index: usize,
    },
    /// A call id the API refuses was replaced, identically on the call and its outputs.
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
    /// An item was removed; it is kept here whole so that nothing is lost silently.
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

/// What toolseq learned beyond the rules: what the guard found by comparing the body with the
/// ledger, and what a check could not judge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// The ledger saw this call's output produced, but the body lacks it (compaction, a resume
    /// from a log, a store that dropped it).
    LostOutput {
        /// The call.
        call_id: String,
        /// When the output was produced, on the ledger's clock.
        produced_at: Duration,
        /// How long ago that was.
        ago: Duration,
        /// Whether it landed while the guard waited, after the body had been built: the call
        /// the body should have been built inside [`Guard::prepare_with`](crate::Guard::prepare_with).
        during_wait: bool,
    },
    /// The call was still running when the guard stopped waiting; it was answered with a
    /// synthetic output saying so.
    StillRunning {
        /// The call.
        call_id: String,
        /// How long it had run.
        age: Duration,
    },
    /// The call's span closed with no output: the tool was interrupted.
    Cancelled {
        /// The call.
        call_id: String,
    },
    /// A call in the body the ledger never saw (noted once per conversation): the tracing filter
    /// may hide toolseq's spans, or the session was resumed from a log.
    UnseenCall {
        /// The call.
        call_id: String,
    },
    /// An output that arrived after its call had been answered with a synthetic output. It is
    /// never sent as a second output for that call: it was removed from the body and is kept
    /// here whole (and, with [`RepairOptions::deliver_late_outputs`](crate::RepairOptions),
    /// shown to the model as a short user message after the call's outputs).
    LateOutput {
        /// The call.
        call_id: String,
        /// How long after the synthetic answer the output arrived, when the ledger saw both.
        late_by: Option<Duration>,
        /// The removed output item, as it was in the body.
        item: Value,
        /// Whether it was delivered to the model as a message.
        delivered: bool,
    },
    /// An output whose call is not in the body, in a body whose calls may be stored
    /// server-side: left alone, because the server may pair it.
    ServerSide {
        /// The output's call id.
        call_id: String,
        /// Its source index.
        index: usize,
        /// Why the call may be server-side: `previous_response_id`, `conversation` or
        /// `item_reference`.
        reason: &'static str,
    },
    /// The guard repaired this call again: the repaired history is not being stored.
    RepeatedRepair {
        /// The call.
        call_id: String,
        /// How many requests have needed this repair.
        times: u32,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::LostOutput {
                call_id,
                ago,
                during_wait,
                ..
            } => {
                write!(
                    f,
                    "lost output: call {} produced an output {} ms ago that the body lacks",
                    escape_id(call_id),
                    ago.as_millis()
                )?;
                if *during_wait {
                    f.write_str(" (it landed while the guard waited, after the body was built: build it inside Guard::prepare_with)")?;
                }
                Ok(())
            }
            Finding::StillRunning { call_id, age } => write!(
                f,
                "still running: call {} after {} ms; answered with a synthetic output saying so",
                escape_id(call_id),
                age.as_millis()
            ),
            Finding::Cancelled { call_id } => {
                write!(f, "cancelled: call {} was interrupted before its output", escape_id(call_id))
            }
            Finding::UnseenCall { call_id } => write!(
                f,
                "unseen call: the ledger never saw call {} (is a tracing filter hiding toolseq's spans, or was the session resumed?)",
                escape_id(call_id)
            ),
            Finding::LateOutput {
                call_id,
                late_by,
                delivered,
                ..
            } => {
                write!(f, "late output: call {} was answered synthetically", escape_id(call_id))?;
                if let Some(d) = late_by {
                    write!(f, "; its output arrived {} ms later", d.as_millis())?;
                }
                f.write_str(if *delivered {
                    "; removed as a second output and delivered as a message"
                } else {
                    "; removed as a second output (kept in this report)"
                })
            }
            Finding::ServerSide {
                call_id,
                index,
                reason,
            } => write!(
                f,
                "not checked: output {} at {index} may answer a call stored server-side (`{reason}`); left alone",
                escape_id(call_id)
            ),
            Finding::RepeatedRepair { call_id, times } => write!(
                f,
                "repeated repair: call {} repaired in {times} requests; the repair is not being stored (see Report::apply_to)",
                escape_id(call_id)
            ),
        }
    }
}

/// The result of checking (and perhaps repairing) one history.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The format the body was read as, and why.
    pub detection: Detection,
    /// Number of source items (messages for Chat and Anthropic).
    pub items: usize,
    /// Every violation found, in document order, located in the body as it was before repair.
    pub violations: Vec<Violation>,
    /// What the repair changed; empty after a plain check.
    pub changes: Vec<Change>,
    /// What the guard learned from the ledger; empty after a plain check.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether no rule was broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Whether a repair changed the body.
    pub fn repaired(&self) -> bool {
        !self.changes.is_empty()
    }

    /// How many violations broke `rule`.
    pub fn count(&self, rule: Rule) -> usize {
        self.violations.iter().filter(|v| v.rule == rule).count()
    }

    /// Applies this report's repairs to a stored copy of the history (the client's own store), so
    /// that the next request built from it needs no repair. The synthetic outputs carry the same
    /// texts as the ones this report inserted, and late outputs delivered as notes are stored as
    /// those notes. Returns the report of that repair.
    ///
    /// ```
    /// use serde_json::json;
    /// let mut stored = json!([{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ///                         {"type": "message", "role": "user", "content": "next"}]);
    /// let mut body = json!({"input": stored.clone()});
    /// let report = toolseq::repair(&mut body, None, &Default::default()).unwrap();
    /// report.apply_to(&mut stored).unwrap();
    /// assert_eq!(stored, body["input"]);
    /// ```
    pub fn apply_to(&self, stored: &mut Value) -> Result<Report, crate::Error> {
        let mut opts = crate::RepairOptions::default();
        for c in &self.changes {
            if let Change::Inserted { call_id, text, .. } = c {
                opts.texts.insert(call_id.clone(), text.clone());
            }
        }
        let format = self.detection.format;
        let replay = crate::repair(stored, Some(format), &opts)?;
        // A late output shown to the model as a note is stored as that note, once: only where
        // the stored history still held the late output.
        for f in &self.findings {
            let Finding::LateOutput {
                call_id,
                late_by,
                item,
                delivered: true,
            } = f
            else {
                continue;
            };
            let removed_here = replay.changes.iter().any(|c| {
                matches!(c, Change::Removed { rule: Rule::DuplicateOutput, call_id: Some(id), .. } if id == call_id)
            });
            if removed_here {
                let note = crate::guard::late_note(call_id, *late_by, item);
                crate::wire::place_note(stored, format, call_id, &note);
            }
        }
        Ok(replay)
    }

    /// Where a violation sits, as a JSON-path-like location (`input[3]`, `messages[2].content[0]`).
    pub fn location(&self, v: &Violation) -> String {
        location(self.detection.format, v.index, v.block)
    }

    /// The error the API would have answered for this violation, in its own words with the ids
    /// and position filled in: the string people search their logs for. `None` where the API is
    /// not known to refuse it with a specific message.
    ///
    /// ```
    /// use serde_json::json;
    /// let body = json!({"input": [
    ///     {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_9", "action": {}},
    ///     {"type": "message", "role": "user", "content": "stop"}]});
    /// let report = toolseq::check(&body, None).unwrap();
    /// assert_eq!(report.api_error(&report.violations[0]).unwrap(),
    ///            "No tool output found for local shell call call_9.");
    /// ```
    pub fn api_error(&self, v: &Violation) -> Option<String> {
        api_error(self.detection.format, v)
    }
}

/// Notes for the outputs a check cannot judge because their calls may be stored server-side.
pub(crate) fn server_side_findings(
    skel: &crate::skeleton::Skeleton,
    analysis: &crate::rules::Analysis,
) -> Vec<Finding> {
    let reason = skel.server_history.unwrap_or("item_reference");
    crate::rules::server_side_of(skel, analysis)
        .into_iter()
        .map(|(e, id)| Finding::ServerSide {
            call_id: id.to_owned(),
            index: skel.entries[e].index,
            reason,
        })
        .collect()
}

fn location(format: Format, index: usize, block: Option<usize>) -> String {
    let mut s = match format {
        Format::Responses => format!("input[{index}]"),
        Format::Rollout => format!("item[{index}]"),
        Format::Chat | Format::Anthropic => format!("messages[{index}]"),
    };
    if let Some(b) = block {
        let field = match format {
            Format::Chat => "tool_calls",
            Format::Rollout => "replacement_history",
            _ => "content",
        };
        let _ = write!(s, ".{field}[{b}]");
    }
    s
}
/// [`Report::api_error`] for a violation found in a history of this format, for callers that
/// hold violations without a report (an incremental reader, say).
pub fn api_error(format: Format, v: &Violation) -> Option<String> {
    let id = escape_id(v.call_id.as_deref().unwrap_or(""));
    let item = escape_id(v.item_id.as_deref().unwrap_or(""));
    let id_len = v.call_id.as_deref().map_or(0, |s| s.chars().count());
    let i = v.index;
    let call_at = v.call_index.unwrap_or(i);
    let empty_id = |field: &str| {
        let path = location(format, i, v.block);
        if v.call_id.is_none() {
            format!("Missing required parameter: '{path}.{field}'.")
        } else {
            format!("Invalid '{path}.{field}': empty string. Expected a string with minimum length 1, but got an empty string instead.")
        }
    };
    Some(match format {
        Format::Responses | Format::Rollout => {
            let words = v.label.trim_end_matches("_output").replace('_', " ");
            match v.rule {
                Rule::MissingOutput => format!("No tool output found for {words} {id}."),
                Rule::OrphanOutput | Rule::KindMismatch | Rule::OutputBeforeCall => {
                    let words = v.label.replace('_', " ");
                    format!("No tool call found for {words} with call_id {id}.")
                }
                Rule::DuplicateCall | Rule::DuplicateOutput => {
                    format!("Duplicate item found with id {id}.")
                }
                Rule::EmptyCallId => empty_id("call_id"),
                Rule::ReasoningWithoutFollowing => format!(
                    "Item '{item}' of type 'reasoning' was provided without its required following item."
                ),
                Rule::MissingReasoning => format!(
                    "Item '{item}' of type '{}' was provided without its required 'reasoning' item: 'rs_…'.",
                    v.label
                ),
                Rule::DuplicateItemId => format!(
                    "Duplicate item found with id {item}. Remove duplicate items from your input and try again."
                ),
                Rule::CallIdTooLong => format!(
                    "Invalid '{}.call_id': string too long. Expected a string with maximum length 64, but got a string with length {id_len} instead.",
                    location(format, i, None)
                ),
                Rule::InterleavedMessage
                | Rule::MalformedItem
                | Rule::InvalidCallId
                | Rule::EmptyToolCalls => return None,
            }
        }
        Format::Chat => match v.rule {
            Rule::MissingOutput | Rule::InterleavedMessage => format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {id}"
            ),
            Rule::OrphanOutput | Rule::OutputBeforeCall => "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".to_owned(),
            Rule::DuplicateOutput => format!(
                "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."
            ),
            Rule::EmptyCallId if v.on_call => empty_id("id"),
            Rule::EmptyCallId => empty_id("tool_call_id"),
            Rule::EmptyToolCalls => format!(
                "Invalid 'messages[{i}].tool_calls': empty array. Expected an array with minimum length 1, but got an empty array instead."
            ),
            Rule::DuplicateCall
            | Rule::KindMismatch
            | Rule::MalformedItem
            | Rule::ReasoningWithoutFollowing
            | Rule::MissingReasoning
            | Rule::DuplicateItemId
            | Rule::CallIdTooLong
            | Rule::InvalidCallId => return None,
        },
        Format::Anthropic => {
            let b = v.block.unwrap_or(0);
            match v.rule {
                Rule::MissingOutput => format!(
                    "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {id}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                ),
                Rule::InterleavedMessage => format!(
                    "messages.{call_at}: `tool_use` ids were found without `tool_result` blocks immediately after: {id}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                ),
                Rule::OrphanOutput | Rule::OutputBeforeCall | Rule::KindMismatch
                    if v.label != "tool_result" =>
                {
                    format!(
                        "messages.{i}.content.{b}: unexpected `tool_use_id` found in `{}` blocks: {id}. Each `{}` block must have a corresponding `server_tool_use` block before it in the same message.",
                        v.label, v.label
                    )
                }
                Rule::OrphanOutput | Rule::OutputBeforeCall | Rule::KindMismatch => format!(
                    "messages.{i}.content.{b}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                ),
                Rule::InvalidCallId => format!(
                    "messages.{i}.content.{b}.{}: String should match pattern '^[a-zA-Z0-9_-]+$'",
                    if v.on_call { "id" } else { "tool_use_id" }
                ),
                Rule::DuplicateCall => format!("messages.{i}.content.{b}: `tool_use` ids must be unique"),
                Rule::DuplicateOutput => format!(
                    "messages.{i}.content.{b}: each tool_use must have a single result. Found multiple `tool_result` blocks with id: {id}"
                ),
                Rule::EmptyCallId => format!(
                    "messages.{i}.content.{b}.{}: String should have at least 1 character",
                    if v.on_call { "id" } else { "tool_use_id" }
                ),
                Rule::MalformedItem
                | Rule::ReasoningWithoutFollowing
                | Rule::MissingReasoning
                | Rule::DuplicateItemId
                | Rule::CallIdTooLong
                | Rule::EmptyToolCalls => return None,
            }
        }
    })
}

/// Escapes an id that came from a model before it reaches a terminal or a log: control
/// characters and quotes are shown as escapes, and very long ids are cut.
pub fn escape_id(id: &str) -> String {
    const MAX: usize = 128;
    let mut out = String::with_capacity(id.len().min(MAX) + 2);
    for (n, c) in id.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        if c.is_control() || c == '"' || c == '\\' || c == '\u{1b}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} items, {} violation(s)",
            self.detection,
            self.items,
            self.violations.len()
        )?;
        for v in &self.violations {
            write!(f, "  {:<20} {}", v.rule.name(), self.location(v))?;
            match &v.call_id {
                Some(id) if !id.is_empty() => write!(f, " {} {}", v.label, escape_id(id))?,
                _ => write!(f, " {}", v.label)?,
            }
            if let Some(c) = v.call_index.filter(|&c| c != v.index) {
                write!(f, " (call at {})", location(self.detection.format, c, None))?;
            }
            if let Some(d) = v.detail {
                write!(f, ": {d}")?;
            }
            writeln!(f)?;
            writeln!(f, "  {:<20} hint: {}", "", v.rule.hint())?;
            if let Some(e) = self.api_error(v) {
                writeln!(f, "  {:<20} API would answer: {e}", "")?;
            }
        }
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        if !self.changes.is_empty() {
            let (mut ins, mut mov, mut rem, mut ed) = (0, 0, 0, 0);
            for c in &self.changes {
                match c {
                    Change::Inserted { .. } => ins += 1,
                    Change::Moved { .. } => mov += 1,
                    Change::Removed { .. } => rem += 1,
                    Change::Rewritten { .. } | Change::Stripped { .. } => ed += 1,
                }
            }
            writeln!(
                f,
                "repaired: {ins} inserted, {mov} moved, {rem} removed, {ed} edited in place"
            )?;
            for c in &self.changes {
                if let Change::Rewritten { from, to, .. } = c {
                    writeln!(f, "  call id {} -> {}", escape_id(from), escape_id(to))?;
                }
            }
        }
        Ok(())
    }
}
