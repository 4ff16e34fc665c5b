//! `toolseq items`: the items of a body, JSON Lines or rollout as the API would see them, one
//! row each (never their text), each violation marked on the item it is about. For a rollout,
//! also the lines that changed the history Codex sends (a compaction, a rollback, an aborted
//! turn), so that a person sees why an item is or is not sent.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Value};
use toolseq::__private::skeleton::{EntryRef, Kind, Role};
use toolseq::report::escape_id;
use toolseq::{Format, Rule};

use crate::input::{each_line, ReadError, Source};
use crate::scan::Scanned;
use crate::term::Style;

/// A line of a rollout that changed the history, or the time of an item's line.
struct Rollout {
    /// `(line, timestamp, what)` of each compaction, rollback and aborted turn.
    events: Vec<(usize, Option<String>, String)>,
    /// The timestamp of each line.
    times: HashMap<usize, String>,
}

fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Call => "call",
        Kind::Output => "output",
        Kind::Message(_) => "message",
        Kind::Other => "other",
        Kind::Reasoning => "reasoning",
        Kind::EmptyCallList => "empty_call_list",
        Kind::Reference => "reference",
        Kind::Malformed(_) => "malformed",
    }
}

fn role(e: EntryRef) -> Option<&'static str> {
    match e.kind() {
        Kind::Message(Role::User) => Some("user"),
        Kind::Message(Role::Assistant) | Kind::Call | Kind::Reasoning => Some("assistant"),
        Kind::Output => Some("tool"),
        _ => None,
    }
}

/// Reads a rollout's lines again for what changed its history and when each line was written.
fn rollout(src: &Source) -> Result<Rollout, ReadError> {
    let mut r = Rollout {
        events: Vec::new(),
        times: HashMap::new(),
    };
    each_line(
        src,
        true,
        |_| {},
        |line| {
            let Some(v) = line.value else { return Ok(()) };
            let time = v
                .get("timestamp")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(t) = &time {
                r.times.insert(line.number, t.clone());
            }
            let payload = &v["payload"];
            let what = match (v["type"].as_str(), payload["type"].as_str()) {
                (Some("compacted"), _) => Some(match payload["replacement_history"].as_array() {
                    Some(h) => format!(
                        "compacted: the {} items of its replacement_history replace everything before",
                        h.len()
                    ),
                    None => "compacted (legacy): its summary and the user's messages replace everything before".to_owned(),
                }),
                (Some("event_msg"), Some("thread_rolled_back")) => Some(format!(
                    "thread_rolled_back: drops the last {} user turns",
                    payload["num_turns"]
                )),
                (Some("event_msg"), Some("turn_aborted")) => Some(format!(
                    "turn_aborted ({})",
                    escape_id(payload["reason"].as_str().unwrap_or("?"))
                )),
                _ => None,
            };
            if let Some(what) = what {
                r.events.push((line.number, time, what));
            }
            Ok(())
        },
    )?;
    Ok(r)
}

