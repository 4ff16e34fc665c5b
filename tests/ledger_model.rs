//! The ledger against a plain model of what it promises: which records it holds after each
//! change, which calls it still knows, and in what state. Ids come from a small pool and the
//! record cap is tiny, so ids are used again after their calls were forgotten while old records
//! still name them, and eviction runs on nearly every change.

use std::collections::{BTreeMap, HashMap, VecDeque};

use proptest::prelude::*;
use toolseq::ledger::{CallState, Ledger, LedgerConfig, RecordKind};

#[derive(Debug, Clone)]
enum Op {
    Start(u8, Option<u8>),
    Output(u8),
    End(u8, bool),
    User,
    Request,
    Repair(u8),
    Synthetic(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let id = || 0..5u8;
    prop_oneof![
        4 => (id(), proptest::option::of(0..3u8)).prop_map(|(i, t)| Op::Start(i, t)),
        4 => id().prop_map(Op::Output),
        3 => (id(), any::<bool>()).prop_map(|(i, a)| Op::End(i, a)),
        1 => Just(Op::User),
        1 => Just(Op::Request),
        1 => id().prop_map(Op::Repair),
        1 => id().prop_map(Op::Synthetic),
    ]
}

fn name(id: u8) -> String {
    format!("call_{id}")
}

/// A record as the test compares it: seq, kind, call id, tool, the calls running then, times.
type Seen = (
    u64,
    &'static str,
    Option<String>,
    Option<String>,
    Vec<String>,
    u32,
);

struct Call {
    state: CallState,
    first_seq: u64,
    output: bool,
    synthetic: bool,
    repairs: u32,
}

/// The ledger's rules over one conversation, with every call and record found by its id.
struct Model {
    max: usize,
    seq: u64,
    records: VecDeque<Seen>,
    calls: HashMap<String, Call>,
    evicted: u64,
}

impl Model {
    fn push(&mut self, kind: &'static str, id: Option<&str>, tool: Option<String>, times: u32) {
        self.seq += 1;
        let mut during: Vec<String> = Vec::new();
        if kind == "user_message" {
            during = self
                .calls
                .iter()
                .filter(|(_, c)| c.state == CallState::Running)
                .map(|(id, _)| id.clone())
                .collect();
            during.sort();
        }
        let id = id.map(str::to_owned);
        self.records
            .push_back((self.seq, kind, id, tool, during, times));
    }

    fn known_or_cancelled(&mut self, id: &str) -> &mut Call {
        let first_seq = self.seq + 1;
        self.calls.entry(id.to_owned()).or_insert(Call {
            state: CallState::Cancelled,
            first_seq,
            output: false,
            synthetic: false,
            repairs: 0,
        })
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Start(i, tool) => {
                let id = name(i);
                if self.calls.contains_key(&id) {
                    return;
                }
                let tool = tool.map(|t| format!("tool_{t}"));
                self.push("call_started", Some(&id), tool, 0);
                let first_seq = self.seq;
                self.calls.insert(
                    id,
                    Call {
                        state: CallState::Running,
                        first_seq,
                        output: false,
                        synthetic: false,
                        repairs: 0,
                    },
                );
            }
            Op::Output(i) => {
                let id = name(i);
                if self.calls.get(&id).is_some_and(|c| c.output) {
                    return;
                }
                self.push("output", Some(&id), None, 0);
                let seq = self.seq;
                let call = self.calls.entry(id).or_insert(Call {
                    state: CallState::Answered,
                    first_seq: seq,
                    output: false,
                    synthetic: false,
                    repairs: 0,
                });
                call.output = true;
                call.state = match call.state {
                    CallState::Running => CallState::Answered,
                    CallState::Cancelled => CallState::AnsweredAfterCancel,
                    other => other,
                };
            }
            Op::End(i, answered) => {
                let id = name(i);
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if call.state != CallState::Running {
                    return;
                }
                if answered {
                    call.state = CallState::Answered;
                    call.output = true;
                    self.push("output", Some(&id), None, 0);
                } else {
                    call.state = CallState::Cancelled;
                    self.push("call_cancelled", Some(&id), None, 0);
                }
            }
            Op::User => self.push("user_message", None, None, 0),
            Op::Request => self.push("model_request", None, None, 0),
            Op::Repair(i) => {
                let id = name(i);
                let call = self.known_or_cancelled(&id);
                call.repairs += 1;
                let times = call.repairs;
                self.push("repaired", Some(&id), None, times);
            }
            Op::Synthetic(i) => self.known_or_cancelled(&name(i)).synthetic = true,
        }
        while self.records.len() > self.max && self.evict() {}
    }

