//! Writing the repaired input back in the shape it came in: a document stays a document (pretty
//! if it was), JSON Lines stay line for line with every line the repair does not name copied
//! byte for byte. Clean input is copied unchanged.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::Value;
use toolseq::repair::{plan, Placed, Plan, RepairOptions};
use toolseq::rules::Rule;
use toolseq::skeleton::Family;
use toolseq::wire::rollout::LineOut;
use toolseq::wire::{self, Format};
use toolseq::Change;

use crate::input::{each_line, trim, Line, ReadError, Shape, Source};
use crate::scan::Scanned;

pub fn fix(
    src: &Source,
    scanned: Scanned,
    out: &mut dyn Write,
    opts: &RepairOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<Change>, ReadError> {
    let io_err = |e: io::Error| src.error(None, None, format!("cannot write the output: {e}"));
    let p = plan(&scanned.skel);
    let format = scanned.detection.format;
    if let Some(mut value) = scanned.doc {
        let bytes = scanned.bytes;
        if p.is_empty() {
            out.write_all(&bytes).map_err(io_err)?;
            return Ok(Vec::new());
        }
        let changes = wire::apply(&mut value, format, &scanned.skel, &p, opts);
        let pretty = bytes.windows(3).any(|w| w == b"\n  ");
        let written = if pretty {
            serde_json::to_writer_pretty(&mut *out, &value)
        } else {
            serde_json::to_writer(&mut *out, &value)
        };
        written.map_err(|e| io_err(e.into()))?;
        if bytes.ends_with(b"\n") {
            out.write_all(b"\n").map_err(io_err)?;
        }
        return Ok(changes);
    }
    debug_assert_eq!(scanned.shape, Shape::Lines);
    if p.is_empty() {
        io::copy(&mut src.reader()?, out).map_err(io_err)?;
        return Ok(Vec::new());
    }
    if format == Format::Rollout {
        return stream_rollout(src, &scanned, &p, out, opts, progress);
    }
    if format.flat() {
        return stream(src, &scanned, &p, out, opts, progress);
    }
    // Items may be edited inside (tool calls, content blocks): read them all.
    let mut items = Vec::new();
    each_line(
        src,
        true,
        |_| {},
        |line| {
            items.extend(line.value);
            Ok(())
        },
    )?;
    let mut arr = Value::Array(items);
    let changes = wire::apply(&mut arr, format, &scanned.skel, &p, opts);
    for v in arr.as_array().into_iter().flatten() {
        serde_json::to_writer(&mut *out, v).map_err(|e| io_err(e.into()))?;
        out.write_all(b"\n").map_err(io_err)?;
    }
    Ok(changes)
}

/// Each line of the input with the index of the item it holds (`None` for a blank line).
fn each_item(
    src: &Source,
    progress: impl FnMut(u64),
    mut f: impl FnMut(Option<usize>, &Line<'_>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut next = 0;
    each_line(src, false, progress, |line| {
        let item = (!trim(line.raw).is_empty()).then(|| {
            next += 1;
            next - 1
        });
        f(item, &line)
    })
}

/// A rollout: only the lines the plan touches are parsed and rewritten (a `compacted` line whose
/// `replacement_history` changes among them); new lines follow their anchor; every other line is
/// copied byte for byte.
fn stream_rollout(
    src: &Source,
    scanned: &Scanned,
    p: &Plan,
    out: &mut dyn Write,
    opts: &RepairOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<Change>, ReadError> {
    let touched = wire::rollout::touched_lines(&scanned.skel, p);
    let mut fetched = HashMap::new();
    each_item(
        src,
        |_| {},
        |item, line| {
            if let Some(i) = item.filter(|i| touched.contains(i)) {
                let v: Value = serde_json::from_slice(trim(line.raw))
                    .map_err(|e| src.json_error(&e, Some(line.number), false))?;
                fetched.insert(i, v);
            }
            Ok(())
        },
    )?;
    let (mut laid, changes) = wire::rollout::plan_lines(fetched, &scanned.skel, p, opts);
    let io_err = |e: io::Error| src.error(None, None, format!("cannot write the output: {e}"));
    each_item(src, &mut *progress, |item, line| {
        let Some((what, after)) = item.and_then(|i| laid.lines.remove(&i)) else {
            return out.write_all(line.raw).map_err(io_err);
        };
        let newline = |out: &mut dyn Write| out.write_all(b"\n").map_err(io_err);
        match what {
            LineOut::Keep => {
                out.write_all(line.raw).map_err(io_err)?;
                if !line.raw.ends_with(b"\n") && !after.is_empty() {
                    newline(out)?;
                }
            }
            LineOut::Drop => {}
            LineOut::Replace(v) => {
                serde_json::to_writer(&mut *out, &v).map_err(|e| io_err(e.into()))?;
                newline(out)?;
            }
        }
        for v in after {
            serde_json::to_writer(&mut *out, &v).map_err(|e| io_err(e.into()))?;
            newline(out)?;
        }
        Ok(())
    })?;
    Ok(changes)
}

/// Responses items: one entry per item, so the plan maps to whole lines and
/// the file is rewritten in two more streaming passes (gather the lines that move, then write).
fn stream(
    src: &Source,
    scanned: &Scanned,
    p: &Plan,
    out: &mut dyn Write,
    opts: &RepairOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<Change>, ReadError> {
    let entries = &scanned.skel.entries;
    let removed: HashMap<usize, Rule> = p.removals.iter().map(|r| (r.entry, r.rule)).collect();
    let mut moved: HashMap<usize, usize> = HashMap::new();
    let mut after: HashMap<usize, Vec<Placed>> = HashMap::new();
    for ins in &p.inserts {
        if let Placed::Moved { entry, call } = ins.placed {
            moved.insert(entry, call);
        }
        after.entry(ins.anchor).or_default().push(ins.placed);
    }

    // Items edited in place (a call id rewritten, an id dropped) are re-serialised; every other
    // line is copied byte for byte.
    let edited: std::collections::HashSet<usize> = p.edited_entries().collect();
    // One entry per line here, so entry and item index agree.
    let format = scanned.detection.format;
    let edit = |raw: &[u8], i: usize, changes: &mut Vec<Change>| -> Vec<u8> {
        let Ok(mut v) = serde_json::from_slice::<Value>(raw) else {
            return raw.to_vec();
        };
        changes.extend(wire::edit_entry(&mut v, format, &scanned.skel, p, i));
        serde_json::to_vec(&v).unwrap_or_else(|_| raw.to_vec())
    };
    let mut held: HashMap<usize, Vec<u8>> = HashMap::new();
    each_item(
        src,
        |_| {},
        |item, line| {
            let Some(i) = item.filter(|i| removed.contains_key(i) || moved.contains_key(i)) else {
                return Ok(());
            };
            let mut raw = trim(line.raw).to_vec();
            if edited.contains(&i) {
                raw = edit(&raw, i, &mut Vec::new());
            }
            held.insert(i, raw);
            Ok(())
        },
    )?;

    let mut changes = Vec::new();
    for (&i, &rule) in &removed {
        let value = held
            .get(&i)
            .and_then(|raw| serde_json::from_slice(raw).ok());
        changes.push(Change::Removed {
            rule,
            call_id: entries.at(i).call_id().map(str::to_owned),
            index: entries.at(i).index(),
            block: None,
            item: value.unwrap_or(Value::Null),
        });
    }
    changes.sort_by_key(|c| match c {
        Change::Removed { index, .. } => *index,
        _ => 0,
    });

    let io_err = |e: io::Error| src.error(None, None, format!("cannot write the output: {e}"));
    each_item(src, &mut *progress, |item, line| {
        let Some(i) = item else {
            return out.write_all(line.raw).map_err(io_err);
        };
        let body = trim(line.raw);
        if !removed.contains_key(&i) && !moved.contains_key(&i) {
            if edited.contains(&i) {
                out.write_all(&edit(body, i, &mut changes))
                    .map_err(io_err)?;
                out.write_all(b"\n").map_err(io_err)?;
            } else {
                out.write_all(line.raw).map_err(io_err)?;
            }
        }
        let Some(placed) = after.get(&i) else {
            return Ok(());
        };
        if !line.raw.ends_with(b"\n") {
            out.write_all(b"\n").map_err(io_err)?;
        }
        for &pl in placed {
            match pl {
                Placed::Moved { entry, call } => {
                    out.write_all(held.get(&entry).map_or(&b""[..], Vec::as_slice))
                        .map_err(io_err)?;
                    changes.push(Change::Moved {
                        call_id: entries.at(call).call_id().unwrap_or_default().to_owned(),
                        from: entries.at(entry).index(),
                        call_index: entries.at(call).index(),
                    });
                }
                Placed::Synthetic { call } => {
                    let c = entries.at(call);
                    let id = c.call_id().unwrap_or_default().to_owned();
                    let text = opts.text_for(&id).to_owned();
                    let payload = wire::synthetic_item(
                        scanned.detection.format,
                        c.family().unwrap_or(Family::Function),
                        &id,
                        &text,
                    );
                    serde_json::to_writer(&mut *out, &payload).map_err(|e| io_err(e.into()))?;
                    changes.push(Change::Inserted {
                        call_id: id,
                        call_index: c.index(),
                        cancelled: false,
                        still_running: false,
                        text,
                        item: payload,
                    });
                }
            }
            out.write_all(b"\n").map_err(io_err)?;
        }
        Ok(())
    })?;
    Ok(changes)
}
