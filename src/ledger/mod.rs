//! The ordering ledger: what actually happened at run time, per conversation.
//!
//! Fed by the tracing [`layer`](crate::layer) or by direct calls. Keys are call ids and the
//! ledger's own sequence numbers, never tracing span ids (the registry reuses those). Memory is
//! bounded by [`LedgerConfig`]; [`Stats`] counts what was evicted.
//!
//! ```
//! use std::time::Duration;
//! use toolseq::ledger::{CallState, Ledger};
//!
//! let ledger = Ledger::new();
//! ledger.call_started("conv", "call_1", Some("shell"), None);
//! ledger.user_message("conv"); // the user typed while the tool ran
//! assert!(!ledger.wait_settled("conv", Duration::from_millis(1)));
//! ledger.call_ended("conv", "call_1", false); // span closed with no output: cancelled
//! assert!(ledger.wait_settled("conv", Duration::ZERO));
//! let snap = ledger.snapshot("conv").unwrap();
//! assert_eq!(snap.calls["call_1"].state, CallState::Cancelled);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};

use crate::skeleton::Family;
use crate::timer;

mod conversation;

use conversation::{Conversation, During, Entry, Kind};

/// The conversation used when an event names none.
pub const DEFAULT_CONVERSATION: &str = "default";

/// Bounds on the ledger's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerConfig {
    /// Records kept per conversation; settled records go first, running calls never. Default 4096.
    pub max_records: usize,
    /// Conversations kept; the least recently used go first. Default 1024.
    pub max_conversations: usize,
    /// Longest call or conversation id stored, in bytes; longer ids are cut. Default 256.
    pub max_id_len: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            max_records: 4096,
            max_conversations: 1024,
            max_id_len: 256,
        }
    }
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallState {
    /// Started, no output yet, span still open.
    Running,
    /// Its output was recorded.
    Answered,
    /// Its span closed with no output: the tool future was dropped (interrupt, crash, abort).
    Cancelled,
    /// An output was recorded after it had been cancelled.
    AnsweredAfterCancel,
    /// The user interrupted it and the client answered it with its own abort output (Codex's
    /// `aborted by user`): it is answered, not lost, and a real result reported after the
    /// interrupt is not what the client sends.
    Aborted,
}

impl CallState {
    /// `running`, `answered`, `cancelled`, `answered_after_cancel`, `aborted`.
    pub fn name(self) -> &'static str {
        match self {
            CallState::Running => "running",
            CallState::Answered => "answered",
            CallState::Cancelled => "cancelled",
            CallState::AnsweredAfterCancel => "answered_after_cancel",
            CallState::Aborted => "aborted",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordKind {
    /// A tool call started.
    CallStarted {
        /// Its call id.
        call_id: Arc<str>,
        /// The tool's name, if known.
        tool: Option<Arc<str>>,
        /// Its pairing family, if known.
        family: Option<Family>,
    },
    /// A call's output was produced.
    OutputRecorded {
        /// The call id.
        call_id: Arc<str>,
    },
    /// A call's span closed with no output.
    CallCancelled {
        /// The call id.
        call_id: Arc<str>,
    },
    /// A tool produced a call's output, which its client stores only when the call ends
    /// (Codex's `codex.tool_result`): the call still holds up requests.
    OutputProduced {
        /// The call id.
        call_id: Arc<str>,
    },
    /// The client noted that the user interrupted this running call (Codex records
    /// `aborted = true` on its dispatch span); its abort output follows when the call ends.
    AbortRequested {
        /// The call id.
        call_id: Arc<str>,
    },
    /// A call interrupted by the user ended, answered by the client's own abort output.
    CallAborted {
        /// The call id.
        call_id: Arc<str>,
    },
    /// A user message arrived; `during` lists the calls running at that moment.
    UserMessage {
        /// Call ids still running when the message arrived.
        during: Vec<Arc<str>>,
    },
    /// A user message arrived that the client holds back and places after the outputs of the
    /// calls still running (Codex's input typed into a running turn): not a message between a
    /// call and its output.
    QueuedUserMessage {
        /// Call ids still running when the message arrived, which it waits behind.
        behind: Vec<Arc<str>>,
    },
    /// The model produced a message.
    AssistantMessage,
    /// The user interrupted the turn.
    Interrupt,
    /// A model request was made.
    ModelRequest,
    /// The guard repaired this call in an outgoing request.
    Repaired {
        /// The call id.
        call_id: Arc<str>,
        /// How many times this call has now been repaired.
        times: u32,
    },
}

impl RecordKind {
    /// Snake-case name, as in the JSON Lines dump: `call_started`, `output`, `call_cancelled`,
    /// `output_produced`, `abort_requested`, `call_aborted`, `user_message`,
    /// `queued_user_message`, `assistant_message`, `interrupt`, `model_request`, `repaired`.
    pub fn name(&self) -> &'static str {
        match self {
            RecordKind::CallStarted { .. } => "call_started",
            RecordKind::OutputRecorded { .. } => "output",
            RecordKind::CallCancelled { .. } => "call_cancelled",
            RecordKind::OutputProduced { .. } => "output_produced",
            RecordKind::AbortRequested { .. } => "abort_requested",
            RecordKind::CallAborted { .. } => "call_aborted",
            RecordKind::UserMessage { .. } => "user_message",
            RecordKind::QueuedUserMessage { .. } => "queued_user_message",
            RecordKind::AssistantMessage => "assistant_message",
            RecordKind::Interrupt => "interrupt",
            RecordKind::ModelRequest => "model_request",
            RecordKind::Repaired { .. } => "repaired",
        }
    }

    /// The call id this record is about, if any.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            RecordKind::CallStarted { call_id, .. }
            | RecordKind::OutputRecorded { call_id }
            | RecordKind::CallCancelled { call_id }
            | RecordKind::OutputProduced { call_id }
            | RecordKind::AbortRequested { call_id }
            | RecordKind::CallAborted { call_id }
            | RecordKind::Repaired { call_id, .. } => Some(call_id),
            _ => None,
        }
    }
}

