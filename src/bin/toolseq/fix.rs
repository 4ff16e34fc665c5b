//! Writing the repaired input back in the shape it came in: a document stays a document (pretty
//! if it was), JSON Lines stay line for line with every line the repair does not name copied
//! byte for byte. Clean input is copied unchanged.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use serde_json::Value;
use toolseq::__private::repair::{plan, Placed, Plan, RepairOptions};
use toolseq::__private::skeleton::Family;
use toolseq::__private::wire::rollout::LineOut;
use toolseq::__private::wire::{self, Format};

use crate::input::{each_line, trim, Line, ReadError, Shape, Source};
use crate::scan::Scanned;

/// Writes the repaired input to `out`. `text` is a document's text when the scan kept it
/// aside (see [`Keep::Tree`](crate::scan::Keep)) rather than in `scanned.bytes`.
pub fn fix(
    src: &Source,
    scanned: Scanned,
    text: Option<&String>,
    out: &mut dyn Write,
    opts: &RepairOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ReadError> {
    let io_err = |e: io::Error| src.error(None, None, format!("cannot write the output: {e}"));
    let p = plan(&scanned.skel);
    let format = scanned.detection.format;
    let doc_text = text.map(String::as_bytes);
    if scanned.shape == Shape::Document && scanned.doc.is_none() {
        let text = doc_text.unwrap_or_default();
        if p.is_empty() {
            out.write_all(text).map_err(io_err)?;
            return Ok(());
        }
        if let Some(body) = ItemSpans::of(src, text, &scanned) {
            return stream(src, &scanned, &p, &body, out, opts, progress);
        }
        // Items the skeleton does not map one to one: rewritten from a tree.
        let doc = serde_json::from_slice(text).map_err(|e| src.json_error(&e, None, false))?;
        return write_tree(src, doc, text, &scanned, &p, out, opts);
    }
    let mut scanned = scanned;
    if let Some(value) = scanned.doc.take() {
        let bytes = if scanned.bytes.is_empty() {
            doc_text.unwrap_or_default()
        } else {
            &scanned.bytes
        };
        if p.is_empty() {
            out.write_all(bytes).map_err(io_err)?;
            return Ok(());
        }
        return write_tree(src, value, bytes, &scanned, &p, out, opts);
    }
    debug_assert_eq!(scanned.shape, Shape::Lines);
    if p.is_empty() {
        io::copy(&mut src.reader()?, out).map_err(io_err)?;
        return Ok(());
    }
    if format == Format::Rollout {
        return stream_rollout(src, &scanned, &p, out, opts, progress);
    }
    if format.flat() {
        return stream(src, &scanned, &p, &Lines(src), out, opts, progress);
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
    wire::apply(&mut arr, format, &scanned.skel, &p, opts);
    for v in arr.as_array().into_iter().flatten() {
        serde_json::to_writer(&mut *out, v).map_err(|e| io_err(e.into()))?;
        out.write_all(b"\n").map_err(io_err)?;
    }
    Ok(())
}

/// A document repaired as a tree and written whole, pretty when `bytes` were.
fn write_tree(
    src: &Source,
    mut value: Value,
    bytes: &[u8],
    scanned: &Scanned,
    p: &Plan,
    out: &mut dyn Write,
    opts: &RepairOptions,
) -> Result<(), ReadError> {
    let io_err = |e: io::Error| src.error(None, None, format!("cannot write the output: {e}"));
    wire::apply(&mut value, scanned.detection.format, &scanned.skel, p, opts);
    let written = if crate::scan::pretty(bytes) {
        serde_json::to_writer_pretty(&mut *out, &value)
    } else {
        serde_json::to_writer(&mut *out, &value)
    };
    written.map_err(|e| io_err(e.into()))?;
    if bytes.ends_with(b"\n") {
        out.write_all(b"\n").map_err(io_err)?;
    }
    Ok(())
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
) -> Result<(), ReadError> {
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
    let (mut laid, _) = wire::rollout::plan_lines(fetched, &scanned.skel, p, opts);
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
    Ok(())
}

/// Where a flat history's items lie in the input (lines of JSON Lines, or the `input` array of
/// a body's text), and how a rewritten one is laid out among them.
trait Layout {
    /// Calls `f` with each item's index (`None` for a blank line) and its raw bytes, in order.
    fn each(&self, progress: &mut dyn FnMut(u64), f: &mut EachItem<'_>) -> Result<(), ReadError>;
    /// Writes what comes before the first item.
    fn begin(&self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
    /// Writes what comes after the last item.
    fn end(&self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
    /// Writes an item kept as it was (`raw`, as [`each`](Layout::each) gave it).
    fn keep(&self, w: &mut Written, out: &mut dyn Write, raw: &[u8]) -> io::Result<()>;
    /// Writes an item made or rewritten (its JSON, with no line ending).
    fn item(&self, w: &mut Written, out: &mut dyn Write, item: &[u8]) -> io::Result<()>;
}

/// What a [`Layout`] calls with each item's index (`None` for a blank line) and raw bytes.
type EachItem<'f> = dyn FnMut(Option<usize>, &[u8]) -> Result<(), ReadError> + 'f;

/// What has been written so far, as a layout needs to know it.
#[derive(Default)]
struct Written {
    items: usize,
    /// Whether the output ends a line.
    ends_line: bool,
}

/// JSON Lines: one item per line, blank lines kept.
struct Lines<'s>(&'s Source);

impl Layout for Lines<'_> {
    fn each(&self, progress: &mut dyn FnMut(u64), f: &mut EachItem<'_>) -> Result<(), ReadError> {
        each_item(self.0, progress, |item, line| f(item, line.raw))
    }

    fn keep(&self, w: &mut Written, out: &mut dyn Write, raw: &[u8]) -> io::Result<()> {
        w.ends_line = raw.ends_with(b"\n");
        out.write_all(raw)
    }

    fn item(&self, w: &mut Written, out: &mut dyn Write, item: &[u8]) -> io::Result<()> {
        if !w.ends_line && w.items > 0 {
            out.write_all(b"\n")?;
        }
        w.items += 1;
        w.ends_line = true;
        out.write_all(item)?;
        out.write_all(b"\n")
    }
}

/// The items of a compact Responses body's `input`, by their place in its text: a body of a
/// million calls is rewritten from the text it was read from, every item the plan does not
/// name copied byte for byte, where a tree of it took thirteen times the file. The items are
/// found again on each pass rather than kept: their places would take a tenth of the file.
struct ItemSpans<'t> {
    src: &'t Source,
    text: &'t [u8],
    /// Where the first item starts and the last one ends.
    first: usize,
    last: usize,
    /// What goes between two items: what the input has between its first two.
    separator: Vec<u8>,
    /// How a pretty body's items are indented, for the items written anew.
    pretty: Option<Indent>,
}

/// The indentation of a pretty body's items.
struct Indent {
    /// What starts each line of an item.
    line: Vec<u8>,
    /// One level deeper inside an item.
    unit: Vec<u8>,
}

impl<'t> ItemSpans<'t> {
    /// The layout of `text`'s `input` items, when the skeleton has one entry per item, in
    /// order; `None` otherwise (or when `input` is empty, repeated or not an array), and the
    /// body is rewritten from a tree.
    fn of(src: &'t Source, text: &'t [u8], scanned: &Scanned) -> Option<Self> {
        let entries = &scanned.skel.entries;
        let mut one_each = true;
        let (mut first, mut second, mut last) = (None, None, 0);
        let mut count = 0;
        each_input_item(text, &mut |i, start, end| {
            one_each &= i < entries.len() && entries.at(i).index() == i;
            match i {
                0 => first = Some((start, end)),
                1 => second = Some(start),
                _ => {}
            }
            last = end;
            count = i + 1;
            Ok::<_, ()>(())
        })
        .ok()?;
        let (first, first_end) = first?;
        if !one_each || count != entries.len() {
            return None;
        }
        let separator = match second {
            Some(next) => text[first_end..next].to_vec(),
            // A comma, then what the input has between `[` and its item.
            None => {
                let open = text[..first].iter().rposition(|&b| b == b'[')?;
                [b",", &text[open + 1..first]].concat()
            }
        };
        let pretty = separator.iter().rposition(|&b| b == b'\n').map(|nl| {
            let line = separator[nl + 1..].to_vec();
            // The first item's second line is one level deeper than the item.
            let item = &text[first..first_end];
            let unit = item
                .iter()
                .position(|&b| b == b'\n')
                .map(|nl| {
                    let rest = &item[nl + 1..];
                    let ws = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    rest[..ws]
                        .strip_prefix(&line[..])
                        .unwrap_or_default()
                        .to_vec()
                })
                .filter(|unit| !unit.is_empty())
                .unwrap_or_else(|| b"  ".to_vec());
            Indent { line, unit }
        });
        Some(ItemSpans {
            src,
            text,
            first,
            last,
            pretty,
            separator,
        })
    }
}

/// Calls `f` with the index and span of each item of the body's `input` array, in order.
/// `Err(None)` when the body has no such array, or two `input` keys, or is not JSON;
/// `Err(Some(e))` when `f` stopped with `e`.
fn each_input_item<E>(
    text: &[u8],
    f: &mut dyn FnMut(usize, usize, usize) -> Result<(), E>,
) -> Result<(), Option<E>> {
    use serde::de::{
        DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor,
    };
    use serde_json::value::RawValue;
    use std::borrow::Cow;
    struct Body<'f, E> {
        base: usize,
        f: &'f mut dyn FnMut(usize, usize, usize) -> Result<(), E>,
        stopped: &'f mut Option<E>,
    }
    impl<'de, E> Visitor<'de> for Body<'_, E> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a body with an input array")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
            let mut seen = false;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key != "input" {
                    map.next_value::<IgnoredAny>()?;
                } else if std::mem::replace(&mut seen, true) {
                    return Err(A::Error::custom("input twice"));
                } else {
                    map.next_value_seed(&mut self)?;
                }
            }
            if seen {
                Ok(())
            } else {
                Err(A::Error::custom("no input"))
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                let start = raw.get().as_ptr() as usize - self.base;
                if let Err(e) = (self.f)(i, start, start + raw.get().len()) {
                    *self.stopped = Some(e);
                    return Err(A::Error::custom("stopped"));
                }
                i += 1;
            }
            Ok(())
        }
    }
    // The `input` value: its array's items.
    impl<'de, E> DeserializeSeed<'de> for &mut Body<'_, E> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(Body {
                base: self.base,
                f: &mut *self.f,
                stopped: &mut *self.stopped,
            })
        }
    }
    let mut stopped = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    let read = de.deserialize_map(Body {
        base: text.as_ptr() as usize,
        f,
        stopped: &mut stopped,
    });
    match read.and_then(|()| de.end()) {
        Ok(()) => Ok(()),
        Err(_) => Err(stopped),
    }
}

