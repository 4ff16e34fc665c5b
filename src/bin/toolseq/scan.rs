//! One pass over the input that builds the skeleton.
//!
//! Responses bodies, Responses items and rollout lines are read from their text without a tree
//! (`wire::read_text_body`, `wire::read_line`): only the fields pairing reads are kept. JSON
//! Lines are read in chunks whose lines are parsed on both cores and added in order, so only the
//! skeleton and one chunk are in memory. Other formats, and a document `fix` must rewrite, are
//! parsed into a `serde_json::Value`.

use std::cell::OnceCell;

use serde_json::Value;
use toolseq::profile::Selection;
use toolseq::skeleton::Skeleton;
use toolseq::wire::{self, Detection, Format, ReadLine};

use crate::input::{each_chunk, trim, ReadError, Shape, Source};

/// Lines read before settling the format when no line names it.
const PEEK_LINES: usize = 10_000;

/// Bytes of JSON Lines read and parsed at a time.
const CHUNK: usize = 1 << 20;

/// Below this many bytes a chunk is parsed on one thread: a thread costs more than it saves.
const PARALLEL_BYTES: usize = 256 << 10;

pub struct Scanned<'t> {
    pub detection: Detection,
    pub shape: Shape,
    pub skel: Skeleton<'t>,
    /// For JSON Lines: the line number of each item.
    pub lines: LineNumbers,
    /// For a document read as a tree: its value.
    pub doc: Option<Value>,
    /// For a document read as a tree for `fix`: its bytes.
    pub bytes: Vec<u8>,
    /// The document's top-level fields a model profile reads, when it was read without a tree.
    pub head: Option<Value>,
    /// The model profile applied, and why.
    pub profile: Option<Selection>,
}

/// The line number of each item of JSON Lines, kept as the runs where it is the item's index
/// plus the same number: blank lines are rare, so a history of any length is a run or two,
/// where a number per item was a sixteenth of the peak memory of checking a rollout.
#[derive(Default)]
pub struct LineNumbers {
    items: usize,
    /// `(first item, line minus item)` of each run.
    runs: Vec<(usize, usize)>,
}

impl LineNumbers {
    /// Records the line of the next item; lines come in increasing order.
    fn push(&mut self, line: usize) {
        let gap = line.saturating_sub(self.items);
        if self.runs.last().is_none_or(|&(_, g)| g != gap) {
            self.runs.push((self.items, gap));
        }
        self.items += 1;
    }

    /// The line of item `item`.
    pub fn get(&self, item: usize) -> Option<usize> {
        if item >= self.items {
            return None;
        }
        let run = self.runs.partition_point(|&(first, _)| first <= item);
        self.runs
            .get(run.checked_sub(1)?)
            .map(|&(_, gap)| item + gap)
    }

    /// Whether there are none (the input is a document).
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }
}

impl<'t> Scanned<'t> {
    /// The same, its skeleton owning its ids: the text it was read from can go before the
    /// analysis, which on a body of calls alone needs as much memory again as the text.
    pub fn into_owned(self) -> Scanned<'static> {
        Scanned {
            skel: self.skel.into_owned(),
            detection: self.detection,
            shape: self.shape,
            lines: self.lines,
            doc: self.doc,
            bytes: self.bytes,
            head: self.head,
            profile: self.profile,
        }
    }

    pub fn line_of(&self, index: usize) -> Option<usize> {
        self.lines.get(index)
    }

    /// The body a model profile is selected from, beside the skeleton it applies to.
    pub fn profile_body_and_skeleton(&mut self) -> (&Value, &mut Skeleton<'t>) {
        let body = self.doc.as_ref().or(self.head.as_ref());
        (body.unwrap_or(&Value::Null), &mut self.skel)
    }
}

/// How much of the input the caller needs beyond its skeleton.
pub enum Keep<'t> {
    /// The document's bytes and value, to rewrite it (`fix`).
    Tree,
    /// Only the skeleton; a document's text is kept here for the skeleton to borrow from.
    Skeleton(&'t OnceCell<String>),
}

/// The skeleton of JSON Lines, built line by line; a format whose items cannot be read one at
/// a time (Gemini) holds its items and reads them whole at the end.
struct Reader {
    skel: Skeleton<'static>,
    lines: LineNumbers,
    held: Vec<Value>,
}

impl Reader {
    fn new(format: Format) -> Self {
        Reader {
            skel: wire::empty_skeleton(format),
            lines: LineNumbers::default(),
            held: Vec::new(),
        }
    }

    fn push(&mut self, d: &Detection, n: usize, v: Value) {
        self.lines.push(n);
        if d.format.incremental() {
            // Cannot fail for an incremental format.
            let _ = wire::push_item(&mut self.skel, &v, d.format);
        } else {
            self.held.push(v);
        }
    }