/// One ledger record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The ledger's own sequence number, increasing across all conversations.
    pub seq: u64,
    /// Monotonic time since the ledger was created.
    pub at: Duration,
    /// What happened.
    pub kind: RecordKind,
}

impl Record {
    /// This record as one JSON object (one line of a dump).
    pub fn to_json(&self, conversation: &str) -> Value {
        let mut v = json!({
            "seq": self.seq,
            "at_us": self.at.as_micros() as u64,
            "conversation": conversation,
            "event": self.kind.name(),
        });
        match &self.kind {
            RecordKind::CallStarted {
                call_id,
                tool,
                family,
            } => {
                v["call_id"] = json!(&**call_id);
                if let Some(t) = tool {
                    v["tool"] = json!(&**t);
                }
                if let Some(f) = family {
                    v["family"] = json!(family_name(*f));
                }
            }
            RecordKind::UserMessage { during } if !during.is_empty() => {
                v["during"] = during.iter().map(|id| json!(&**id)).collect();
            }
            RecordKind::QueuedUserMessage { behind } if !behind.is_empty() => {
                v["behind"] = behind.iter().map(|id| json!(&**id)).collect();
            }
            RecordKind::Repaired { call_id, times } => {
                v["call_id"] = json!(&**call_id);
                v["times"] = json!(times);
            }
            other => {
                if let Some(id) = other.call_id() {
                    v["call_id"] = json!(id);
                }
            }
        }
        v
    }
}

/// The name of a family as used in field values and dumps (`function`, `custom`, ...).
pub fn family_name(f: Family) -> &'static str {
    match f {
        Family::Function => "function",
        Family::Custom => "custom",
        Family::ToolSearch => "tool_search",
        Family::Computer => "computer",
        Family::Shell => "shell",
        Family::ApplyPatch => "apply_patch",
        Family::McpApproval => "mcp_approval",
        Family::Program => "program",
        Family::ServerTool => "server_tool",
    }
}

/// The family named by a field value; `local_shell` counts as `function`.
pub fn family_from_name(name: &str) -> Option<Family> {
    Some(match name {
        "function" | "local_shell" => Family::Function,
        "custom" => Family::Custom,
        "tool_search" => Family::ToolSearch,
        "computer" => Family::Computer,
        "shell" => Family::Shell,
        "apply_patch" => Family::ApplyPatch,
        "mcp_approval" => Family::McpApproval,
        "program" => Family::Program,
        "server_tool" => Family::ServerTool,
        _ => return None,
    })
}

