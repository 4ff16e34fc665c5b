//! The repair planner: a pure function from a [`Skeleton`] to an edit [`Plan`].
//!
//! The plan never deletes a call that has no duplicate (the model would forget an action that
//! already ran): it answers it with a synthetic output. It moves misplaced outputs up next to
//! their call and removes orphan, duplicate and mismatched outputs, which the wire adapter hands
//! back whole so nothing is lost silently. Applying the plan and checking again finds nothing
//! [`repairable`](crate::rules::Violation::repairable); planning again then yields an empty plan.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::rule::{Rule, Violation};
use crate::rules::{analyze, Analysis};
use crate::skeleton::{Entry, Skeleton};
use crate::verdict::{Action, Verdict};

/// What a synthetic output says, which calls were cancelled or still running rather than lost,
/// and what to do with outputs that arrive late.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairOptions {
    /// Text of the synthetic output for a call whose output is missing. Default `aborted`.
    pub missing_text: String,
    /// Text of the synthetic output for a call known to be cancelled (see
    /// [`cancelled`](RepairOptions::cancelled)). Default `cancelled: the user interrupted this
    /// tool call before it finished`.
    pub cancelled_text: String,
    /// Text of the synthetic output for a call still running when the request was sent (see
    /// [`running`](RepairOptions::running)). Default `still running: …`.
    pub running_text: String,
    /// Call ids known to have been cancelled (filled by the guard from the ledger).
    pub cancelled: HashSet<String>,
    /// Call ids still running when the guard stopped waiting (filled by the guard).
    pub running: HashSet<String>,
    /// Whether the guard shows a late output (one that arrived after its call was answered
    /// synthetically) to the model as a short user message placed after the call's outputs,
    /// instead of only returning it in the report. Default `false`: the model is never sent
    /// anything the caller did not ask for.
    pub deliver_late_outputs: bool,
    /// Texts for particular call ids, taking precedence over the two above (used to replay a
    /// repair on a stored history with [`Report::apply_to`](crate::Report::apply_to)).
    pub texts: HashMap<String, String>,
    /// The model the body is sent to (`deepseek-reasoner`, `devstral-medium-2512`), or a
    /// [`Profile`](crate::profile::Profile) name, taking precedence over the body's `model`
    /// field: it selects the model's own rules. Default `None`: the body's `model` decides.
    pub model: Option<String>,
    /// Whether a call missing its Gemini 3 thought signature gets the value Google documents
    /// for skipping the check ([`BYPASS_SIGNATURE`](crate::profile::BYPASS_SIGNATURE)). Default
    /// `false`: the model then reasons without its earlier thoughts, which the caller must
    /// choose; otherwise the violation is reported and left.
    pub thought_signature_bypass: bool,
    /// Whether the history continues one stored server-side (the request sets
    /// `previous_response_id` or `conversation`), so an output whose call the history does not
    /// show may answer a stored call: it is left alone. A JSON body says so itself; a typed
    /// history ([`crate::typed`]) cannot. Default `false`.
    pub server_history: bool,
    /// Whether a repair may put a placeholder where the API accepts one in place of what only
    /// the model could write: an empty `reasoning_content` on a DeepSeek thinking-mode message
    /// that lost its own, and a model turn saying it did not reply between tool results and the
    /// user's text split from them where the two sides must take turns (Gemini, Bedrock), and a
    /// user turn before a history that opens with the model's calls (`Change::Placeholder`). Default `false`: the model then continues
    /// without its earlier reasoning, which the caller must choose; otherwise the violation
    /// is reported and left.
    pub placeholders: bool,
}

impl Default for RepairOptions {
    fn default() -> Self {
        RepairOptions {
            missing_text: "aborted".to_owned(),
            cancelled_text: "cancelled: the user interrupted this tool call before it finished"
                .to_owned(),
            running_text: "still running: this tool call had not finished when the request was sent, so its result is not available"
                .to_owned(),
            cancelled: HashSet::new(),
            running: HashSet::new(),
            deliver_late_outputs: false,
            texts: HashMap::new(),
            model: None,
            thought_signature_bypass: false,
            server_history: false,
            placeholders: false,
        }
    }
}

impl RepairOptions {
    /// Sets the text of synthetic outputs for missing outputs.
    pub fn missing_text(mut self, text: impl Into<String>) -> Self {
        self.missing_text = text.into();
        self
    }

    /// Sets the text of synthetic outputs for cancelled calls.
    pub fn cancelled_text(mut self, text: impl Into<String>) -> Self {
        self.cancelled_text = text.into();
        self
    }

