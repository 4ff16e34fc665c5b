//! `toolseq timeline`: a ledger dump (JSON Lines from `Ledger::dump_jsonl` or the guard's flight
//! recorder) as a per-conversation timeline, marking where the order broke.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use serde_json::Value;
use toolseq::report::escape_id;

use crate::input::{each_line, ReadError, Source};
use crate::term::Style;

/// A record's violations, each as `rule call_id` beside the record it came from.
fn violations(r: &Value) -> impl Iterator<Item = (String, &Value)> {
    r.get("violations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| {
            let said = format!(
                "{} {}",
                v["rule"].as_str().unwrap_or("?"),
                v["call_id"].as_str().map(escape_id).unwrap_or_default()
            );
            (said, v)
        })
}

pub fn timeline(src: &Source, out: &mut dyn Write, style: Style) -> Result<bool, ReadError> {
    let mut order: Vec<String> = Vec::new();
    let mut by_conv: HashMap<String, Vec<Value>> = HashMap::new();
    each_line(
        src,
        true,
        |_| {},
        |line| {
            let Some(v) = line.value else { return Ok(()) };
            if !v.is_object() || v.get("event").and_then(Value::as_str).is_none() {
                return Err(src.error(
                    Some(line.number),
                    None,
                    "not a ledger record (no `event`)".into(),
                ));
            }
            let conv = v
                .get("conversation")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned();
            if !by_conv.contains_key(&conv) {
                order.push(conv.clone());
            }
            by_conv.entry(conv).or_default().push(v);
            Ok(())
        },
    )?;
    if order.is_empty() {
        return Err(src.error(None, None, "the dump holds no records".into()));
    }
    let io = |e: std::io::Error| src.error(None, None, format!("cannot write: {e}"));
    let mut broke = false;
    for conv in order {
        writeln!(
            out,
            "{}",
            style.bold(&format!("conversation {}", escape_id(&conv)))
        )
        .map_err(io)?;
        let mut running: BTreeSet<String> = BTreeSet::new();
        let mut cancelled: BTreeSet<String> = BTreeSet::new();
        for r in by_conv.remove(&conv).unwrap_or_default() {
            let event = r["event"].as_str().unwrap_or("?");
            let id = r
                .get("call_id")
                .and_then(Value::as_str)
                .map(escape_id)
                .unwrap_or_default();
            let at = r
                .get("at_us")
                .and_then(Value::as_u64)
                .map(|us| format!("{:>10.1} ms", us as f64 / 1e3))
                .unwrap_or_else(|| " ".repeat(13));
            let mut mark = None;
            let mut detail = String::new();
            match event {
                "call_started" => {
                    running.insert(id.clone());
                    if let Some(t) = r.get("tool").and_then(Value::as_str) {
                        detail = format!("({})", escape_id(t));
                    }
                }
                "output" => {
                    running.remove(&id);
                    if cancelled.remove(&id) {
                        mark = Some("output arrived after the call was cancelled".to_owned());
                    }
                }
                "call_cancelled" => {
                    running.remove(&id);
                    cancelled.insert(id.clone());
                    mark = Some("cancelled: its span closed with no output".to_owned());
                }
                "output_produced" => detail = "(stored when the call ends)".to_owned(),
                "abort_requested" => detail = "(interrupted by the user)".to_owned(),
                "call_aborted" => {
                    running.remove(&id);
                    detail = "(answered by the client's own abort output)".to_owned();
                }
                "user_message" => {
                    let during = ids(&r, "during");
                    if !during.is_empty() {
                        mark = Some(format!("arrived while {} still running", during.join(", ")));
                    }
                }
                // The client sends it after those calls' outputs: nothing is out of order.
                "queued_user_message" => {
                    let behind = ids(&r, "behind");
                    if !behind.is_empty() {
                        detail = format!("(queued behind {})", behind.join(", "));
                    }
                }
                "repaired" => {
                    let times = r.get("times").and_then(Value::as_u64).unwrap_or(1);
                    mark = Some(if times > 1 {
                        format!("repaired again ({times} times): the repair is not being stored")
                    } else {
                        "repaired by the guard".to_owned()
                    });
                }
                "guard_verdict" => {
                    let v: Vec<String> = violations(&r)
                        .map(|(said, v)| {
                            format!(
                                "{said} at {} ({})",
                                v["index"],
                                v["action"].as_str().unwrap_or("?")
                            )
                        })
                        .collect();
                    if !v.is_empty() {
                        mark = Some(format!("guard: {}", v.join("; ")));
                    }
                }
                // `toolseq proxy --record`: one model request as it was sent.
                "proxy_request" => {
                    let items = r.get("items").and_then(Value::as_array);
                    detail = format!(
                        "({} {} -> {}: {} entries, {} calls, {})",
                        r["method"].as_str().unwrap_or("?"),
                        escape_id(r["path"].as_str().unwrap_or("?")),
                        r["status"],
                        items.map_or(0, Vec::len),
                        r["calls"].as_u64().unwrap_or(0),
                        r["action"].as_str().unwrap_or("?"),
                    );
                    let said: Vec<String> = violations(&r)
                        .map(|(said, _)| said)
                        .chain(
                            r.get("api_error")
                                .and_then(Value::as_str)
                                .map(|e| format!("the API refused: {}", escape_id(e))),
                        )
                        .collect();
                    if !said.is_empty() {
                        mark = Some(format!("proxy: {}", said.join("; ")));
                    }
                }
                _ => {}
            }
            let line = format!(
                "{at}  #{:<5} {event:<18} {id} {detail}",
                r.get("seq")
                    .and_then(Value::as_u64)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            );
            match mark {
                Some(m) => {
                    broke = true;
                    writeln!(
                        out,
                        "{}  {}",
                        line.trim_end(),
                        style.warn(&format!("<-- {m}"))
                    )
                    .map_err(io)?
                }
                None => writeln!(out, "{}", line.trim_end()).map_err(io)?,
            }
        }
        if !running.is_empty() {
            broke = true;
            let ids: Vec<&str> = running.iter().map(String::as_str).collect();
            writeln!(
                out,
                "{}",
                style.warn(&format!(
                    "  still running at the end of the dump: {}",
                    ids.join(", ")
                ))
            )
            .map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    Ok(broke)
}

/// The escaped call ids of a record's list field.
fn ids(record: &Value, field: &str) -> Vec<String> {
    record
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(escape_id)
        .collect()
}