    fn finish(mut self, d: &Detection) -> (Skeleton<'static>, LineNumbers) {
        if d.format.incremental() {
            // Grown by doubling: up to half is spare, which the analysis would sit on.
            self.skel.entries.shrink_to_fit();
            (self.skel, self.lines)
        } else {
            (
                wire::read_items(&self.held, d.format).into_owned(),
                self.lines,
            )
        }
    }
}

/// One non-blank line, parsed.
enum Parsed<'c> {
    /// Read from its text.
    Text(ReadLine<'c>),
    /// Read as a value: the text reader does not cover the format, or declined the line.
    Value(Value),
}

/// Parses one line: from its text when the format allows, else (or when that fails, so that
/// the error is the one a value parse gives) as a value.
fn parse<'c>(
    src: &Source,
    format: Option<Format>,
    number: usize,
    body: &'c [u8],
    last: bool,
) -> Result<Parsed<'c>, ReadError> {
    let text = format
        .zip(std::str::from_utf8(body).ok())
        .and_then(|(f, text)| wire::read_line(text, f)?.ok());
    if let Some(read) = text {
        return Ok(Parsed::Text(read));
    }
    serde_json::from_slice(body)
        .map(Parsed::Value)
        .map_err(|e| src.json_error(&e, Some(number), last))
}

/// The non-blank lines of a chunk of whole lines: `(line number, text, whether it is the
/// input's last line and has no line ending)`.
struct Lines<'c> {
    rest: &'c [u8],
    number: usize,
    eof: bool,
}

impl<'c> Iterator for Lines<'c> {
    type Item = (usize, &'c [u8], bool);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let end = memchr::memchr(b'\n', self.rest);
            let (line, next) = match end {
                Some(e) => (&self.rest[..e], &self.rest[e + 1..]),
                None => (self.rest, &self.rest[self.rest.len()..]),
            };
            let number = self.number;
            self.number += 1;
            self.rest = next;
            let body = trim(line);
            if !body.is_empty() {
                return Some((number, body, self.eof && end.is_none()));
            }
        }
        None
    }
}

