//! The pipeline every caller of the library runs: read → analyze → plan → apply → report, on
//! a JSON body or a typed history (whose reading and writing `typed` gives it). `check` and `repair` run it whole; the guard runs its first
//! half, cross-checks with its ledger, then its second; the command line runs the same analysis
//! and plan (`repair::findings`) on skeletons it streams, and writes with writers of its own.

use serde_json::Value;

use crate::change::Change;
use crate::error::Error;
use crate::format::{Detection, Format};
use crate::profile::Selection;
use crate::repair::{plan_from, Plan, RepairOptions};
use crate::report::{self, Report};
use crate::rules::{self, Analysis};
use crate::skeleton::Skeleton;
use crate::wire;

/// A history the pipeline reads: a JSON body, or a typed history.
pub(crate) trait History {
    /// Reads it, with the model's rules when the options name one.
    fn read(&self, opts: &RepairOptions) -> Result<(Skeleton<'_>, Option<Selection>), Error>;
}

/// A history the pipeline also writes back to.
pub(crate) trait Target: History {
    /// Applies a plan made on `skel` (detached from it).
    fn apply(&mut self, skel: &Skeleton, plan: &Plan, opts: &RepairOptions) -> Vec<Change>;
    /// Shows a note to the model after the outputs of `call_id`.
    fn place_note(&mut self, call_id: &str, note: &str) -> bool;
}

/// A JSON body of a format already detected, to check.
pub(crate) struct Body<'b> {
    pub body: &'b Value,
    pub format: Format,
}

/// A JSON body of a format already detected, to check and repair.
pub(crate) struct Json<'b> {
    pub body: &'b mut Value,
    pub format: Format,
}

impl History for Body<'_> {
    fn read(&self, opts: &RepairOptions) -> Result<(Skeleton<'_>, Option<Selection>), Error> {
        crate::read_profiled(self.body, self.format, opts)
    }
}

impl History for Json<'_> {
    fn read(&self, opts: &RepairOptions) -> Result<(Skeleton<'_>, Option<Selection>), Error> {
        crate::read_profiled(self.body, self.format, opts)
    }
}

impl Target for Json<'_> {
    fn apply(&mut self, skel: &Skeleton, plan: &Plan, opts: &RepairOptions) -> Vec<Change> {
        wire::apply(self.body, self.format, skel, plan, opts)
    }

    fn place_note(&mut self, call_id: &str, note: &str) -> bool {
        wire::place_note(self.body, self.format, call_id, note)
    }
}

/// The first half of the pipeline: a history read, analyzed, and reported on.
pub(crate) struct Judged<'h> {
    pub skel: Skeleton<'h>,
    pub analysis: Analysis,
    pub report: Report,
}

/// Reads and analyzes a history, and reports what it breaks.
pub(crate) fn judge<'h, H: History + ?Sized>(
    history: &'h H,
    detection: Detection,
    opts: &RepairOptions,
) -> Result<Judged<'h>, Error> {
    let (skel, profile) = history.read(opts)?;
    Ok(analyzed(skel, detection, profile))
}

/// The first half on a skeleton already read.
pub(crate) fn analyzed(
    skel: Skeleton<'_>,
    detection: Detection,
    profile: Option<Selection>,
) -> Judged<'_> {
    let analysis = rules::analyze(&skel);
    let report = Report {
        detection,
        profile,
        items: skel.items,
        violations: rules::violations(&skel, &analysis).collect(),
        changes: Vec::new(),
        findings: report::server_side_findings(&skel, &analysis),
    };
    Judged {
        skel,
        analysis,
        report,
    }
}

impl Judged<'_> {
    /// The second half's plan, with the skeleton it was made on detached from the history, so
    /// the history can be written to.
    pub(crate) fn plan(&self) -> Option<(Plan, Skeleton<'static>)> {
        let plan = plan_from(&self.analysis);
        (!plan.is_empty()).then(|| {
            let skel = plan.detach(&self.skel);
            (plan, skel)
        })
    }
}

/// The whole pipeline: judged, then, when `mend`, the plan applied.
pub(crate) fn run(
    target: &mut impl Target,
    detection: Detection,
    opts: &RepairOptions,
    mend: bool,
) -> Result<Report, Error> {
    let judged = judge(&*target, detection, opts)?;
    let planned = if mend { judged.plan() } else { None };
    let mut report = judged.report;
    if let Some((plan, skel)) = planned {
        report.changes = target.apply(&skel, &plan, opts);
    }
    Ok(report)
}
