//! The ledger past its caps at scale: more running calls than records kept, more conversations
//! than kept. What is kept must be what the plain rules say (the oldest record that may go goes;
//! the least recently used conversation goes), now that eviction no longer scans. Its cost per
//! record is measured in `benches/ledger.rs`, not here.

use std::collections::VecDeque;

use toolseq::ledger::{Ledger, LedgerConfig, RecordKind};

#[test]
fn with_more_running_calls_than_records_kept_none_is_lost_and_the_oldest_settled_go_first() {
    let ledger = Ledger::with_config(LedgerConfig {
        max_records: 16,
        ..LedgerConfig::default()
    });
    let running = 20_000;
    for i in 0..running {
        ledger.call_started("c", &format!("call_{i}"), Some("shell"), None);
    }
    // Every start is kept: the calls run.
    let snap = ledger.snapshot("c").expect("conversation");
    assert_eq!(snap.records.len(), running);
    // Settle every other call, newest first: the starts of settled calls now lie among those
    // of running ones, and each output pushes the cap.
    for i in (0..running).rev().step_by(2) {
        ledger.output_recorded("c", &format!("call_{i}"));
    }
    let snap = ledger.snapshot("c").expect("conversation");
    let seqs: Vec<u64> = snap.records.iter().map(|r| r.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "records stay oldest first"
    );
    let starts = snap
        .records
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::CallStarted { .. }))
        .count();
    assert_eq!(starts, running / 2, "every running call keeps its start");
    assert_eq!(snap.running().len(), running / 2);
    // What may go went, oldest first: the kept records beside the starts are the newest outputs.
    assert_eq!(snap.records.len(), running / 2);
    assert_eq!(
        snap.evicted_records, running as u64,
        "each settled call's start and output went"
    );
    for i in (0..running).filter(|i| i % 2 == 0) {
        ledger.output_recorded("c", &format!("call_{i}"));
    }
    let snap = ledger.snapshot("c").expect("conversation");
    assert_eq!(snap.records.len(), 16);
    assert!(snap.running().is_empty());
    let kept: Vec<u64> = snap.records.iter().map(|r| r.seq).collect();
    // One conversation: its records' seqs run without gaps, so the newest 16 end at the last.
    let last = kept[15];
    assert_eq!(
        kept,
        (last - 15..=last).collect::<Vec<_>>(),
        "the newest 16"
    );
}

#[test]
fn past_the_conversation_cap_the_least_recently_used_goes_exactly() {
    let cap = 100;
    let ledger = Ledger::with_config(LedgerConfig {
        max_conversations: cap,
        ..LedgerConfig::default()
    });
    // The model: conversations from least to most recently used.
    let mut lru: VecDeque<String> = VecDeque::new();
    let touch = |lru: &mut VecDeque<String>, c: &str| {
        ledger.user_message(c);
        lru.retain(|k| k != c);
        lru.push_back(c.to_owned());
        if lru.len() > cap {
            lru.pop_front();
        }
    };
    for i in 0..1_000u64 {
        touch(&mut lru, &format!("new-{i}"));
        // Bring back some of those the next eviction round would have chosen.
        if i % 7 == 0 {
            if let Some(old) = lru.get(3).cloned() {
                touch(&mut lru, &old);
            }
        }
    }
    let mut kept = ledger.conversations();
    kept.sort();
    let mut want: Vec<String> = lru.into_iter().collect();
    want.sort();
    assert_eq!(kept, want);
}
