//! The guard: the one call a client makes before each model request.
//!
//! It waits (blocking or async) for the conversation's running tool calls to settle, checks the
//! body, cross-checks it with the ledger, applies the [`Policy`] and logs what it did through
//! `tracing` (target `toolseq::guard`): one WARN event per violation, one DEBUG summary per
//! request, so `RUST_LOG=toolseq=debug` shows everything. Diagnostics carry ids, kinds,
//! positions and timings, never the text of a message or tool output.
//!
//! ```
//! use serde_json::json;
//! use toolseq::guard::Guard;
//! use toolseq::ledger::Ledger;
//!
//! let ledger = Ledger::new();
//! ledger.call_started("conv", "call_1", Some("shell"), None);
//! ledger.call_ended("conv", "call_1", false); // interrupted
//! let guard = Guard::new(&ledger);
//! let mut history = json!([
//!     {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{}"},
//!     {"type": "message", "role": "user", "content": "try something else"}]);
//! // Waits for running calls first, then builds the body, so it holds outputs that landed.
//! let (body, report) = guard.prepare_with("conv", || json!({"input": history.clone()})).unwrap();
//! assert_eq!(body["input"][1]["type"], "function_call_output");
//! assert!(body["input"][1]["output"].as_str().unwrap().starts_with("cancelled"));
//! // Store the repair so the next request does not need it again:
//! report.apply_to(&mut history).unwrap();
//! assert_eq!(history, body["input"]);
//! ```

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::Error;
use crate::ledger::{CallState, Ledger, Snapshot};
use crate::pipeline::{self, Json, Target};
use crate::repair::RepairOptions;
use crate::report::{escape_id, Change, Finding, Report};
use crate::rules::{Rule, Violation};
use crate::typed::HistoryItem;
use crate::wire::{Detection, Format};

const TARGET: &str = "toolseq::guard";

/// What the guard does with a history that breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Log only; the body is left byte for byte as it was.
    Observe,
    /// Repair the body (the default).
    #[default]
    Repair,
    /// Refuse: return [`Error::Blocked`] with the report; the body is left as it was.
    Block,
}

/// Consulted before each model request. Cheap to share (`&Guard` across threads).
#[derive(Debug)]
pub struct Guard {
    ledger: Ledger,
    policy: Policy,
    settle_timeout: Duration,
    repair: RepairOptions,
    format: Option<Format>,
    flight_recorder: Option<PathBuf>,
    /// The ledger's record count when the guard was built.
    built_at: u64,
    /// Whether the guard has said that its ledger saw none of a body's calls.
    blind_noted: std::sync::atomic::AtomicBool,
    /// What feeds the ledger, when not this process's layer: the likely causes of a blind
    /// ledger then say so instead of naming tracing filters.
    fed_by: Option<&'static str>,
}

impl Guard {
    /// A guard over this ledger: policy `repair`, waits up to 2 s for running calls.
    pub fn new(ledger: &Ledger) -> Self {
        Guard {
            ledger: ledger.clone(),
            policy: Policy::default(),
            settle_timeout: Duration::from_secs(2),
            repair: RepairOptions::default(),
            format: None,
            flight_recorder: None,
            built_at: ledger.records_made(),
            blind_noted: std::sync::atomic::AtomicBool::new(false),
            fed_by: None,
        }
    }

    /// Says what feeds the ledger when it is not a layer in this process (a client's
    /// OpenTelemetry export played back, as `toolseq proxy` does): the guard's warnings about a
    /// ledger that saw nothing then name that source, not tracing filters.
    pub fn fed_by(mut self, source: &'static str) -> Self {
        self.fed_by = Some(source);
        self
    }

    /// Sets the policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// How long to wait for running calls before answering them as cancelled. Zero: do not wait.
    pub fn settle_timeout(mut self, timeout: Duration) -> Self {
        self.settle_timeout = timeout;
        self
    }

    /// Texts of synthetic outputs (`aborted` for lost outputs, a cancellation notice for
    /// interrupted calls, by default), the model and the signature bypass. Replaces every
    /// repair option, so call it before [`model`](Guard::model).
    pub fn repair_options(mut self, opts: RepairOptions) -> Self {
        self.repair = opts;
        self
    }

