//! Reports as the command line's `--json` records (feature `serde`): a [`Report`] serialises to
//! the object `toolseq check --json` prints for the same body, a [`Violation`], a [`Change`] and
//! a [`Finding`] to the records in it (docs/cli.md has the schema). Like the command line's,
//! the records carry no history text (a removed item, an inserted output's words), so a report
//! can go to a log; the Rust values keep them.
//!
//! A library body is one JSON document, so `line` is always `null`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::change::Change;
use crate::report::{api_error, Finding, Report};
use crate::rule::{Rule, Violation};

impl Serialize for Violation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("rule", self.rule.name())?;
        m.serialize_entry("call_id", &self.call_id)?;
        m.serialize_entry("item_id", &self.item_id)?;
        m.serialize_entry("index", &self.index)?;
        m.serialize_entry("line", &None::<usize>)?;
        m.serialize_entry("block", &self.block)?;
        m.serialize_entry("api_error", &api_error(self.format, self))?;
        m.end()
    }
}

impl Change {
    /// The record's `action`, and where the change goes in `repairs`: the command line lists
    /// them by kind, in this order (an insert and a move together, in the body's order).
    fn action(&self) -> (&'static str, u8) {
        match self {
            Change::Inserted { .. } => ("insert_output", 0),
            Change::Moved { .. } => ("move_output", 0),
            Change::Rewritten { .. } => ("rewrite_call_id", 1),
            Change::Signed { .. } => ("bypass_thought_signature", 2),
            Change::Reshaped { .. } => ("reshape_output", 3),
            Change::Placeholder { .. } => ("placeholder", 4),
            Change::Stripped { .. } => ("strip_field", 5),
            Change::Separated { .. } => ("separate_text", 6),
            Change::Removed { .. } => ("remove", 7),
        }
    }
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let rule = |m: &mut S::SerializeMap, rule: &Rule| m.serialize_entry("rule", rule.name());
        let line = |m: &mut S::SerializeMap| m.serialize_entry("line", &None::<usize>);
        m.serialize_entry("action", self.action().0)?;
        match self {
            Change::Inserted {
                call_id,
                call_index,
                after_index,
                ..
            } => {
                m.serialize_entry("call_id", call_id)?;
                m.serialize_entry("index", call_index)?;
                line(&mut m)?;
                m.serialize_entry("after_index", after_index)?;
            }
            Change::Moved {
                call_id,
                from,
                after_index,
                ..
            } => {
                m.serialize_entry("call_id", call_id)?;
                m.serialize_entry("index", from)?;
                line(&mut m)?;
                m.serialize_entry("after_index", after_index)?;
            }
            Change::Rewritten {
                from,
                to,
                rule: r,
                index,
                ..
            } => {
                rule(&mut m, r)?;
                m.serialize_entry("call_id", from)?;
                m.serialize_entry("new_call_id", to)?;
                m.serialize_entry("index", index)?;
                line(&mut m)?;
            }
            Change::Signed {
                call_id,
                rule: r,
                index,
                ..
            }
            | Change::Reshaped {
                call_id,
                rule: r,
                index,
                ..
            } => {
                rule(&mut m, r)?;
                m.serialize_entry("call_id", call_id)?;
                m.serialize_entry("index", index)?;
                line(&mut m)?;
            }
            Change::Placeholder {
                field,
                rule: r,
                index,
                ..
            }
            | Change::Stripped {
                field,
                rule: r,
                index,
                ..
            } => {
                rule(&mut m, r)?;
                m.serialize_entry("field", field)?;
                m.serialize_entry("index", index)?;
                line(&mut m)?;
            }
            Change::Separated { rule: r, index, .. } => {
                rule(&mut m, r)?;
                m.serialize_entry("index", index)?;
                line(&mut m)?;
            }
            Change::Removed {
                rule: r,
                call_id,
                index,
                ..
            } => {
                rule(&mut m, r)?;
                m.serialize_entry("call_id", call_id)?;
                m.serialize_entry("index", index)?;
                line(&mut m)?;
            }
        }
        m.end()
    }
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let us = |d: &std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("finding", self.name())?;
        m.serialize_entry("call_id", self.call_id())?;
        match self {
            Finding::LostOutput {
                produced_at,
                ago,
                during_wait,
                ..
            } => {
                m.serialize_entry("produced_at_us", &us(produced_at))?;
                m.serialize_entry("ago_us", &us(ago))?;
                m.serialize_entry("during_wait", during_wait)?;
            }
            Finding::StillRunning { age, .. } => m.serialize_entry("age_us", &us(age))?,
            Finding::LateOutput {
                late_by, delivered, ..
            } => {
                m.serialize_entry("late_by_us", &late_by.as_ref().map(us))?;
                m.serialize_entry("delivered", delivered)?;
            }
            Finding::ServerSide { index, reason, .. } => {
                m.serialize_entry("index", index)?;
                m.serialize_entry("line", &None::<usize>)?;
                m.serialize_entry("reason", reason)?;
            }
            Finding::RepeatedRepair { times, .. } => m.serialize_entry("times", times)?,
            Finding::Cancelled { .. } | Finding::UnseenCall { .. } => {}
        }
        m.end()
    }
}

/// A `not_checked` record: a server-side finding, named by its place in the report.
struct NotChecked<'r>(&'r Finding);

impl Serialize for NotChecked<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Finding::ServerSide {
            call_id,
            index,
            reason,
        } = self.0
        else {
            return s.serialize_none();
        };
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("call_id", call_id)?;
        m.serialize_entry("index", index)?;
        m.serialize_entry("line", &None::<usize>)?;
        m.serialize_entry("reason", reason)?;
        m.end()
    }
}

/// A list serialised as it is walked, without collecting it.
struct Seq<I>(std::cell::Cell<Option<I>>);

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for x in self.0.take().into_iter().flatten() {
            seq.serialize_element(&x)?;
        }
        seq.end()
    }
}

fn seq<I: Iterator>(items: I) -> Seq<I> {
    Seq(std::cell::Cell::new(Some(items)))
}

/// `{"name": …, "evidence": …}` of the profile applied.
struct Profile<'r>(&'r crate::profile::Selection);

impl Serialize for Profile<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", self.0.profile.name())?;
        m.serialize_entry("evidence", &self.0.evidence)?;
        m.end()
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let server_side = |f: &&Finding| matches!(f, Finding::ServerSide { .. });
        let mut changes: Vec<&Change> = self.changes.iter().collect();
        // By kind, and removals in document order, which the formats' writers do not all
        // keep.
        changes.sort_by_key(|c| match c {
            Change::Removed { index, block, .. } => (c.action().1, *index, *block),
            _ => (c.action().1, 0, None),
        });
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("rule_set", &Rule::SET_VERSION)?;
        m.serialize_entry("format", self.detection.format.name())?;
        m.serialize_entry("profile", &self.profile.as_ref().map(Profile))?;
        m.serialize_entry("items", &self.items)?;
        m.serialize_entry("violations", &self.violations)?;
        m.serialize_entry("repairs", &changes)?;
        m.serialize_entry(
            "not_checked",
            &seq(self.findings.iter().filter(server_side).map(NotChecked)),
        )?;
        // The guard's findings have no place in a check's schema: a key of their own, there
        // only when there are some.
        if self.findings.iter().any(|f| !server_side(&f)) {
            let others = self.findings.iter().filter(|f| !server_side(f));
            m.serialize_entry("findings", &seq(others))?;
        }
        m.end()
    }
}