pub fn items(
    src: &Source,
    scanned: &Scanned,
    json_out: bool,
    out: &mut dyn Write,
    style: Style,
) -> Result<u8, ReadError> {
    let io = |e: std::io::Error| src.error(None, None, format!("cannot write: {e}"));
    let skel = &scanned.skel;
    let found = toolseq::__private::repair::findings(skel);
    // Each violation on the entry it names: by item and block, else the item's first entry.
    let mut marks: HashMap<(usize, Option<usize>), Vec<Rule>> = HashMap::new();
    for v in found.violations() {
        marks.entry((v.index, v.block)).or_default().push(v.rule);
    }
    let format = scanned.detection.format;
    let extra = if format == Format::Rollout {
        Some(rollout(src)?)
    } else {
        None
    };
    // Any violation at all, whether or not it names an entry shown: the exit status of `check`.
    let broken = !marks.is_empty();
    let mut marked_item = std::collections::HashSet::new();
    // Each entry's row, made as it is written: a long rollout's rows are never all held.
    let mut rows = skel.entries.iter().map(|e| {
        let mut rules = marks.remove(&(e.index(), e.block())).unwrap_or_default();
        // A violation about a whole item is shown on its first entry.
        if marked_item.insert(e.index()) && e.block().is_some() {
            rules.extend(marks.remove(&(e.index(), None)).unwrap_or_default());
        }
        let line = scanned.line_of(e.index());
        json!({
            "index": e.index(),
            "block": e.block(),
            "line": line,
            "kind": kind(e.kind()),
            "family": e.family().map(toolseq::ledger::family_name),
            "role": role(e),
            "label": e.label(),
            "call_id": e.call_id(),
            "item_id": e.item_id(),
            "timestamp": line.and_then(|l| extra.as_ref()?.times.get(&l)),
            "violations": rules.iter().map(|r| r.name()).collect::<Vec<_>>(),
        })
    });
    let mut out = std::io::BufWriter::new(out);
    let out: &mut dyn Write = &mut out;
    if json_out {
        let head = json!({
            "rule_set": Rule::SET_VERSION,
            "format": format.name(),
            "items": skel.items,
        })
        .to_string();
        // The head's fields, then the entries one by one, then the history's events.
        write!(out, "{},\"entries\":[", head.trim_end_matches('}')).map_err(io)?;
        for (i, r) in rows.enumerate() {
            if i > 0 {
                out.write_all(b",").map_err(io)?;
            }
            serde_json::to_writer(&mut *out, &r).map_err(|e| io(e.into()))?;
        }
        let events: Vec<Value> = extra
            .iter()
            .flat_map(|r| &r.events)
            .map(|(line, time, what)| json!({"line": line, "timestamp": time, "what": what}))
            .collect();
        writeln!(out, "],\"history_events\":{}}}", Value::Array(events)).map_err(io)?;
        out.flush().map_err(io)?;
        return Ok(u8::from(broken));
    }
    writeln!(
        out,
        "{}: {} ({}), {} items",
        escape_id(&src.name),
        format.name(),
        scanned.detection.evidence,
        skel.items
    )
    .map_err(io)?;
    // A line that changed the history, dimmed, where it falls among the items.
    let event = |out: &mut dyn Write, at: usize, time: &Option<String>, what: &str| {
        let time = time.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
        writeln!(out, "  {}", style.dim(&format!("line {at}{time}: {what}"))).map_err(io)
    };
    let mut events = extra.iter().flat_map(|r| &r.events).peekable();
    for r in rows.by_ref() {
        let line = r["line"].as_u64().map(|l| l as usize);
        while let Some((at, time, what)) = events.peek() {
            if line.is_some_and(|l| *at > l) {
                break;
            }
            event(out, *at, time, what)?;
            events.next();
        }
        let at = match (r["block"].as_u64(), line) {
            (Some(b), Some(l)) => format!("{}.{b} line {l}", r["index"]),
            (Some(b), None) => format!("{}.{b}", r["index"]),
            (None, Some(l)) => format!("{} line {l}", r["index"]),
            (None, None) => r["index"].to_string(),
        };
        let text = |k: &str| {
            r[k].as_str()
                .map(escape_id)
                .unwrap_or_else(|| "-".to_owned())
        };
        let row = format!(
            "  {at:<14} {:<10} {:<12} {:<9} {:<24} call {:<20} item {}{}",
            text("kind"),
            text("family"),
            text("role"),
            text("label"),
            text("call_id"),
            text("item_id"),
            r["timestamp"]
                .as_str()
                .map(|t| format!("  {t}"))
                .unwrap_or_default(),
        );
        let rules: Vec<&str> = r["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if rules.is_empty() {
            writeln!(out, "{row}").map_err(io)?;
        } else {
            writeln!(
                out,
                "{row}  {}",
                style.bad(&format!("<-- {}", rules.join(", ")))
            )
            .map_err(io)?;
        }
    }
    for (at, time, what) in events {
        event(out, *at, time, what)?;
    }
    out.flush().map_err(io)?;
    Ok(u8::from(broken))
}