    /// Sets the text of synthetic outputs for calls still running.
    pub fn running_text(mut self, text: impl Into<String>) -> Self {
        self.running_text = text.into();
        self
    }

    /// Delivers late outputs to the model as a short message (see
    /// [`deliver_late_outputs`](RepairOptions::deliver_late_outputs)).
    pub fn deliver_late_outputs(mut self, deliver: bool) -> Self {
        self.deliver_late_outputs = deliver;
        self
    }

    /// Checks the body as this model (or [`Profile`](crate::profile::Profile) name) would (see
    /// [`model`](RepairOptions::model)).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Answers missing Gemini 3 thought signatures with Google's documented skip value (see
    /// [`thought_signature_bypass`](RepairOptions::thought_signature_bypass)).
    pub fn thought_signature_bypass(mut self, bypass: bool) -> Self {
        self.thought_signature_bypass = bypass;
        self
    }

    /// Puts placeholders where the API accepts them (see
    /// [`placeholders`](RepairOptions::placeholders)).
    pub fn placeholders(mut self, placeholders: bool) -> Self {
        self.placeholders = placeholders;
        self
    }

    /// Says the history continues one stored server-side (see
    /// [`server_history`](RepairOptions::server_history)).
    pub fn server_history(mut self, stored: bool) -> Self {
        self.server_history = stored;
        self
    }

    /// The synthetic text for this call id.
    pub fn text_for(&self, call_id: &str) -> &str {
        if let Some(text) = self.texts.get(call_id) {
            text
        } else if self.cancelled.contains(call_id) {
            &self.cancelled_text
        } else if self.running.contains(call_id) {
            &self.running_text
        } else {
            &self.missing_text
        }
    }
}

/// What goes into a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The existing output at this skeleton entry, moved here.
    Moved {
        /// Skeleton entry of the output.
        entry: usize,
        /// Skeleton entry of the call it answers.
        call: usize,
    },
    /// A new output answering the call at this skeleton entry.
    Synthetic {
        /// Skeleton entry of the call.
        call: usize,
    },
}

/// Put `placed` right after the slot of skeleton entry `anchor` (even if that entry itself is
/// removed or moved away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insert {
    /// Skeleton entry after whose slot the output goes.
    pub anchor: usize,
    /// The output.
    pub placed: Placed,
}

/// Remove the item at this skeleton entry, because of `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    /// Skeleton entry to remove.
    pub entry: usize,
    /// Why.
    pub rule: Rule,
}

/// Give the call or output at this skeleton entry a new call id. Every entry holding the old id
/// gets the same new one, so pairs stay pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Skeleton entry whose call id changes.
    pub entry: usize,
    /// The new call id.
    pub new_id: String,
    /// Why.
    pub rule: Rule,
}

pub use crate::verdict::Field;

/// Remove `field` from the item at this skeleton entry, because of `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strip {
    /// Skeleton entry of the item.
    pub entry: usize,
    /// The field.
    pub field: Field,
    /// Why.
    pub rule: Rule,
}

/// Move the conversation blocks of the message at this skeleton entry out of the tool-result
/// turn that holds them, into a user message right after it, because of `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separation {
    /// Skeleton entry of the message blocks.
    pub entry: usize,
    /// Why.
    pub rule: Rule,
}

/// Give the call at this skeleton entry the value Google documents for skipping the thought
/// signature check, because of `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bypass {
    /// Skeleton entry of the call.
    pub entry: usize,
    /// Why.
    pub rule: Rule,
}

/// Give the output at this skeleton entry the shape its API documents, because of `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reshape {
    /// Skeleton entry of the output.
    pub entry: usize,
    /// Why.
    pub rule: Rule,
}

/// Put a placeholder on the item at this skeleton entry where only the model could have written
/// the real value, because of `rule` (only when the caller opted in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder {
    /// Skeleton entry of the call whose message gets it.
    pub entry: usize,
    /// Why.
    pub rule: Rule,
}

/// An edit plan over a skeleton. Inserts are sorted by anchor, and inserts sharing an anchor
/// are in the order their calls were made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Items to drop, sorted by entry.
    pub removals: Vec<Removal>,
    /// Outputs to put in place.
    pub inserts: Vec<Insert>,
    /// Call ids to replace in place, sorted by entry.
    pub rewrites: Vec<Rewrite>,
    /// Fields to remove in place, sorted by entry.
    pub strips: Vec<Strip>,
    /// Conversation blocks to move out of tool-result turns.
    pub separations: Vec<Separation>,
    /// Calls given the signature bypass value, sorted by entry (only when opted in).
    pub bypasses: Vec<Bypass>,
    /// Outputs given the shape their API documents, sorted by entry.
    pub reshapes: Vec<Reshape>,
    /// Placeholders put where only the model could write the value, sorted by entry (only when
    /// opted in).
    pub placeholders: Vec<Placeholder>,
    /// Turns that get a placeholder turn of the other side before them (only when opted in).
    pub turns: Vec<Placeholder>,
}