/// What the ledger knows of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// Where it stands.
    pub state: CallState,
    /// Tool name, if known.
    pub tool: Option<Arc<str>>,
    /// Pairing family, if known.
    pub family: Option<Family>,
    /// When it started (`None` if only its output was seen).
    pub started: Option<Duration>,
    /// When its output was recorded (for a client that stores outputs when the call ends, such
    /// as Codex: when it ended).
    pub output_at: Option<Duration>,
    /// When the tool produced its output, for a client that reports that before storing it.
    pub produced_at: Option<Duration>,
    /// When the client noted that the user interrupted the call.
    pub abort_requested_at: Option<Duration>,
    /// When its span closed without output.
    pub cancelled_at: Option<Duration>,
    /// How many times the guard has repaired it.
    pub repairs: u32,
    /// When the guard first answered it with a synthetic output. A call answered so no longer
    /// holds up requests, even while its tool still runs; an output recorded after this time is
    /// a late output.
    pub synthetic_at: Option<Duration>,
    first_seq: u64,
    /// The ledger's one copy of the call id.
    id: Arc<str>,
}

impl CallInfo {
    /// Whether this call holds up a request: running, and not yet answered synthetically.
    fn holds_up(&self) -> bool {
        self.state == CallState::Running && self.synthetic_at.is_none()
    }

    /// A call known only by its id and state, first recorded at `first_seq`.
    fn new(id: Arc<str>, state: CallState, first_seq: u64) -> Self {
        CallInfo {
            id,
            state,
            tool: None,
            family: None,
            started: None,
            output_at: None,
            produced_at: None,
            abort_requested_at: None,
            cancelled_at: None,
            repairs: 0,
            synthetic_at: None,
            first_seq,
        }
    }
}

/// A copy of one conversation's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The conversation id.
    pub conversation: String,
    /// Records, oldest first.
    pub records: Vec<Record>,
    /// Every call still tracked.
    pub calls: HashMap<String, CallInfo>,
    /// Records of this conversation evicted so far.
    pub evicted_records: u64,
}

impl Snapshot {
    /// Call ids still running.
    pub fn running(&self) -> Vec<&str> {
        let mut ids: Vec<(&str, Option<Duration>)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == CallState::Running)
            .map(|(id, c)| (id.as_str(), c.started))
            .collect();
        ids.sort_by_key(|&(_, t)| t);
        ids.into_iter().map(|(id, _)| id).collect()
    }
}

/// Counters over the whole ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Conversations held now.
    pub conversations: usize,
    /// Records held now, over all conversations.
    pub records: usize,
    /// Records evicted, by the per-conversation cap or with their conversation.
    pub evicted_records: u64,
    /// Conversations evicted by the conversation cap.
    pub evicted_conversations: u64,
    /// Ids cut to `max_id_len`.
    pub truncated_ids: u64,
}

struct State {
    conversations: foldhash::HashMap<String, Conversation>,
    /// The next conversations to evict, newest first, each with the key it had when chosen
    /// (see [`evict_conversation`]).
    victims: Vec<(Victim, String)>,
    tools: foldhash::HashSet<Arc<str>>,
    seq: u64,
    tick: u64,
    stats: Stats,
}

struct Inner {
    state: Mutex<State>,
    settled: Condvar,
    config: LedgerConfig,
    clock: quanta::Clock,
    epoch: quanta::Instant,
}

/// The ordering ledger. Cheap to clone; all clones share one state, safe across threads.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

impl Ledger {
    /// A ledger with the default bounds.
    ///
    /// Its clock reads the CPU's counter where it ticks at a constant rate. The first ledger a
    /// process creates times that counter against the system clock, which takes about half a
    /// millisecond; a process without such a counter reads the system clock.
    pub fn new() -> Self {
        Ledger::with_config(LedgerConfig::default())
    }

