//! What a check or repair found and did: readable by a person (`Display`), inspectable by a program.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

pub use crate::change::Change;
pub use crate::escape::{escape_id, escape_text};
use crate::format::{Detection, Format};
use crate::rules::{Rule, Violation};

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

impl Finding {
    /// The stable snake_case name of the finding's kind (`lost_output`, `still_running`,
    /// `cancelled`, `unseen_call`, `late_output`, `server_side`, `repeated_repair`), as the
    /// guard's events and the proxy's record name it.
    pub fn name(&self) -> &'static str {
        match self {
            Finding::LostOutput { .. } => "lost_output",
            Finding::StillRunning { .. } => "still_running",
            Finding::Cancelled { .. } => "cancelled",
            Finding::UnseenCall { .. } => "unseen_call",
            Finding::LateOutput { .. } => "late_output",
            Finding::ServerSide { .. } => "server_side",
            Finding::RepeatedRepair { .. } => "repeated_repair",
        }
    }

    /// The call the finding is about.
    pub fn call_id(&self) -> &str {
        match self {
            Finding::LostOutput { call_id, .. }
            | Finding::StillRunning { call_id, .. }
            | Finding::Cancelled { call_id }
            | Finding::UnseenCall { call_id }
            | Finding::LateOutput { call_id, .. }
            | Finding::ServerSide { call_id, .. }
            | Finding::RepeatedRepair { call_id, .. } => call_id,
        }
    }
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

/// The result of checking (and perhaps repairing) one history. Fields are added as toolseq
/// learns more, so it is made by toolseq only.
///
/// With the `serde` feature it serialises to the object `toolseq fix --json` prints for the
/// same body (the schema in docs/cli.md), without the history's text:
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use serde_json::json;
/// let mut body = json!({"input": [
///     {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"},
///     {"type": "message", "role": "user", "content": "next"}]});
/// let report = toolseq::repair(&mut body, None, &Default::default()).unwrap();
/// let record = serde_json::to_value(&report).unwrap();
/// assert_eq!(record["violations"][0]["rule"], "missing_output");
/// assert_eq!(record["repairs"][0], json!({"action": "insert_output", "call_id": "call_1",
///     "index": 0, "line": null, "after_index": 0}));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The format the body was read as, and why.
    pub detection: Detection,
    /// The model profile whose rules were applied too, and why; `None` when the body's model
    /// (or the one given) has no rules of its own.
    pub profile: Option<crate::profile::Selection>,
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
        let format = self.detection.format;
        let replay = crate::repair(stored, Some(format), &self.replay_options())?;
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
                let note = late_note(call_id, *late_by, item);
                crate::wire::place_note(stored, format, call_id, &note);
            }
        }
        Ok(replay)
    }

    /// [`apply_to`](Report::apply_to) for a history stored as a bare list of items, as most
    /// clients keep it (a `Vec<Value>` of Responses items or Chat messages).
    ///
    /// ```
    /// use serde_json::json;
    /// let mut stored = vec![json!({"role": "assistant", "tool_calls": [{"id": "call_1",
    ///     "type": "function", "function": {"name": "ls", "arguments": "{}"}}]})];
    /// let mut body = json!({"model": "gpt-4.1", "messages": stored.clone()});
    /// let report = toolseq::repair(&mut body, None, &Default::default())?;
    /// report.apply_to_items(&mut stored)?;
    /// assert_eq!(json!(stored), body["messages"]);
    /// # Ok::<(), toolseq::Error>(())
    /// ```
    pub fn apply_to_items(&self, stored: &mut Vec<Value>) -> Result<Report, crate::Error> {
        let mut list = Value::Array(std::mem::take(stored));
        let replay = self.apply_to(&mut list);
        if let Value::Array(items) = list {
            *stored = items;
        }
        replay
    }

    /// The options that replay this report's repairs: the same model's rules, so ids are
    /// renamed alike, and the same texts.
    pub(crate) fn replay_options(&self) -> crate::RepairOptions {
        let mut opts = crate::RepairOptions {
            model: self.profile.as_ref().map(|s| s.profile.name().to_owned()),
            ..Default::default()
        };
        for c in &self.changes {
            match c {
                Change::Inserted { call_id, text, .. } => {
                    opts.texts.insert(call_id.clone(), text.clone());
                }
                Change::Signed { .. } => opts.thought_signature_bypass = true,
                Change::Placeholder { .. } => opts.placeholders = true,
                _ => {}
            }
        }
        opts
    }

    /// The call ids a repair replaced (the API refused them), old to new, each once: what a
    /// client must rename in its own records (a tool still running under the old id, say).
    ///
    /// ```
    /// use serde_json::json;
    /// let mut body = json!({"model": "mistral-large-latest", "messages": [
    ///     {"role": "assistant", "tool_calls": [{"id": "call_Ab3", "type": "function",
    ///         "function": {"name": "ls", "arguments": "{}"}}]},
    ///     {"role": "tool", "tool_call_id": "call_Ab3", "content": "a.txt"}]});
    /// let report = toolseq::repair(&mut body, None, &Default::default()).unwrap();
    /// let renamed = report.renamed_call_ids();
    /// let new_id = renamed["call_Ab3"];
    /// assert_eq!(new_id.len(), 9);
    /// assert_eq!(body["messages"][0]["tool_calls"][0]["id"], new_id);
    /// assert_eq!(body["messages"][1]["tool_call_id"], new_id);
    /// ```
    pub fn renamed_call_ids(&self) -> std::collections::BTreeMap<&str, &str> {
        self.changes
            .iter()
            .filter_map(|c| match c {
                Change::Rewritten { from, to, .. } => Some((from.as_str(), to.as_str())),
                _ => None,
            })
            .collect()
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
            index: skel.entries.at(e).index(),
            reason,
        })
        .collect()
}

fn location(format: Format, index: usize, block: Option<usize>) -> String {
    format.adapter().location(index, block)
}

/// [`Report::api_error`] for a violation found in a history of this format, for callers that
/// hold violations without a report (an incremental reader, say).
pub fn api_error(format: Format, v: &Violation) -> Option<String> {
    format.adapter().api_error(v)
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
        if let Some(p) = &self.profile {
            writeln!(f, "  profile {p}")?;
        }
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
                    Change::Rewritten { .. }
                    | Change::Stripped { .. }
                    | Change::Signed { .. }
                    | Change::Reshaped { .. }
                    | Change::Placeholder { .. }
                    | Change::Separated { .. } => ed += 1,
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

/// What the model is shown for a late output: which call, how late, and the output itself.
pub(crate) fn late_note(
    call_id: &str,
    late_by: Option<std::time::Duration>,
    item: &Value,
) -> String {
    let output = ["output", "content"]
        .iter()
        .find_map(|k| item.get(*k))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let when = late_by.map_or_else(String::new, |d| format!(" {} ms", d.as_millis()));
    format!(
        "[late tool output] Tool call {call_id} finished{when} after it was reported as still running. Its output:\n{output}"
    )
}