impl Plan {
    /// The new call id the plan gives the entry, if it renames it (its rewrites are in entry
    /// order).
    pub fn new_id(&self, entry: usize) -> Option<&str> {
        let at = self.rewrites.partition_point(|r| r.entry < entry);
        let r = self.rewrites.get(at).filter(|r| r.entry == entry)?;
        Some(&r.new_id)
    }

    /// The entries edited in place (rewritten, stripped, reshaped or given a bypass value),
    /// possibly repeated.
    pub fn edited_entries(&self) -> impl Iterator<Item = usize> + '_ {
        self.rewrites
            .iter()
            .map(|r| r.entry)
            .chain(self.strips.iter().map(|s| s.entry))
            .chain(self.bypasses.iter().map(|b| b.entry))
            .chain(self.reshapes.iter().map(|r| r.entry))
            .chain(self.placeholders.iter().map(|p| p.entry))
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.moves_items() && self.edited_entries().next().is_none()
    }

    /// Whether the plan removes, moves or inserts anything (beyond editing items in place).
    pub fn moves_items(&self) -> bool {
        !(self.removals.is_empty()
            && self.inserts.is_empty()
            && self.separations.is_empty()
            && self.turns.is_empty())
    }

    /// What applying this plan needs of `skel`, detached from the body `skel` borrows its ids
    /// from, so that body can be edited: every entry keeps its place and kind, and only the
    /// entries the plan names keep their call ids (owned). Copying every id instead costs a
    /// cache miss per item on a large history.
    pub fn detach(&self, skel: &Skeleton<'_>) -> Skeleton<'static> {
        let mut named = vec![false; skel.entries.len()];
        let mut name = |e: usize| {
            if let Some(n) = named.get_mut(e) {
                *n = true;
            }
        };
        for r in &self.removals {
            name(r.entry);
        }
        for i in &self.inserts {
            match i.placed {
                Placed::Moved { call, .. } | Placed::Synthetic { call } => name(call),
            }
        }
        for e in self.edited_entries() {
            name(e);
        }
        for s in &self.separations {
            name(s.entry);
        }
        let renamed: std::collections::HashMap<usize, &str> = self
            .rewrites
            .iter()
            .map(|r| (r.entry, r.new_id.as_str()))
            .collect();
        let entries = skel
            .entries
            .iter()
            .zip(named)
            .enumerate()
            .map(|(i, (e, named))| Entry {
                kind: e.kind(),
                family: e.family(),
                // A rewritten call is answered under its new id.
                call_id: renamed
                    .get(&i)
                    .copied()
                    .or(e.call_id())
                    .filter(|_| named)
                    .map(|id| Cow::Owned(id.to_owned())),
                index: e.index(),
                block: crate::skeleton::block32(e.block()),
                label: e.label(),
                item_id: None,
                trace: e.trace(),
                flaw: e.flaw(),
                content: None,
            })
            .collect();
        Skeleton {
            format: skel.format,
            entries,
            adjacency: skel.adjacency,
            items: skel.items,
            server_history: skel.server_history,
            call_ids: skel.call_ids,
            calls_follow_user: skel.calls_follow_user,
            alternating_roles: skel.alternating_roles,
            mixed_turns_accepted: skel.mixed_turns_accepted,
            user_first: skel.user_first,
            unstored: skel.unstored,
            tools_undefined: skel.tools_undefined,
            no_prefill: skel.no_prefill,
            profile: skel.profile,
            template: skel.template,
            signature_bypass: skel.signature_bypass,
            placeholders: skel.placeholders,
        }
    }
}

/// Plans the repair of a skeleton, in linear time.
///
/// ```
/// use toolseq::__private::skeleton::{Adjacency, Entry, Family, Kind, Role, Skeleton};
/// use toolseq::__private::repair::{plan, Placed};
///
/// let mut skel = Skeleton::new(toolseq::Format::Responses, Adjacency::AfterCall);
/// skel.entries.push(Entry::paired(Kind::Call, Family::Function, Some("call_1".into()), 0, None, "function_call"));
/// skel.entries.push(Entry::new(Kind::Message(Role::User), 1, None, "message"));
/// let p = plan(&skel);
/// assert_eq!(p.inserts[0].anchor, 0);
/// assert_eq!(p.inserts[0].placed, Placed::Synthetic { call: 0 });
/// ```
pub fn plan(skel: &Skeleton) -> Plan {
    plan_from(&analyze(skel))
}

