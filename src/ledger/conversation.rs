//! One conversation's records and calls, as the ledger keeps them.
//!
//! A call lives in a slot; its records name it by slot, not by id. A record so costs no copy
//! of the id and no reference count, and letting the oldest record go finds its call without
//! hashing or comparing the id: at the record cap, that happens on every record.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashTable;

use super::{CallInfo, CallState, Record, RecordKind};

/// A record as kept, in four words: at the record cap, each record pushed and each one evicted
/// touches memory long out of cache.
pub(super) struct Entry {
    pub seq: u64,
    /// Nanoseconds since the ledger was created.
    pub at: u64,
    pub kind: Kind,
}

/// [`RecordKind`] with each call named by its slot.
pub(super) enum Kind {
    CallStarted(usize),
    Output(usize),
    Cancelled(usize),
    OutputProduced(usize),
    AbortRequested(usize),
    Aborted(usize),
    Repaired { slot: usize, times: u32 },
    UserMessage(Box<During>),
    QueuedUserMessage(Box<During>),
    AssistantMessage,
    Interrupt,
    ModelRequest,
}

/// The calls running when a user message arrived, boxed apart: user messages are few.
pub(super) struct During(pub Vec<Arc<str>>);

impl Kind {
    fn slot(&self) -> Option<usize> {
        match *self {
            Kind::CallStarted(slot)
            | Kind::Output(slot)
            | Kind::Cancelled(slot)
            | Kind::OutputProduced(slot)
            | Kind::AbortRequested(slot)
            | Kind::Aborted(slot)
            | Kind::Repaired { slot, .. } => Some(slot),
            _ => None,
        }
    }
}

struct Slot {
    call: CallInfo,
    /// The hash of the call's id, kept so that the index never hashes an id twice.
    hash: u64,
    /// Records that name the call.
    records: usize,
    /// Whether the index finds the call by its id. A call forgotten while records still name
    /// it keeps its slot, out of the index, until the last of them goes.
    indexed: bool,
    /// The seq of the call's start, when it is set aside in [`Conversation::pinned`].
    pinned: Option<u64>,
}

#[derive(Default)]
pub(super) struct Conversation {
    records: VecDeque<Entry>,
    /// Starts of calls that were running when eviction reached them, by seq: each is set aside
    /// once, so that eviction never walks past them again. With more running calls than the
    /// record cap, every record used to scan them all.
    pinned: BTreeMap<u64, Entry>,
    /// The seqs of the set-aside starts whose calls no longer run: they may go again.
    pinned_settled: BTreeSet<u64>,
    /// Slots of the calls the ledger still knows, by the hash of their id.
    index: HashTable<usize>,
    /// A freed slot keeps its call until it is reused: the slots never outnumber the records
    /// and calls held at one time.
    slots: Vec<Slot>,
    free: Vec<usize>,
    // Every record looks its call up: SipHash was a tenth of a record's cost.
    hasher: foldhash::fast::RandomState,
    /// Calls that hold up requests, kept by [`add_call`](Conversation::add_call) and
    /// [`change`](Conversation::change).
    running: usize,
    pub last_used: u64,
    pub evicted_records: u64,
    /// The async waiters of this conversation, held weakly (see [`crate::timer::WakerSlot`]).
    pub wakers: Vec<std::sync::Weak<crate::timer::WakerSlot>>,
    /// How many times `wakers` was woken and emptied: a waiter registered in an earlier round
    /// registers again.
    pub wake_round: u64,
    /// Whether the guard has warned about calls this ledger never saw.
    pub unseen_noted: bool,
}

impl Conversation {
    /// The slot of call `id`, or, when the conversation does not know it, the hash of `id` for
    /// [`add_call`](Conversation::add_call): a new call's id is hashed once.
    #[inline(always)]
    pub fn find(&self, id: &str) -> Result<usize, u64> {
        let hash = self.hasher.hash_one(id);
        self.index
            .find(hash, |&i| *self.slots[i].call.id == *id)
            .copied()
            .ok_or(hash)
    }