    /// A ledger with the given bounds (each at least 1).
    pub fn with_config(config: LedgerConfig) -> Self {
        let config = LedgerConfig {
            max_records: config.max_records.max(1),
            max_conversations: config.max_conversations.max(1),
            max_id_len: config.max_id_len.max(1),
        };
        let clock = quanta::Clock::new();
        Ledger {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    conversations: Default::default(),
                    victims: Vec::new(),
                    tools: Default::default(),
                    seq: 0,
                    tick: 0,
                    stats: Stats::default(),
                }),
                settled: Condvar::new(),
                config,
                epoch: clock.now(),
                clock,
            }),
        }
    }

    /// The bounds in force.
    pub fn config(&self) -> LedgerConfig {
        self.inner.config
    }

    /// Time since the ledger was created, on the clock its records use.
    pub fn now(&self) -> Duration {
        self.inner
            .clock
            .now()
            .saturating_duration_since(self.inner.epoch)
    }

    /// The id as the ledger stores it: cut to `max_id_len` bytes at a character boundary.
    pub fn key<'a>(&self, id: &'a str) -> &'a str {
        cut(id, self.inner.config.max_id_len)
    }

    /// A tool call started. Returns false when the call was already known (a second span for
    /// the same call, such as an MCP span inside a dispatch span): the first one owns the call.
    pub fn call_started(
        &self,
        conversation: &str,
        call_id: &str,
        tool: Option<&str>,
        family: Option<Family>,
    ) -> bool {
        self.start_call(conversation, call_id, tool, family)
            .is_some()
    }

    /// [`call_started`](Ledger::call_started), giving back the ledger's copy of a new call's id
    /// for the caller to keep instead of a copy of its own.
    pub(crate) fn start_call(
        &self,
        conversation: &str,
        call_id: &str,
        tool: Option<&str>,
        family: Option<Family>,
    ) -> Option<Arc<str>> {
        let mut new = None;
        self.update(conversation, |conv, rec| {
            let key = rec.key(call_id);
            let Err(hash) = conv.find(key) else {
                return;
            };
            let id: Arc<str> = key.into();
            new = Some(id.clone());
            let call = CallInfo {
                tool: tool.map(|t| rec.tool(t)),
                family,
                started: Some(rec.at()),
                ..CallInfo::new(id, CallState::Running, rec.seq + 1)
            };
            let slot = conv.add_call(hash, call);
            rec.push(conv, Kind::CallStarted(slot));
        });
        new
    }

    /// A call's output was produced. A second report of the same output (clients such as Codex
    /// emit each result event twice) adds nothing.
    pub fn output_recorded(&self, conversation: &str, call_id: &str) {
        self.update(conversation, |conv, rec| {
            let key = rec.key(call_id);
            let slot = match conv.find(key) {
                Ok(slot) if conv.call(slot).output_at.is_some() => return,
                Ok(slot) => slot,
                Err(hash) => {
                    let call = CallInfo::new(key.into(), CallState::Answered, rec.seq + 1);
                    conv.add_call(hash, call)
                }
            };
            rec.push(conv, Kind::Output(slot));
            conv.change(slot, |call| {
                call.output_at = Some(rec.at());
                match call.state {
                    CallState::Running => call.state = CallState::Answered,
                    CallState::Cancelled => call.state = CallState::AnsweredAfterCancel,
                    _ => {}
                }
            });
        });
    }

    /// A call's span closed, or its client said the call ended. With `answered` false and no
    /// output recorded or produced, the call is cancelled; a call the client noted as interrupted
    /// ([`abort_requested`](Ledger::abort_requested)) ends answered by the client's abort output.
    pub fn call_ended(&self, conversation: &str, call_id: &str, answered: bool) {
        // Only a call still held as running changes; one evicted meanwhile (or its whole
        // conversation) is not brought back.
        self.update_existing(conversation, |conv, rec| {
            let Some(slot) = conv
                .find(rec.key(call_id))
                .ok()
                .filter(|&slot| conv.call(slot).state == CallState::Running)
            else {
                return;
            };
            let at = rec.at();
            let kind = conv.change(slot, |call| {
                if call.abort_requested_at.is_some() {
                    call.state = CallState::Aborted;
                    call.output_at = Some(at);
                    Kind::Aborted(slot)
                } else if answered || call.produced_at.is_some() {
                    call.state = CallState::Answered;
                    call.output_at = Some(at);
                    Kind::Output(slot)
                } else {
                    call.state = CallState::Cancelled;
                    call.cancelled_at = Some(at);
                    Kind::Cancelled(slot)
                }
            });
            rec.push(conv, kind);
        });
    }

    /// A tool produced a call's output, which its client stores only when the call ends
    /// ([`call_ended`](Ledger::call_ended)): Codex reports `codex.tool_result` before its
    /// post-tool hooks run and before the output is in its history. The call keeps holding up
    /// requests until it ends. A second report adds nothing.
    pub fn output_produced(&self, conversation: &str, call_id: &str) {
        self.update(conversation, |conv, rec| {
            let key = rec.key(call_id);
            let slot = match conv.find(key) {
                Ok(slot) if conv.call(slot).produced_at.is_some() => return,
                Ok(slot) => slot,
                Err(hash) => {
                    // Its start was not seen: nothing to wait for, so it counts as answered.
                    let call = CallInfo::new(key.into(), CallState::Answered, rec.seq + 1);
                    conv.add_call(hash, call)
                }
            };
            let at = rec.at();
            conv.change(slot, |call| {
                call.produced_at = Some(at);
                if call.state == CallState::Answered && call.output_at.is_none() {
                    call.output_at = Some(at);
                }
            });
            rec.push(conv, Kind::OutputProduced(slot));
        });
    }

    /// The client noted that the user interrupted this running call and will answer it with its
    /// own abort output when the call ends (Codex records `aborted = true` on its dispatch span,
    /// then stores `aborted by user`). The call keeps holding up requests until it ends.
    pub fn abort_requested(&self, conversation: &str, call_id: &str) {
        self.update_existing(conversation, |conv, rec| {
            let Some(slot) = conv.find(rec.key(call_id)).ok().filter(|&slot| {
                let call = conv.call(slot);
                call.state == CallState::Running && call.abort_requested_at.is_none()
            }) else {
                return;
            };
            let at = rec.at();
            conv.change(slot, |call| call.abort_requested_at = Some(at));
            rec.push(conv, Kind::AbortRequested(slot));
        });
    }

    /// A user message arrived (flagged with the calls running at that moment).
    pub fn user_message(&self, conversation: &str) {
        self.update(conversation, |conv, rec| {
            let during = running_calls(conv);
            rec.push(conv, Kind::UserMessage(Box::new(During(during))));
        });
    }

    /// A user message arrived that the client itself holds back until the running calls'
    /// outputs are stored, and sends after them (Codex's input typed into a running turn).
    /// Recorded with the calls it waits behind; not a message that splits a call from its output.
    pub fn queued_user_message(&self, conversation: &str) {
        self.update(conversation, |conv, rec| {
            let behind = running_calls(conv);
            rec.push(conv, Kind::QueuedUserMessage(Box::new(During(behind))));
        });
    }

    /// The model produced a message.
    pub fn assistant_message(&self, conversation: &str) {
        self.update(conversation, |conv, rec| {
            rec.push(conv, Kind::AssistantMessage);
        });
    }

    /// The user interrupted the turn.
    pub fn interrupt(&self, conversation: &str) {
        self.update(conversation, |conv, rec| {
            rec.push(conv, Kind::Interrupt);
        });
    }

    /// A model request was made.
    pub fn model_request(&self, conversation: &str) {
        self.update(conversation, |conv, rec| {
            rec.push(conv, Kind::ModelRequest);
        });
    }

    /// An interrupt, recorded only if the ledger already holds the conversation: one that names
    /// no conversation starts none.
    pub(crate) fn interrupt_in_known(&self, conversation: &str) {
        self.update_existing(conversation, |conv, rec| {
            rec.push(conv, Kind::Interrupt);
        });
    }

    /// A model request was made, recorded only if the ledger already holds the conversation: a
    /// request that names no conversation (Codex's `/models` listing) starts none.
    pub(crate) fn model_request_in_known(&self, conversation: &str) {
        self.update_existing(conversation, |conv, rec| {
            rec.push(conv, Kind::ModelRequest);
        });
    }

    /// Notes that the guard repaired this call again and returns how many times it has been.
    pub fn note_repaired(&self, conversation: &str, call_id: &str) -> u32 {
        let mut times = 0;
        self.update(conversation, |conv, rec| {
            let slot = known_or_cancelled(conv, rec, call_id);
            times = conv.change(slot, |call| {
                call.repairs += 1;
                call.repairs
            });
            rec.push(conv, Kind::Repaired { slot, times });
        });
        times
    }

    /// Notes that the guard answered this call with a synthetic output. From then on the call
    /// no longer holds up requests, and an output recorded for it is a late output.
    pub fn note_synthetic(&self, conversation: &str, call_id: &str) {
        self.update(conversation, |conv, rec| {
            let slot = known_or_cancelled(conv, rec, call_id);
            conv.change(slot, |call| {
                if call.synthetic_at.is_none() {
                    call.synthetic_at = Some(rec.at());
                }
            });
        });
    }

    /// A copy of one conversation's records and calls.
    pub fn snapshot(&self, conversation: &str) -> Option<Snapshot> {
        self.with(conversation, |c| Snapshot {
            conversation: self.key(conversation).to_owned(),
            records: c.records().collect(),
            calls: c.calls().map(|c| (c.id.to_string(), c.clone())).collect(),
            evicted_records: c.evicted_records,
        })
    }

    /// The call ids running in a conversation, oldest first.
    pub fn running(&self, conversation: &str) -> Vec<String> {
        self.snapshot(conversation)
            .map(|s| s.running().into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The conversations held, most recently used first.
    pub fn conversations(&self) -> Vec<String> {
        let st = self.inner.state.lock();
        let mut all: Vec<(&String, u64)> = st
            .conversations
            .iter()
            .map(|(k, c)| (k, c.last_used))
            .collect();
        all.sort_by_key(|&(_, t)| std::cmp::Reverse(t));
        all.into_iter().map(|(k, _)| k.clone()).collect()
    }

    /// Counters over the whole ledger.
    pub fn stats(&self) -> Stats {
        let st = self.inner.state.lock();
        Stats {
            conversations: st.conversations.len(),
            records: st.conversations.values().map(|c| c.records_len()).sum(),
            ..st.stats
        }
    }

    /// Writes a conversation's records as JSON Lines; returns how many were written.
    pub fn dump_jsonl(&self, conversation: &str, mut out: impl Write) -> io::Result<usize> {
        let Some(snap) = self.snapshot(conversation) else {
            return Ok(0);
        };
        for r in &snap.records {
            writeln!(out, "{}", r.to_json(&snap.conversation))?;
        }
        Ok(snap.records.len())
    }

    /// Blocks until the conversation has no running call, or the timeout passes. Returns whether
    /// it settled. An unknown conversation is settled.
    pub fn wait_settled(&self, conversation: &str, timeout: Duration) -> bool {
        let key = self.key(conversation);
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.inner.state.lock();
        loop {
            if st.conversations.get(key).is_none_or(|c| c.running() == 0) {
                return true;
            }
            match deadline {
                Some(d) => {
                    if self.inner.settled.wait_until(&mut st, d).timed_out() {
                        return st.conversations.get(key).is_none_or(|c| c.running() == 0);
                    }
                }
                None => self.inner.settled.wait(&mut st),
            }
        }
    }

    /// A future that resolves to `true` when the conversation has no running call, or to `false`
    /// once `timeout` (if any) has passed. Works on any async runtime.
    pub fn settled(&self, conversation: &str, timeout: Option<Duration>) -> Settled {
        Settled {
            ledger: self.clone(),
            conversation: self.key(conversation).to_owned(),
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            slot: Arc::new(parking_lot::Mutex::new(None)),
            round: None,
            timer_armed: false,
        }
    }

    /// Whether `other` is this ledger (a clone of it), not merely an equal one.
    pub(crate) fn same_as(&self, other: &Ledger) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// How many records the ledger has made since it was created, evicted ones included: a
    /// guard tells from it whether the ledger has seen anything at all since the guard was built.
    pub(crate) fn records_made(&self) -> u64 {
        self.inner.state.lock().seq
    }

    /// Marks the conversation as warned about unseen calls; true only the first time. Kept here
    /// rather than in the guard so that it goes when the conversation is evicted.
    pub(crate) fn note_unseen(&self, conversation: &str) -> bool {
        let mut st = self.inner.state.lock();
        st.conversations
            .get_mut(self.key(conversation))
            .is_some_and(|c| !std::mem::replace(&mut c.unseen_noted, true))
    }

    fn with<T>(&self, conversation: &str, f: impl FnOnce(&Conversation) -> T) -> Option<T> {
        let st = self.inner.state.lock();
        st.conversations.get(self.key(conversation)).map(f)
    }

    /// Runs `f` on the conversation (created if new), then wakes waiters if it settled.
    fn update(&self, conversation: &str, f: impl FnOnce(&mut Conversation, &mut Recorder)) {
        self.update_in(conversation, true, f);
    }

    /// [`update`](Ledger::update) on a conversation only if the ledger holds it, for a change
    /// that always makes a record when it makes any.
    fn update_existing(
        &self,
        conversation: &str,
        f: impl FnOnce(&mut Conversation, &mut Recorder),
    ) {
        self.update_in(conversation, false, f);
    }

    fn update_in(
        &self,
        conversation: &str,
        create: bool,
        f: impl FnOnce(&mut Conversation, &mut Recorder),
    ) {
        let cfg = self.inner.config;
        let conv_key = self.key(conversation);
        let mut wakers = Vec::new();
        let woke;
        {
            let mut guard = self.inner.state.lock();
            let st = &mut *guard;
            st.tick += 1;
            // One lookup for a conversation the ledger holds.
            let conv = match st.conversations.get_mut(conv_key) {
                Some(conv) => conv,
                None if !create => return,
                None => {
                    while st.conversations.len() >= cfg.max_conversations {
                        evict_conversation(st, &mut wakers);
                    }
                    st.conversations.entry(conv_key.to_owned()).or_default()
                }
            };
            conv.last_used = st.tick;
            let before = conv.running();
            let mut rec = Recorder {
                tools: &mut st.tools,
                seq: st.seq,
                clock: &self.inner.clock,
                epoch: self.inner.epoch,
                at: None,
                max_id_len: cfg.max_id_len,
                truncated: 0,
            };
            f(conv, &mut rec);
            let (seq, truncated) = (rec.seq, rec.truncated);
            // A cut conversation id counts once per update that did something with it.
            if (create || seq != st.seq) && conversation.len() > conv_key.len() {
                st.stats.truncated_ids += 1;
            }
            st.seq = seq;
            st.stats.truncated_ids += truncated;
            let mut evicted = 0;
            while conv.records_len() > cfg.max_records {
                if !conv.evict_record() {
                    break;
                }
                evicted += 1;
            }
            st.stats.evicted_records += evicted;
            woke = before > 0 && conv.running() == 0;
            if woke {
                wakers.append(&mut conv.wakers);
                conv.wake_round += 1;
            }
        }
        if woke || !wakers.is_empty() {
            self.inner.settled.notify_all();
        }
        for w in &wakers {
            timer::wake_slot(w);
        }
    }
}

/// The calls running in `conv`, oldest first.
fn running_calls(conv: &Conversation) -> Vec<Arc<str>> {
    let mut during: Vec<(&Arc<str>, Option<Duration>)> = conv
        .calls()
        .filter(|c| c.state == CallState::Running)
        .map(|c| (&c.id, c.started))
        .collect();
    during.sort_by_key(|&(_, t)| t);
    during.into_iter().map(|(id, _)| id.clone()).collect()
}

/// Tool names the ledger keeps before it starts over: tools are few, but names may be made up.
const MAX_TOOLS: usize = 1024;

/// Appends records with sequence numbers and a shared timestamp; cuts ids.
struct Recorder<'s> {
    /// Tool names, shared by every call that names the tool: a call costs no copy of its name.
    tools: &'s mut foldhash::HashSet<Arc<str>>,
    seq: u64,
    clock: &'s quanta::Clock,
    epoch: quanta::Instant,
    /// Read when first needed: an update that records nothing (a span closing after its
    /// output) spares a read of the clock.
    at: Option<Duration>,
    max_id_len: usize,
    truncated: u64,
}