/// What one analysis of a skeleton finds: what [`check`](crate::rules::check), [`plan`] and
/// [`server_side_outputs`](crate::rules::server_side_outputs) give, which make an analysis
/// each. On a large history the analysis costs more than reading it: a report that needs all
/// three makes it once here. The violations are made one at a time as they are read, so a
/// report of a million of them never holds them all.
///
/// ```
/// use serde_json::json;
///
/// let body = json!({"input": [
///     {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"}]});
/// let skel = toolseq::__private::wire::read(&body, toolseq::Format::Responses).unwrap();
/// let found = toolseq::__private::repair::findings(&skel);
/// assert_eq!(found.violations().collect::<Vec<_>>(), toolseq::__private::rules::check(&skel));
/// assert!(!found.is_clean());
/// assert_eq!(found.plan, toolseq::__private::repair::plan(&skel));
/// assert!(found.server_side.is_empty());
/// ```
pub struct Findings<'s> {
    skel: &'s Skeleton<'s>,
    analysis: Analysis,
    /// The plan that mends the violations.
    pub plan: Plan,
    /// Outputs whose call may be stored server-side: `(entry, call id)`, in document order.
    pub server_side: Vec<(usize, &'s str)>,
}

impl<'s> Findings<'s> {
    /// The violations, in document order, made as they are read: each call walks the analysis
    /// again.
    pub fn violations(&self) -> impl Iterator<Item = Violation> + '_ {
        crate::rules::violations(self.skel, &self.analysis)
    }

    /// Whether no rule is broken.
    pub fn is_clean(&self) -> bool {
        self.violations().next().is_none()
    }
}

impl fmt::Debug for Findings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Findings")
            .field("violations", &self.violations().collect::<Vec<_>>())
            .field("plan", &self.plan)
            .field("server_side", &self.server_side)
            .finish()
    }
}

/// Analyses `skel` once for its violations, its repair plan and its outputs left to the server.
pub fn findings<'s>(skel: &'s Skeleton<'s>) -> Findings<'s> {
    let analysis = analyze(skel);
    Findings {
        plan: plan_from(&analysis),
        server_side: crate::rules::server_side_of(skel, &analysis),
        skel,
        analysis,
    }
}

/// The plan that mends what an analysis found.
pub(crate) fn plan_from(a: &Analysis) -> Plan {
    let mut p = Plan::default();
    for f in &a.ids {
        let (entry, rule) = (f.entry, f.rule);
        match &f.action {
            Action::Remove => p.removals.push(Removal { entry, rule }),
            Action::Strip(field) => p.strips.push(Strip {
                entry,
                field: *field,
                rule,
            }),
            Action::Rewrite(new_id) => p.rewrites.push(Rewrite {
                entry,
                new_id: new_id.clone(),
                rule,
            }),
            Action::Separate => p.separations.push(Separation { entry, rule }),
            Action::Bypass => p.bypasses.push(Bypass { entry, rule }),
            Action::Reshape => p.reshapes.push(Reshape { entry, rule }),
            Action::Placeholder => p.placeholders.push(Placeholder { entry, rule }),
            Action::PlaceholderTurn => p.turns.push(Placeholder { entry, rule }),
            Action::Leave => {}
        }
    }
    for (i, v) in a.verdicts.iter().enumerate() {
        if let Some(rule) = v.removal() {
            p.removals.push(Removal { entry: i, rule });
            continue;
        }
        if *v != Verdict::Call {
            continue;
        }
        let placed = match a.answer[i] {
            None => Placed::Synthetic { call: i },
            Some(o)
                if a.verdicts[o as usize]
                    == (Verdict::Answer {
                        call: crate::verdict::at(i),
                        placed: false,
                    }) =>
            {
                Placed::Moved {
                    entry: o as usize,
                    call: i,
                }
            }
            Some(_) => continue,
        };
        p.inserts.push(Insert {
            anchor: a.anchor[i] as usize,
            placed,
        });
    }
    // The id rules' removals came first, pairing's after: two runs in entry order, merged.
    p.removals.sort_by_key(|r| r.entry);
    p
}