    /// Calls that hold up requests.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Keeps a call the index does not hold, whose id hashes to `hash`; returns its slot.
    pub fn add_call(&mut self, hash: u64, call: CallInfo) -> usize {
        self.running += usize::from(call.holds_up());
        let slot = Slot {
            call,
            hash,
            records: 0,
            indexed: true,
            pinned: None,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.index.insert_unique(hash, i, |&j| self.slots[j].hash);
        i
    }

    pub fn call(&self, slot: usize) -> &CallInfo {
        &self.slots[slot].call
    }

    /// Changes the call in `slot` with `f`, counting it in or out of the calls that hold up
    /// requests as `f` leaves it.
    pub fn change<T>(&mut self, slot: usize, f: impl FnOnce(&mut CallInfo) -> T) -> T {
        let s = &mut self.slots[slot];
        let (held, ran) = (s.call.holds_up(), s.call.state == CallState::Running);
        let out = f(&mut s.call);
        if let Some(seq) = s
            .pinned
            .filter(|_| ran != (s.call.state == CallState::Running))
        {
            if ran {
                self.pinned_settled.insert(seq);
            } else {
                self.pinned_settled.remove(&seq);
            }
        }
        match (held, s.call.holds_up()) {
            (true, false) => self.running -= 1,
            (false, true) => self.running += 1,
            _ => {}
        }
        out
    }

    /// Every call the ledger still knows.
    pub fn calls(&self) -> impl Iterator<Item = &CallInfo> {
        self.index.iter().map(|&i| &self.slots[i].call)
    }

    pub fn push(&mut self, entry: Entry) {
        if let Some(slot) = entry.kind.slot() {
            self.slots[slot].records += 1;
        }
        self.records.push_back(entry);
    }

    pub fn records_len(&self) -> usize {
        self.records.len() + self.pinned.len()
    }

    /// The records, oldest first: the set-aside starts merged back in order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let (mut kept, mut pinned) = (
            self.records.iter().peekable(),
            self.pinned.values().peekable(),
        );
        std::iter::from_fn(move || match (kept.peek(), pinned.peek()) {
            (Some(k), Some(p)) if p.seq < k.seq => pinned.next(),
            (Some(_), _) => kept.next(),
            (None, _) => pinned.next(),
        })
        .map(|e| self.record(e))
    }

    fn record(&self, entry: &Entry) -> Record {
        let id = |slot: usize| self.slots[slot].call.id.clone();
        let kind = match &entry.kind {
            &Kind::CallStarted(slot) => {
                // A call's tool and family are set when it starts, never after.
                let call = &self.slots[slot].call;
                RecordKind::CallStarted {
                    call_id: call.id.clone(),
                    tool: call.tool.clone(),
                    family: call.family,
                }
            }
            &Kind::Output(slot) => RecordKind::OutputRecorded { call_id: id(slot) },
            &Kind::Cancelled(slot) => RecordKind::CallCancelled { call_id: id(slot) },
            &Kind::OutputProduced(slot) => RecordKind::OutputProduced { call_id: id(slot) },
            &Kind::AbortRequested(slot) => RecordKind::AbortRequested { call_id: id(slot) },
            &Kind::Aborted(slot) => RecordKind::CallAborted { call_id: id(slot) },
            &Kind::Repaired { slot, times } => RecordKind::Repaired {
                call_id: id(slot),
                times,
            },
            Kind::UserMessage(during) => RecordKind::UserMessage {
                during: during.0.clone(),
            },
            Kind::QueuedUserMessage(behind) => RecordKind::QueuedUserMessage {
                behind: behind.0.clone(),
            },
            Kind::AssistantMessage => RecordKind::AssistantMessage,
            Kind::Interrupt => RecordKind::Interrupt,
            Kind::ModelRequest => RecordKind::ModelRequest,
        };
        Record {
            seq: entry.seq,
            at: Duration::from_nanos(entry.at),
            kind,
        }
    }

    fn is_running(&self, slot: usize) -> bool {
        self.slots[slot].call.state == CallState::Running
    }

    /// Drops the oldest record that is not the start of a running call; forgets a settled call
    /// whose first record goes. Returns false when every record belongs to a running call.
    ///
    /// The start of a running call met at the front is set aside in `pinned`, once, and may go
    /// again once its call settles: each record so costs O(log n) at worst, whatever the
    /// number of running calls, and the oldest record that may go is still the one that goes.
    pub fn evict_record(&mut self) -> bool {
        let entry = loop {
            let settled = self.pinned_settled.first().copied();
            match self.records.front() {
                Some(&Entry {
                    kind: Kind::CallStarted(slot),
                    seq,
                    ..
                }) if self.is_running(slot) => {
                    self.slots[slot].pinned = Some(seq);
                    if let Some(e) = self.records.pop_front() {
                        self.pinned.insert(seq, e);
                    }
                }
                Some(front) if settled.is_none_or(|s| s > front.seq) => {
                    break self.records.pop_front();
                }
                _ => {
                    let Some(seq) = settled else { return false };
                    self.pinned_settled.remove(&seq);
                    let e = self.pinned.remove(&seq);
                    if let Some(slot) = e.as_ref().and_then(|e| e.kind.slot()) {
                        self.slots[slot].pinned = None;
                    }
                    break e;
                }
            }
        };
        let Some(entry) = entry else {
            return false;
        };
        self.evicted_records += 1;
        if let Some(slot) = entry.kind.slot() {
            self.let_go(slot, entry.seq);
        }
        true
    }

    /// Record `seq` of the call in `slot` has gone: the call is forgotten if that was its first
    /// record and it has settled, and its slot freed once no record names it.
    fn let_go(&mut self, slot: usize, seq: u64) {
        let s = &mut self.slots[slot];
        s.records -= 1;
        if s.indexed && s.call.first_seq == seq && s.call.state != CallState::Running {
            s.indexed = false;
            if let Ok(found) = self.index.find_entry(s.hash, |&i| i == slot) {
                found.remove();
            }
        }
        if !s.indexed && s.records == 0 {
            self.free.push(slot);
        }
    }
}