impl Recorder<'_> {
    fn key<'a>(&mut self, id: &'a str) -> &'a str {
        let k = cut(id, self.max_id_len);
        if k.len() < id.len() {
            self.truncated += 1;
        }
        k
    }

    /// The ledger's copy of a tool name, cut to `max_id_len` like an id.
    fn tool(&mut self, name: &str) -> Arc<str> {
        let name = cut(name, self.max_id_len);
        if let Some(t) = self.tools.get(name) {
            return t.clone();
        }
        if self.tools.len() >= MAX_TOOLS {
            self.tools.clear();
        }
        let t: Arc<str> = name.into();
        self.tools.insert(t.clone());
        t
    }

    fn at(&mut self) -> Duration {
        *self
            .at
            .get_or_insert_with(|| self.clock.now().saturating_duration_since(self.epoch))
    }

    #[inline(always)]
    fn push(&mut self, conv: &mut Conversation, kind: Kind) {
        self.seq += 1;
        let at = self.at();
        conv.push(Entry {
            seq: self.seq,
            at: at.as_nanos() as u64,
            kind,
        });
    }
}

fn cut(id: &str, max: usize) -> &str {
    if id.len() <= max {
        return id;
    }
    let mut end = max;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    &id[..end]
}

/// The slot of call `call_id`, kept as a cancelled call if the ledger does not know it.
fn known_or_cancelled(conv: &mut Conversation, rec: &mut Recorder, call_id: &str) -> usize {
    let key = rec.key(call_id);
    conv.find(key).unwrap_or_else(|hash| {
        let call = CallInfo::new(key.into(), CallState::Cancelled, rec.seq + 1);
        conv.add_call(hash, call)
    })
}

