//! The `--json` report, written record by record as it is made: a body with a million
//! violations never holds them all as JSON values, only the one being written.

use std::io::{self, Write};

use serde_json::{json, Value};
use toolseq::__private::repair::{Field, Findings, Placed, Plan};
use toolseq::Rule;

use crate::scan::Scanned;
use crate::{not_checked, server_side_reason};

/// Writes one report object and a newline; `file` comes first when given (a folder's reports).
pub fn write(
    out: &mut dyn Write,
    file: Option<&str>,
    scanned: &Scanned,
    found: &Findings,
) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    out.write_all(b"{")?;
    if let Some(file) = file {
        field(&mut out, "file", &json!(file))?;
        out.write_all(b",")?;
    }
    field(&mut out, "rule_set", &json!(Rule::SET_VERSION))?;
    out.write_all(b",")?;
    field(&mut out, "format", &json!(scanned.detection.format.name()))?;
    out.write_all(b",")?;
    let profile = scanned.profile.as_ref().map(|s| {
        json!({
            "name": s.profile.name(),
            "evidence": s.evidence,
        })
    });
    field(&mut out, "profile", &json!(profile))?;
    out.write_all(b",")?;
    field(&mut out, "items", &json!(scanned.skel.items))?;
    if let Some((line, bytes)) = scanned.dropped_tail {
        out.write_all(b",")?;
        field(
            &mut out,
            "dropped_tail",
            &json!({"line": line, "bytes": bytes}),
        )?;
    }
    out.write_all(b",\"violations\":")?;
    array(
        &mut out,
        found.violations().map(|v| {
            // The library's record, with the line the library does not know.
            let mut record = json!(v);
            record["line"] = json!(scanned.line_of(v.index));
            record
        }),
    )?;
    out.write_all(b",\"repairs\":")?;
    array(&mut out, repairs(scanned, &found.plan))?;
    out.write_all(b",\"not_checked\":")?;
    array(
        &mut out,
        not_checked(scanned, found).into_iter().map(|(index, id)| {
            json!({
                "call_id": id,
                "index": index,
                "line": scanned.line_of(index),
                "reason": server_side_reason(scanned),
            })
        }),
    )?;
    out.write_all(b"}\n")?;
    out.flush()
}

fn field(out: &mut dyn Write, key: &str, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, key)?;
    out.write_all(b":")?;
    serde_json::to_writer(out, value).map_err(io::Error::from)
}

fn array(out: &mut dyn Write, records: impl Iterator<Item = Value>) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, r) in records.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &r)?;
    }
    out.write_all(b"]")
}

/// What the plan does, one record per edit, as the library serialises the changes it makes
/// (`toolseq::Change`), with lines.
fn repairs<'s>(scanned: &'s Scanned, p: &'s Plan) -> impl Iterator<Item = Value> + 's {
    let entries = &scanned.skel.entries;
    let line = move |e: usize| scanned.line_of(entries.at(e).index());
    // A call the repair renames is answered under its new id, by the output put after it.
    let answered_as = move |call: usize| p.new_id(call).or(entries.at(call).call_id());
    let inserts = p.inserts.iter().map(move |ins| {
        let anchor = entries.at(ins.anchor).index();
        match ins.placed {
            Placed::Synthetic { call } => json!({
                "action": "insert_output",
                "call_id": answered_as(call),
                "index": entries.at(call).index(),
                "line": line(call),
                "after_index": anchor,
            }),
            Placed::Moved { entry, call } => json!({
                "action": "move_output",
                "call_id": answered_as(call),
                "index": entries.at(entry).index(),
                "line": line(entry),
                "after_index": anchor,
            }),
        }
    });
    let rewrites = p.rewrites.iter().map(move |r| {
        let e = entries.at(r.entry);
        json!({
            "action": "rewrite_call_id",
            "rule": r.rule.name(),
            "call_id": e.call_id(),
            "new_call_id": r.new_id,
            "index": e.index(),
            "line": line(r.entry),
        })
    });
    let bypasses = p.bypasses.iter().map(move |b| {
        let e = entries.at(b.entry);
        json!({
            "action": "bypass_thought_signature",
            "rule": b.rule.name(),
            "call_id": e.call_id(),
            "index": e.index(),
            "line": line(b.entry),
        })
    });
    let reshapes = p.reshapes.iter().map(move |r| {
        let e = entries.at(r.entry);
        json!({
            "action": "reshape_output",
            "rule": r.rule.name(),
            "call_id": e.call_id(),
            "index": e.index(),
            "line": line(r.entry),
        })
    });
    let placeholders = p.placeholders.iter().map(move |ph| {
        let e = entries.at(ph.entry);
        json!({
            "action": "placeholder",
            "rule": ph.rule.name(),
            // The only field a placeholder goes in on a message of its own.
            "field": "reasoning_content",
            "index": e.index(),
            "line": line(ph.entry),
        })
    });
    let strips = p.strips.iter().map(move |s| {
        let e = entries.at(s.entry);
        json!({
            "action": "strip_field",
            "rule": s.rule.name(),
            "field": match s.field { Field::ItemId => "id", Field::EmptyCallList => "tool_calls" },
            "index": e.index(),
            "line": line(s.entry),
        })
    });
    // One record per item split, however many of its blocks the plan names.
    let mut separated = std::collections::BTreeSet::new();
    let separations = p.separations.iter().filter_map(move |s| {
        let e = entries.at(s.entry);
        separated.insert(e.index()).then(|| {
            json!({
                "action": "separate_text",
                "rule": s.rule.name(),
                "index": e.index(),
                "line": line(s.entry),
            })
        })
    });
    let removals = p.removals.iter().map(move |r| {
        let e = entries.at(r.entry);
        json!({
            "action": "remove",
            "rule": r.rule.name(),
            // The id the item carried when it went: renames come first.
            "call_id": p.new_id(r.entry).or(e.call_id()),
            "index": e.index(),
            "line": line(r.entry),
        })
    });
    inserts
        .chain(rewrites)
        .chain(bypasses)
        .chain(reshapes)
        .chain(placeholders)
        .chain(strips)
        .chain(separations)
        .chain(removals)
}