    /// Checks bodies as this model would (a model or [`Profile`](crate::Profile) name), whatever
    /// their `model` field says: for a client whose bodies do not name the model (Gemini's is in
    /// the URL). Shorthand for [`RepairOptions::model`].
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.repair.model = Some(model.into());
        self
    }

    /// Reads bodies as this format instead of detecting it.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// On a violation, appends the conversation's ledger records and the guard's verdict to this
    /// file as JSON Lines: a flight recorder for bug reports.
    pub fn flight_recorder(mut self, path: impl Into<PathBuf>) -> Self {
        self.flight_recorder = Some(path.into());
        self
    }

    /// The ledger this guard reads.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Waits (blocking, up to `settle_timeout`) for the conversation's running calls, **then**
    /// calls `build` once to build the request body, so the body carries every output that
    /// landed during the wait; then checks it and applies the policy. Returns the body to send
    /// and its report.
    ///
    /// A call still running when the wait ends is answered with a synthetic output saying so
    /// (and no longer holds up later requests); an interrupted call with one saying it was
    /// cancelled. If its real output lands later, the next request keeps the synthetic answer
    /// and returns the real one as a [`Finding::LateOutput`].
    ///
    /// ```
    /// use serde_json::json;
    /// use toolseq::{ledger::Ledger, Guard};
    ///
    /// let ledger = Ledger::new();
    /// let guard = Guard::new(&ledger);
    /// let history = vec![json!({"type": "message", "role": "user", "content": "hi"})];
    /// let (body, report) = guard
    ///     .prepare_with("conv-1", || json!({"model": "gpt-5", "input": history.clone()}))?;
    /// assert!(report.is_clean());
    /// # let _ = body;
    /// # Ok::<(), toolseq::Error>(())
    /// ```
    pub fn prepare_with(
        &self,
        conversation: &str,
        build: impl FnOnce() -> Value,
    ) -> Result<(Value, Report), Error> {
        self.settle(conversation);
        self.build_and_handle(conversation, build)
    }

    /// [`prepare_with`](Guard::prepare_with) as a future, on any async runtime: waits for the
    /// conversation's running calls without blocking a thread, then builds the body.
    pub async fn prepare_with_async(
        &self,
        conversation: &str,
        build: impl FnOnce() -> Value,
    ) -> Result<(Value, Report), Error> {
        self.settle_async(conversation).await;
        self.build_and_handle(conversation, build)
    }

    /// [`prepare_with_async`](Guard::prepare_with_async) for a body that is built by a future:
    /// a history behind a `tokio::sync::Mutex`, read with `.lock().await`, which a synchronous
    /// builder cannot do inside a runtime. Waits for the conversation's running calls without
    /// blocking a thread, then awaits `build`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use serde_json::{json, Value};
    /// use toolseq::{ledger::Ledger, Guard};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let history: Arc<tokio::sync::Mutex<Vec<Value>>> = Arc::new(tokio::sync::Mutex::new(vec![
    ///     json!({"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"})]));
    /// let guard = Guard::new(&Ledger::new());
    /// let (body, report) = guard
    ///     .prepare_with_future("conv-1", || async {
    ///         json!({"model": "gpt-4.1", "input": history.lock().await.clone()})
    ///     })
    ///     .await?;
    /// assert_eq!(report.changes.len(), 1);
    /// // Store the repair where the history lives: the next request needs none.
    /// report.apply_to_items(&mut *history.lock().await)?;
    /// assert_eq!(*history.lock().await, body["input"].as_array().unwrap().clone());
    /// # Ok::<(), toolseq::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn prepare_with_future<F, Fut>(
        &self,
        conversation: &str,
        build: F,
    ) -> Result<(Value, Report), Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        self.settle_async(conversation).await;
        let start = self.ledger.now();
        let mut body = build().await;
        let detection = self.detect(&body)?;
        let report = self.handle_body(conversation, &mut body, detection, start)?;
        Ok((body, report))
    }

    fn build_and_handle(
        &self,
        conversation: &str,
        build: impl FnOnce() -> Value,
    ) -> Result<(Value, Report), Error> {
        let start = self.ledger.now();
        let mut body = build();
        let detection = self.detect(&body)?;
        let report = self.handle_body(conversation, &mut body, detection, start)?;
        Ok((body, report))
    }

    /// [`prepare_with`](Guard::prepare_with) for a typed history ([`crate::typed`]): waits
    /// (blocking) for the conversation's running calls, then calls `build` once for the items to
    /// send, checks and repairs them as the policy says, and returns them with the report. The
    /// format is the item type's; [`RepairOptions::server_history`] says whether the history
    /// continues one stored server-side.
    ///
    /// ```
    /// # #[cfg(feature = "async-openai")] {
    /// use async_openai::types::responses::InputItem;
    /// use toolseq::{ledger::Ledger, Guard};
    ///
    /// let ledger = Ledger::new();
    /// let guard = Guard::new(&ledger);
    /// let history: Vec<InputItem> = serde_json::from_value(serde_json::json!([
    ///     {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"},
    ///     {"type": "message", "role": "user", "content": "go on"}])).unwrap();
    /// let (items, report) = guard.prepare_items_with("conv-1", || history.clone())?;
    /// assert_eq!(report.changes.len(), 1);
    /// assert_eq!(items.len(), 3);
    /// # }
    /// # Ok::<(), toolseq::Error>(())
    /// ```
    pub fn prepare_items_with<T: HistoryItem>(
        &self,
        conversation: &str,
        build: impl FnOnce() -> Vec<T>,
    ) -> Result<(Vec<T>, Report), Error> {
        self.settle(conversation);
        self.build_and_handle_items(conversation, build)
    }

    /// [`prepare_items_with`](Guard::prepare_items_with) as a future, on any async runtime.
    pub async fn prepare_items_with_async<T: HistoryItem>(
        &self,
        conversation: &str,
        build: impl FnOnce() -> Vec<T>,
    ) -> Result<(Vec<T>, Report), Error> {
        self.settle_async(conversation).await;
        self.build_and_handle_items(conversation, build)
    }

    fn build_and_handle_items<T: HistoryItem>(
        &self,
        conversation: &str,
        build: impl FnOnce() -> Vec<T>,
    ) -> Result<(Vec<T>, Report), Error> {
        if self.policy == Policy::Repair && !crate::typed::repairable(T::FORMAT) {
            return Err(crate::typed::unrepairable(T::FORMAT));
        }
        let start = self.ledger.now();
        let mut items = build();
        let detection = Detection {
            format: T::FORMAT,
            evidence: "typed history",
        };
        let report = self.handle(conversation, &mut items, detection, start)?;
        Ok((items, report))
    }

    /// Checks and handles a body that was built **before** this call, waiting first (blocking)
    /// for running calls. Prefer [`prepare_with`](Guard::prepare_with): an output that lands
    /// while this waits cannot be in a body that already exists, so its call is answered
    /// synthetically although its real output arrived in time (the report says so with a
    /// [`Finding::LostOutput`] whose `during_wait` is true).
    pub fn prepare(&self, conversation: &str, body: &mut Value) -> Result<Report, Error> {
        let detection = self.detect(body)?;
        let start = self.ledger.now();
        self.settle(conversation);
        self.handle_body(conversation, body, detection, start)
    }

    /// [`prepare`](Guard::prepare) as a future, on any async runtime. Prefer
    /// [`prepare_with_async`](Guard::prepare_with_async), for the reason `prepare` gives.
    pub async fn prepare_async(
        &self,
        conversation: &str,
        body: &mut Value,
    ) -> Result<Report, Error> {
        let detection = self.detect(body)?;
        let start = self.ledger.now();
        self.settle_async(conversation).await;
        self.handle_body(conversation, body, detection, start)
    }

    /// Waits (blocking, up to `settle_timeout`) for the conversation's running calls.
    fn settle(&self, conversation: &str) {
        if !self.settle_timeout.is_zero() {
            self.ledger.wait_settled(conversation, self.settle_timeout);
        }
    }

    /// [`settle`](Guard::settle) without blocking a thread.
    async fn settle_async(&self, conversation: &str) {
        if !self.settle_timeout.is_zero() {
            self.ledger
                .settled(conversation, Some(self.settle_timeout))
                .await;
        }
    }

    fn handle_body(
        &self,
        conversation: &str,
        body: &mut Value,
        detection: Detection,
        waited_from: Duration,
    ) -> Result<Report, Error> {
        let format = detection.format;
        self.handle(
            conversation,
            &mut Json { body, format },
            detection,
            waited_from,
        )
    }

    fn detect(&self, body: &Value) -> Result<Detection, Error> {
        crate::detection(body, self.format)
    }

    /// `waited_from`: when the guard began waiting, on the ledger's clock; an output produced
    /// after it and missing from the body landed while the guard waited.
    fn handle(
        &self,
        conversation: &str,
        body: &mut impl Target,
        detection: Detection,
        waited_from: Duration,
    ) -> Result<Report, Error> {
        let mut judged = pipeline::judge(&*body, detection, &self.repair)?;
        let snap = self.ledger.snapshot(conversation);
        let mut opts = self.repair.clone();
        match &snap {
            Some(snap) => self.cross_check(
                conversation,
                snap,
                &judged.skel,
                &mut judged.report,
                &mut opts,
                waited_from,
            ),
            None => self.blind(conversation, &judged.skel, &mut judged.report),
        }
        let planned = (self.policy == Policy::Repair && !judged.report.violations.is_empty())
            .then(|| judged.plan())
            .flatten();
        let mut report = judged.report;
        if report.violations.is_empty() {
            tracing::debug!(
                target: TARGET,
                conversation = %escape_id(conversation),
                format = detection.format.name(),
                items = report.items,
                "history clean"
            );
            return Ok(report);
        }
        if self.policy == Policy::Repair {
            if let Some((plan, skel)) = planned {
                report.changes = body.apply(&skel, &plan, &opts);
            }
            self.count_repairs(conversation, &mut report);
            if let Some(snap) = &snap {
                self.late_outputs(body, snap, &mut report, &opts);
            }
        }
        self.log(conversation, &report, snap.as_ref());
        self.record_flight(conversation, &report);
        if self.policy == Policy::Block {
            return Err(Error::Blocked(Box::new(report)));
        }
        Ok(report)
    }

    /// A body with calls in a conversation the ledger has no record of: the guard waited for
    /// nothing and cannot tell a lost output from a cancelled call. Said once per guard, with
    /// the likely causes in order, naming the conversations the ledger did see.
    fn blind(&self, conversation: &str, skel: &crate::skeleton::Skeleton, report: &mut Report) {
        let Some(id) = skel
            .entries
            .iter()
            .find(|e| e.kind() == crate::skeleton::Kind::Call)
            .and_then(|e| e.id())
        else {
            return;
        };
        if self
            .blind_noted
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        if self.ledger.records_made() == self.built_at {
            tracing::warn!(
                target: TARGET,
                conversation = %escape_id(conversation),
                call_id = %escape_id(id),
                causes = self.fed_by.unwrap_or("1. an EnvFilter (RUST_LOG) on the whole registry instead of on the fmt layer; 2. the subscriber holding toolseq's layer set only on another thread (set_default, with_subscriber) or never installed; 3. calls recorded under another conversation id"),
                "the ledger has seen nothing at all since this guard was built (noted once)"
            );
        } else {
            let seen = self.ledger.conversations();
            let held: Vec<String> = seen.iter().take(8).map(|c| escape_id(c)).collect();
            tracing::warn!(
                target: TARGET,
                conversation = %escape_id(conversation),
                call_id = %escape_id(id),
                seen = %held.join(", "),
                causes = self.fed_by.unwrap_or("1. calls recorded under another conversation id (a call span created inside tokio::spawn with no conversation span around it lands in `default`); 2. an EnvFilter on the whole registry hiding the call spans"),
                "the ledger holds no record of this conversation, only of others (noted once)"
            );
        }
        report.findings.push(Finding::UnseenCall {
            call_id: id.to_owned(),
        });
    }

    /// Explains missing outputs with what the ledger saw, and decides which synthetic outputs
    /// say "cancelled".
    fn cross_check(
        &self,
        conversation: &str,
        snap: &Snapshot,
        skel: &crate::skeleton::Skeleton,
        report: &mut Report,
        opts: &mut RepairOptions,
        waited_from: Duration,
    ) {
        let now = self.ledger.now();
        for v in report
            .violations
            .iter()
            .filter(|v| v.rule == Rule::MissingOutput)
        {
            let Some(id) = v.call_id.as_deref() else {
                continue;
            };
            let Some(call) = snap.calls.get(self.ledger.key(id)) else {
                continue;
            };
            let finding = match call.state {
                CallState::Answered | CallState::AnsweredAfterCancel => {
                    let produced_at = call.output_at.unwrap_or_default();
                    Finding::LostOutput {
                        call_id: id.to_owned(),
                        produced_at,
                        ago: now.saturating_sub(produced_at),
                        during_wait: produced_at >= waited_from,
                    }
                }
                CallState::Running => {
                    opts.running.insert(id.to_owned());
                    Finding::StillRunning {
                        call_id: id.to_owned(),
                        age: now.saturating_sub(call.started.unwrap_or_default()),
                    }
                }
                // An aborted call's own abort output is missing from the body: answered as
                // interrupted, which is what the client meant to send.
                CallState::Cancelled | CallState::Aborted => {
                    opts.cancelled.insert(id.to_owned());
                    Finding::Cancelled {
                        call_id: id.to_owned(),
                    }
                }
            };
            report.findings.push(finding);
        }
        // Old calls may have been evicted, so unseen calls only mean something in a complete ledger.
        if snap.evicted_records > 0 {
            return;
        }
        let unseen = skel
            .entries
            .iter()
            .filter(|e| e.kind() == crate::skeleton::Kind::Call)
            .filter_map(|e| e.id())
            .find(|id| !snap.calls.contains_key(self.ledger.key(id)));
        if let Some(id) = unseen {
            if self.ledger.note_unseen(conversation) {
                tracing::warn!(
                    target: TARGET,
                    conversation = %escape_id(conversation),
                    call_id = %escape_id(id),
                    hint = self.fed_by.unwrap_or("put RUST_LOG's EnvFilter on the fmt layer, not on the registry, or toolseq's layer cannot see tool-call spans"),
                    "the ledger never saw this call (noted once per conversation)"
                );
                report.findings.push(Finding::UnseenCall {
                    call_id: id.to_owned(),
                });
            }
        }
    }

    /// Turns the removed second outputs of calls the guard had answered synthetically into
    /// late-output findings, and delivers them as notes when the options ask for it.
    fn late_outputs(
        &self,
        body: &mut impl Target,
        snap: &Snapshot,
        report: &mut Report,
        opts: &RepairOptions,
    ) {
        let mut late = Vec::new();
        for c in &report.changes {
            let Change::Removed {
                rule: Rule::DuplicateOutput,
                call_id: Some(id),
                item,
                ..
            } = c
            else {
                continue;
            };
            let Some(call) = snap.calls.get(self.ledger.key(id)) else {
                continue;
            };
            let Some(answered_at) = call.synthetic_at else {
                continue;
            };
            let late_by = call.output_at.map(|o| o.saturating_sub(answered_at));
            let delivered = opts.deliver_late_outputs
                && body.place_note(id, &crate::report::late_note(id, late_by, item));
            late.push(Finding::LateOutput {
                call_id: id.clone(),
                late_by,
                item: item.clone(),
                delivered,
            });
        }
        report.findings.extend(late);
    }

    /// Notes each repaired call in the ledger; the second repair of one call is an ERROR.
    fn count_repairs(&self, conversation: &str, report: &mut Report) {
        let mut seen = HashSet::new();
        for c in &report.changes {
            let id = match c {
                Change::Inserted { call_id, .. } | Change::Moved { call_id, .. } => call_id,
                _ => continue,
            };
            if !seen.insert(id.clone()) {
                continue;
            }
            let times = self.ledger.note_repaired(conversation, id);
            if matches!(c, Change::Inserted { .. }) {
                self.ledger.note_synthetic(conversation, id);
            }
            if times > 1 {
                report.findings.push(Finding::RepeatedRepair {
                    call_id: id.clone(),
                    times,
                });
            }
            if times == 2 {
                tracing::error!(
                    target: TARGET,
                    conversation = %escape_id(conversation),
                    call_id = %escape_id(id),
                    times,
                    hint = "store the repaired history (Report::apply_to) or the same repair is made on every request",
                    "the same call was repaired again: the repair is not being stored"
                );
            }
        }
    }

    fn log(&self, conversation: &str, report: &Report, snap: Option<&Snapshot>) {
        let now = self.ledger.now();
        for v in &report.violations {
            let action = self.action(v, report);
            let call_id = v.call_id.as_deref().map(escape_id).unwrap_or_default();
            let age_ms = v
                .call_id
                .as_deref()
                .and_then(|id| snap?.calls.get(self.ledger.key(id))?.started)
                .map(|t| now.saturating_sub(t).as_millis() as u64);
            // Left out where the API's words are not known, rather than empty.
            let api_error = report.api_error(v);
            // `age_ms` is left out, not zero, for a call the ledger never saw start.
            tracing::warn!(
                target: TARGET,
                conversation = %escape_id(conversation),
                rule = v.rule.name(),
                call_id = %call_id,
                index = v.index,
                action,
                age_ms,
                api_error = api_error.as_deref(),
                "tool pairing violation"
            );
        }
        for f in &report.findings {
            if let Finding::LostOutput {
                during_wait: true, ..
            } = f
            {
                tracing::warn!(
                    target: TARGET,
                    conversation = %escape_id(conversation),
                    finding = f.name(),
                    call_id = %escape_id(f.call_id()),
                    hint = "build the body inside Guard::prepare_with, after the wait, so it carries outputs that land meanwhile",
                    "{f}"
                );
            } else if matches!(
                f,
                Finding::LostOutput { .. }
                    | Finding::StillRunning { .. }
                    | Finding::LateOutput { .. }
            ) {
                tracing::warn!(
                    target: TARGET,
                    conversation = %escape_id(conversation),
                    finding = f.name(),
                    call_id = %escape_id(f.call_id()),
                    "{f}"
                );
            }
        }
        tracing::debug!(
            target: TARGET,
            conversation = %escape_id(conversation),
            format = report.detection.format.name(),
            items = report.items,
            violations = report.violations.len(),
            changes = report.changes.len(),
            policy = ?self.policy,
            "history checked"
        );
    }

    fn action(&self, v: &Violation, report: &Report) -> &'static str {
        match self.policy {
            Policy::Observe => "observed",
            Policy::Block => "blocked",
            Policy::Repair if !v.repairable() => "left",
            Policy::Repair => match v.rule {
                Rule::MissingOutput => {
                    let known = v.call_id.as_deref().and_then(|id| {
                        report.findings.iter().find_map(|f| match f {
                            Finding::Cancelled { call_id } if call_id == id => {
                                Some("inserted_cancelled_output")
                            }
                            Finding::StillRunning { call_id, .. } if call_id == id => {
                                Some("inserted_still_running_output")
                            }
                            _ => None,
                        })
                    });
                    known.unwrap_or("inserted_output")
                }
                Rule::InterleavedMessage | Rule::OutputBeforeCall => "moved_output",
                Rule::MixedResultTurn => "separated_text",
                // What was done to this item, as the report's changes say.
                rule => report
                    .changes
                    .iter()
                    .find_map(|c| match *c {
                        Change::Rewritten { rule: r, index, .. }
                            if (r, index) == (rule, v.index) =>
                        {
                            Some("rewrote_call_id")
                        }
                        Change::Stripped { rule: r, index, .. }
                            if (r, index) == (rule, v.index) =>
                        {
                            Some("stripped_field")
                        }
                        Change::Reshaped { rule: r, index, .. }
                            if (r, index) == (rule, v.index) =>
                        {
                            Some("reshaped_output")
                        }
                        Change::Signed { rule: r, index, .. } if (r, index) == (rule, v.index) => {
                            Some("signed_call")
                        }
                        Change::Placeholder { rule: r, .. } if r == rule => Some("placeholder"),
                        Change::Removed { rule: r, index, .. } if (r, index) == (rule, v.index) => {
                            Some("removed")
                        }
                        _ => None,
                    })
                    .unwrap_or("repaired"),
            },
        }
    }

    fn record_flight(&self, conversation: &str, report: &Report) {
        let Some(path) = &self.flight_recorder else {
            return;
        };
        let write = || -> std::io::Result<()> {
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            let mut buf = Vec::new();
            self.ledger.dump_jsonl(conversation, &mut buf)?;
            let verdict: Vec<Value> = report
                .violations
                .iter()
                .map(|v| json!({"rule": v.rule.name(), "call_id": v.call_id, "index": v.index, "action": self.action(v, report)}))
                .collect();
            let line = json!({
                "event": "guard_verdict",
                "at_us": self.ledger.now().as_micros() as u64,
                "conversation": conversation,
                "format": report.detection.format.name(),
                "policy": format!("{:?}", self.policy).to_lowercase(),
                "violations": verdict,
            });
            writeln!(buf, "{line}")?;
            file.write_all(&buf)
        };
        if let Err(e) = write() {
            tracing::warn!(target: TARGET, path = %path.display(), error = %e, "cannot write the flight recorder");
        }
    }
}