/// Parses the lines of a chunk, on both cores when it is large, and calls `f` with each result
/// in line order.
fn parse_all<'c>(
    src: &Source,
    format: Option<Format>,
    lines: Lines<'c>,
    f: &mut dyn FnMut(usize, Result<Parsed<'c>, ReadError>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let one = |lines: Lines<'c>| -> Vec<_> {
        lines
            .map(|(n, body, last)| (n, parse(src, format, n, body, last)))
            .collect()
    };
    let chunk = lines.rest;
    let cut = memchr::memchr(b'\n', &chunk[chunk.len() / 2..]).map(|i| chunk.len() / 2 + i + 1);
    let parsed = match cut {
        Some(cut) if chunk.len() >= PARALLEL_BYTES => {
            let (a, b) = chunk.split_at(cut);
            let second = Lines {
                rest: b,
                number: lines.number + memchr::memchr_iter(b'\n', a).count(),
                eof: lines.eof,
            };
            let first = Lines { rest: a, ..lines };
            std::thread::scope(|s| {
                let second = s.spawn(|| one(second));
                let mut out = one(first);
                match second.join() {
                    Ok(rest) => out.extend(rest),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
                out
            })
        }
        _ => one(lines),
    };
    for (n, p) in parsed {
        f(n, p)?;
    }
    Ok(())
}

/// Reads the input of the given shape; `read` is its text when sniffing read all of it.
pub fn scan<'t>(
    src: &Source,
    (shape, read): (Shape, Option<Vec<u8>>),
    format: Option<Format>,
    keep: Keep<'t>,
    progress: &mut dyn FnMut(u64),
) -> Result<Scanned<'t>, ReadError> {
    let given = |format| Detection {
        format,
        evidence: "given",
    };
    if shape == Shape::Document {
        let bytes = match read {
            Some(bytes) => bytes,
            None => src.read_all()?,
        };
        progress(bytes.len() as u64);
        let bytes = match keep {
            Keep::Skeleton(cell) if format.is_none_or(|f| f == Format::Responses) => {
                match String::from_utf8(bytes) {
                    Ok(text) => {
                        let text = cell.get_or_init(|| text).as_str();
                        if let Ok(Some(body)) = wire::read_text_body(text) {
                            let detection = match format {
                                Some(f) => given(f),
                                // What detection says of any object with `input`.
                                None => wire::detect(&serde_json::json!({"input": []}))
                                    .map_err(|e| src.error(None, None, e.to_string()))?,
                            };
                            return Ok(Scanned {
                                detection,
                                shape,
                                skel: body.skel,
                                lines: LineNumbers::default(),
                                doc: None,
                                bytes: Vec::new(),
                                head: Some(body.head),
                                profile: None,
                            });
                        }
                        // Not a Responses body, or not JSON: read as a value, which says why.
                        return read_tree(src, shape, format, text.as_bytes());
                    }
                    Err(e) => e.into_bytes(),
                }
            }
            _ => bytes,
        };
        let keep_bytes = matches!(keep, Keep::Tree);
        return read_tree(src, shape, format, &bytes).map(|mut s| {
            if keep_bytes {
                s.bytes = bytes;
            }
            s
        });
    }

    let mut detection = format.map(given);
    let mut reader = Reader::new(format.unwrap_or(Format::Responses));
    let mut peeked: Vec<(usize, Value)> = Vec::new();
    each_chunk(src, CHUNK, &mut *progress, |first, chunk, eof| {
        let mut lines = Lines {
            rest: chunk,
            number: first,
            eof,
        };
        // Until a line names the format, lines are read one by one as values.
        while detection.is_none() {
            let Some((n, body, last)) = lines.next() else {
                return Ok(());
            };
            let v: Value =
                serde_json::from_slice(body).map_err(|e| src.json_error(&e, Some(n), last))?;
            let one = Value::Array(vec![v]);
            let found = wire::detect(&one).ok().filter(|d| !d.is_assumed());
            if let Value::Array(mut one) = one {
                peeked.extend(one.pop().map(|v| (n, v)));
            }
            if found.is_some() || peeked.len() >= PEEK_LINES {
                let d = found.unwrap_or(ASSUMED);
                reader = Reader::new(d.format);
                for (n, v) in peeked.drain(..) {
                    reader.push(&d, n, v);
                }
                detection = Some(d);
            }
        }
        let Some(d) = &detection else { return Ok(()) };
        // Lines of a format the text reader does not cover go straight to a value parse.
        let text_format = Some(d.format).filter(|f| wire::read_line("", *f).is_some());
        parse_all(src, text_format, lines, &mut |n, parsed| {
            match parsed? {
                Parsed::Text(line) => {
                    reader.lines.push(n);
                    wire::push_line(&mut reader.skel, line);
                }
                Parsed::Value(v) => reader.push(d, n, v),
            }
            Ok(())
        })
    })?;
    let detection = match detection {
        Some(d) => d,
        None => {
            if peeked.is_empty() {
                return Err(src.error(None, None, "the input holds no JSON".into()));
            }
            reader = Reader::new(ASSUMED.format);
            for (n, v) in peeked.drain(..) {
                reader.push(&ASSUMED, n, v);
            }
            ASSUMED
        }
    };
    let (skel, lines) = reader.finish(&detection);
    Ok(Scanned {
        detection,
        shape,
        skel,
        lines,
        doc: None,
        bytes: Vec::new(),
        head: None,
        profile: None,
    })
}

/// What JSON Lines none of which names a format are read as.
const ASSUMED: Detection = Detection {
    format: Format::Responses,
    evidence: "JSON Lines with no tool items; assumed",
};

/// Reads a document as a value.
fn read_tree<'t>(
    src: &Source,
    shape: Shape,
    format: Option<Format>,
    bytes: &[u8],
) -> Result<Scanned<'t>, ReadError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| src.json_error(&e, None, false))?;
    let detection = match format {
        Some(f) => Detection {
            format: f,
            evidence: "given",
        },
        None => wire::detect(&value).map_err(|e| src.error(None, None, e.to_string()))?,
    };
    // Owned: the value moves into the result beside it.
    let skel = wire::read(&value, detection.format)
        .map_err(|e| src.error(None, None, e.to_string()))?
        .into_owned();
    Ok(Scanned {
        detection,
        shape,
        skel,
        lines: LineNumbers::default(),
        doc: Some(value),
        bytes: Vec::new(),
        head: None,
        profile: None,
    })
}

#[cfg(test)]
mod tests {
    use super::LineNumbers;

    #[test]
    fn line_numbers_follow_blank_lines() {
        let mut lines = LineNumbers::default();
        assert!(lines.is_empty());
        let given = [1, 2, 3, 5, 6, 9, 10, 11];
        given.iter().for_each(|&n| lines.push(n));
        assert_eq!(
            lines.runs.len(),
            3,
            "one run per stretch without blank lines"
        );
        let got: Vec<_> = (0..given.len()).map(|i| lines.get(i)).collect();
        assert_eq!(got, given.map(Some));
        assert_eq!(lines.get(given.len()), None);
    }
}