    fn running(&self, id: &str) -> bool {
        self.calls
            .get(id)
            .is_some_and(|c| c.state == CallState::Running)
    }

    fn evict(&mut self) -> bool {
        let pos = self.records.iter().position(|r| {
            !(r.1 == "call_started" && r.2.as_deref().is_some_and(|id| self.running(id)))
        });
        let Some(r) = pos.and_then(|p| self.records.remove(p)) else {
            return false;
        };
        self.evicted += 1;
        if let Some(id) = r.2 {
            let forget = self
                .calls
                .get(&id)
                .is_some_and(|c| c.state != CallState::Running && c.first_seq == r.0);
            if forget {
                self.calls.remove(&id);
            }
        }
        true
    }
}

fn seen(ledger: &Ledger) -> (Vec<Seen>, BTreeMap<String, (CallState, u32)>, u64) {
    let Some(snap) = ledger.snapshot("c") else {
        return Default::default();
    };
    let records = snap
        .records
        .iter()
        .map(|r| {
            let (tool, mut during, times) = match &r.kind {
                RecordKind::CallStarted { tool, .. } => {
                    (tool.as_deref().map(str::to_owned), vec![], 0)
                }
                RecordKind::UserMessage { during } => {
                    (None, during.iter().map(|d| d.to_string()).collect(), 0)
                }
                RecordKind::Repaired { times, .. } => (None, vec![], *times),
                _ => (None, vec![], 0),
            };
            during.sort();
            let id = r.kind.call_id().map(str::to_owned);
            (r.seq, r.kind.name(), id, tool, during, times)
        })
        .collect();
    let calls = snap
        .calls
        .iter()
        .map(|(id, c)| (id.clone(), (c.state, c.repairs)))
        .collect();
    (records, calls, snap.evicted_records)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_ledger_keeps_what_the_model_keeps(max in 1..6usize, ops in prop::collection::vec(op(), 1..80)) {
        let ledger = Ledger::with_config(LedgerConfig { max_records: max, ..LedgerConfig::default() });
        let mut model = Model { max, seq: 0, records: VecDeque::new(), calls: HashMap::new(), evicted: 0 };
        for (n, op) in ops.iter().enumerate() {
            match *op {
                Op::Start(i, tool) => {
                    let tool = tool.map(|t| format!("tool_{t}"));
                    ledger.call_started("c", &name(i), tool.as_deref(), None);
                }
                Op::Output(i) => ledger.output_recorded("c", &name(i)),
                Op::End(i, answered) => ledger.call_ended("c", &name(i), answered),
                Op::User => ledger.user_message("c"),
                Op::Request => ledger.model_request("c"),
                Op::Repair(i) => {
                    ledger.note_repaired("c", &name(i));
                }
                Op::Synthetic(i) => ledger.note_synthetic("c", &name(i)),
            }
            model.apply(op);
            let (records, calls, evicted) = seen(&ledger);
            let expected: Vec<Seen> = model.records.iter().cloned().collect();
            prop_assert_eq!(&records, &expected, "records after op {} ({:?})", n, op);
            let expected: BTreeMap<String, (CallState, u32)> = model
                .calls
                .iter()
                .map(|(id, c)| (id.clone(), (c.state, c.repairs)))
                .collect();
            prop_assert_eq!(&calls, &expected, "calls after op {} ({:?})", n, op);
            prop_assert_eq!(evicted, model.evicted);
            // Settled when no call runs that the guard has not answered for it.
            let settled = !model
                .calls
                .values()
                .any(|c| c.state == CallState::Running && !c.synthetic);
            prop_assert_eq!(ledger.wait_settled("c", std::time::Duration::ZERO), settled);
        }
    }
}