/// What eviction orders conversations by: those with calls running last, then least recently
/// used first.
type Victim = (bool, u64);

fn victim_key(c: &Conversation) -> Victim {
    (c.running() > 0, c.last_used)
}

/// Drops the least recently used conversation, preferring one with nothing running.
///
/// One scan of all conversations chooses the next eighth of them to go, in order, each with its
/// key; a chosen one whose key has changed since (it was used) is passed over. Keys only grow,
/// so a chosen one whose key has not changed is still the oldest: eviction stays exact and
/// costs O(1) amortised, where a scan per eviction made every new conversation past the cap
/// cost as much as all of them.
fn evict_conversation(st: &mut State, wakers: &mut Vec<Weak<timer::WakerSlot>>) {
    loop {
        let Some((key, k)) = st.victims.pop() else {
            if st.conversations.is_empty() {
                return;
            }
            let mut all: Vec<(Victim, &String)> = st
                .conversations
                .iter()
                .map(|(k, c)| (victim_key(c), k))
                .collect();
            let take = (all.len() / 8).max(1);
            if take < all.len() {
                all.select_nth_unstable(take);
                all.truncate(take);
            }
            all.sort_unstable_by(|a, b| b.cmp(a));
            st.victims = all.into_iter().map(|(v, k)| (v, k.clone())).collect();
            continue;
        };
        if st.conversations.get(&k).map(victim_key) != Some(key) {
            continue;
        }
        if let Some(mut c) = st.conversations.remove(&k) {
            wakers.append(&mut c.wakers);
            st.stats.evicted_records += c.records_len() as u64;
        }
        st.stats.evicted_conversations += 1;
        return;
    }
}

