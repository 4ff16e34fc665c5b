//! Bytes per ledger record and per conversation, measured with a counting allocator.
//! Run: `cargo bench --bench memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use toolseq::ledger::{Ledger, LedgerConfig};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    // Criterion-style flags (`--bench`) are ignored; this target only prints measurements.
    const RECORDS: usize = 100_000;
    let ledger = Ledger::with_config(LedgerConfig {
        max_records: RECORDS,
        ..LedgerConfig::default()
    });
    ledger.user_message("warm");
    let before = live();
    for i in 0..RECORDS / 2 {
        let id = format!("call_{i:024}"); // 29 bytes, the length of an OpenAI call id
        ledger.call_started("conv", &id, Some("shell"), None);
        ledger.output_recorded("conv", &id);
    }
    let per_record = (live() - before) as f64 / RECORDS as f64;

    const CONVS: usize = 10_000;
    let ledger2 = Ledger::with_config(LedgerConfig {
        max_conversations: CONVS,
        ..LedgerConfig::default()
    });
    let before = live();
    for i in 0..CONVS {
        ledger2.user_message(&format!("conversation-{i:020}"));
    }
    let per_conv = (live() - before) as f64 / CONVS as f64;

    println!("memory/ledger_record            {per_record:>8.0} bytes per record (a call's start and output, 29-byte ids, one conversation)");
    println!("memory/ledger_conversation      {per_conv:>8.0} bytes per conversation (one user message record, 33-byte id)");
    drop((ledger, ledger2));
}