impl Layout for ItemSpans<'_> {
    fn each(&self, _progress: &mut dyn FnMut(u64), f: &mut EachItem<'_>) -> Result<(), ReadError> {
        let text = self.text;
        each_input_item(text, &mut |i, start, end| f(Some(i), &text[start..end])).map_err(|e| {
            // The text was read as this body before, so only `f` can stop the pass.
            e.unwrap_or_else(|| {
                self.src
                    .error(None, None, "the body changed as it was read".into())
            })
        })
    }

    fn begin(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.text[..self.first])
    }

    fn end(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.text[self.last..])
    }

    fn keep(&self, w: &mut Written, out: &mut dyn Write, raw: &[u8]) -> io::Result<()> {
        if w.items > 0 {
            out.write_all(&self.separator)?;
        }
        w.items += 1;
        out.write_all(raw)
    }

    fn item(&self, w: &mut Written, out: &mut dyn Write, item: &[u8]) -> io::Result<()> {
        let Some(indent) = &self.pretty else {
            return self.keep(w, out, item);
        };
        use serde::Serialize;
        let value: Value = serde_json::from_slice(item)?;
        let mut pretty = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(&indent.unit);
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut pretty,
            formatter,
        ))?;
        // A raw line break lies only between tokens, never inside a string.
        let mut lines = pretty.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        self.keep(w, out, first)?;
        for line in lines {
            out.write_all(b"\n")?;
            out.write_all(&indent.line)?;
            out.write_all(line)?;
        }
        Ok(())
    }
}