/// Future returned by [`Ledger::settled`]. Dropped before it resolves (a timed-out wait), it
/// lets go of its waker at once: the ledger and the timer hold it only weakly.
#[derive(Debug)]
pub struct Settled {
    ledger: Ledger,
    conversation: String,
    deadline: Option<Instant>,
    /// This waiter's waker, updated at each poll.
    slot: Arc<timer::WakerSlot>,
    /// The conversation's wake round `slot` was registered in, if any.
    round: Option<u64>,
    /// Whether the timer knows `slot`.
    timer_armed: bool,
}

impl Future for Settled {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        {
            let mut slot = self.slot.lock();
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        {
            let this = &mut *self;
            let mut st = this.ledger.inner.state.lock();
            match st.conversations.get_mut(&this.conversation) {
                Some(c) if c.running() > 0 => {
                    if this.round != Some(c.wake_round) {
                        this.round = Some(c.wake_round);
                        // Waiters dropped meanwhile leave dead entries: cleared as the list
                        // doubles, so it stays within twice the live waiters.
                        if c.wakers.len() >= 64 && c.wakers.len().is_power_of_two() {
                            c.wakers.retain(|w| w.strong_count() > 0);
                        }
                        c.wakers.push(Arc::downgrade(&this.slot));
                    }
                }
                _ => return Poll::Ready(true),
            }
        }
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return Poll::Ready(false);
            }
            if !self.timer_armed {
                self.timer_armed = true;
                timer::wake_at(d, Arc::downgrade(&self.slot));
            }
        }
        Poll::Pending
    }
}