/// A flat history (Responses items): one entry per item, so the plan maps to whole items, and
/// the input is rewritten in two more passes over its items (gather those that move, then
/// write).
fn stream(
    src: &Source,
    scanned: &Scanned,
    p: &Plan,
    layout: &dyn Layout,
    out: &mut dyn Write,
    opts: &RepairOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ReadError> {
    let entries = &scanned.skel.entries;
    let removed: HashSet<usize> = p.removals.iter().map(|r| r.entry).collect();
    let mut moved: HashMap<usize, usize> = HashMap::new();
    let mut after: HashMap<usize, Vec<Placed>> = HashMap::new();
    for ins in &p.inserts {
        if let Placed::Moved { entry, call } = ins.placed {
            moved.insert(entry, call);
        }
        after.entry(ins.anchor).or_default().push(ins.placed);
    }

    // Items edited in place (a call id rewritten, an id dropped) are re-serialised; every other
    // item is copied byte for byte.
    let edited: HashSet<usize> = p.edited_entries().collect();
    // One entry per item here, so entry and item index agree.
    let format = scanned.detection.format;
    let edit = |raw: &[u8], i: usize| -> Vec<u8> {
        let Ok(mut v) = serde_json::from_slice::<Value>(raw) else {
            return raw.to_vec();
        };
        wire::edit_entry(&mut v, format, &scanned.skel, p, i);
        serde_json::to_vec(&v).unwrap_or_else(|_| raw.to_vec())
    };
    let mut held: HashMap<usize, Vec<u8>> = HashMap::new();
    if !moved.is_empty() {
        layout.each(&mut |_| {}, &mut |item, raw| {
            if let Some(i) = item.filter(|i| moved.contains_key(i)) {
                let raw = trim(raw);
                held.insert(
                    i,
                    if edited.contains(&i) {
                        edit(raw, i)
                    } else {
                        raw.to_vec()
                    },
                );
            }
            Ok(())
        })?;
    }

    let io_err = |e: io::Error| src.error(None, None, format!("cannot write the output: {e}"));
    let mut w = Written::default();
    layout.begin(out).map_err(io_err)?;
    layout.each(&mut *progress, &mut |item, raw| {
        let Some(i) = item else {
            return layout.keep(&mut w, out, raw).map_err(io_err);
        };
        if !removed.contains(&i) && !moved.contains_key(&i) {
            if edited.contains(&i) {
                layout
                    .item(&mut w, out, &edit(trim(raw), i))
                    .map_err(io_err)?;
            } else {
                layout.keep(&mut w, out, raw).map_err(io_err)?;
            }
        }
        for &pl in after.get(&i).into_iter().flatten() {
            let bytes = match pl {
                Placed::Moved { entry, .. } => held.remove(&entry).unwrap_or_default(),
                Placed::Synthetic { call } => {
                    let c = entries.at(call);
                    let old = c.call_id().unwrap_or_default();
                    // A call the repair renames is answered under its new id.
                    let payload = wire::synthetic_item(
                        format,
                        c.family().unwrap_or(Family::Function),
                        p.new_id(call).unwrap_or(old),
                        opts.text_for(old),
                    );
                    serde_json::to_vec(&payload).map_err(|e| io_err(e.into()))?
                }
            };
            layout.item(&mut w, out, &bytes).map_err(io_err)?;
        }
        Ok(())
    })?;
    layout.end(out).map_err(io_err)?;
    Ok(())
}
