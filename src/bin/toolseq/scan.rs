//! One pass over the input that builds the skeleton.
//!
//! Responses bodies, Responses items and rollout lines are read from their text without a tree
//! (`wire::read_text_body`, `wire::read_line`): only the fields pairing reads are kept. JSON
//! Lines are read in chunks, each read and parsed by one of the threads and added in order
//! (`read_lines`), so only the skeleton and a chunk per thread are in memory. Other formats, and
//! a document `fix` must rewrite, are parsed into a `serde_json::Value`.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, OnceLock};

use parking_lot::{Condvar, Mutex};

use serde_json::Value;
use toolseq::__private::skeleton::Skeleton;
use toolseq::__private::wire::{self, Detection, Format, ReadLine};
use toolseq::profile::Selection;

use crate::input::{trim, Chunk, Chunks, ReadError, Shape, Source};

/// Lines read before settling the format when no line names it.
const PEEK_LINES: usize = 10_000;

/// Bytes of JSON Lines read and parsed at a time.
const CHUNK: usize = 1 << 20;

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
    /// The last line `fix --drop-truncated-tail` left out: its number and length.
    pub dropped_tail: Option<(usize, usize)>,
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
            dropped_tail: self.dropped_tail,
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
    /// What `fix` needs to rewrite a document: a compact Responses body's text, kept here for
    /// the skeleton to borrow from and for `fix` to splice; any other document's bytes and
    /// value.
    Tree(&'t OnceCell<String>),
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

/// A chunk's lines, parsed: each with its line number and what it read as.
type ParsedLines<'c> = Vec<(usize, Result<Parsed<'c>, ReadError>)>;

/// Parses the lines of a chunk in order, up to the first that fails; also gives the number
/// after its last line when none failed.
fn parse_lines<'c>(
    src: &Source,
    format: Option<Format>,
    mut lines: Lines<'c>,
) -> (ParsedLines<'c>, usize) {
    let mut out = Vec::new();
    for (n, body, last) in lines.by_ref() {
        let parsed = parse(src, format, n, body, last);
        let failed = parsed.is_err();
        out.push((n, parsed));
        if failed {
            break;
        }
    }
    (out, lines.number)
}

/// The format a line is parsed from its text in, once the format is known; `None` when the
/// text reader does not cover it and lines are parsed as values.
fn text_format(d: &Detection) -> Option<Format> {
    Some(d.format).filter(|f| wire::read_line("", *f).is_some())
}

/// JSON Lines read so far.
struct LinesRead {
    /// `None` until a line names the format.
    detection: Option<Detection>,
    reader: Reader,
    /// The lines read as values before a line named the format.
    peeked: Vec<(usize, Value)>,
    /// The line number the next chunk starts at.
    next_line: usize,
}

impl LinesRead {
    /// Adds a chunk's lines, `parsed` when they were parsed as soon as the chunk was read (the
    /// format was known then, the chunk's place was not: they are numbered from 0 in it and
    /// placed here), else parsed here.
    fn add<'c>(
        &mut self,
        src: &Source,
        settled: &OnceLock<Option<Format>>,
        mut lines: Lines<'c>,
        parsed: Option<(ParsedLines<'c>, usize)>,
    ) -> Result<(), ReadError> {
        let first = self.next_line;
        // What the lines' numbers are counted from.
        let (parsed, offset) = match parsed {
            Some((parsed, end)) => {
                self.next_line = first + end;
                (parsed, first)
            }
            None => {
                lines.number = first;
                // Until a line names the format, lines are read one by one as values.
                while self.detection.is_none() {
                    let Some((n, body, last)) = lines.next() else {
                        self.next_line = lines.number;
                        return Ok(());
                    };
                    let v: Value = serde_json::from_slice(body)
                        .map_err(|e| src.json_error(&e, Some(n), last))?;
                    let one = Value::Array(vec![v]);
                    let found = wire::detect(&one).ok().filter(|d| !d.is_assumed());
                    if let Value::Array(mut one) = one {
                        self.peeked.extend(one.pop().map(|v| (n, v)));
                    }
                    if found.is_some() || self.peeked.len() >= PEEK_LINES {
                        self.settle(found.unwrap_or(ASSUMED));
                    }
                }
                let format = self.detection.as_ref().and_then(text_format);
                let _ = settled.set(format);
                let (parsed, end) = parse_lines(src, format, lines);
                self.next_line = end;
                // Numbered from the chunk's place already.
                (parsed, 0)
            }
        };
        let Some(d) = &self.detection else {
            return Ok(());
        };
        for (n, parsed) in parsed {
            let n = offset + n;
            match parsed.map_err(|mut e| {
                e.line = e.line.map(|l| offset + l);
                e
            })? {
                Parsed::Text(line) => {
                    self.reader.lines.push(n);
                    wire::push_line(&mut self.reader.skel, line);
                }
                Parsed::Value(v) => self.reader.push(d, n, v),
            }
        }
        Ok(())
    }

    /// Takes `d` as the format and reads the lines held until now in it.
    fn settle(&mut self, d: Detection) {
        self.reader = Reader::new(d.format);
        for (n, v) in self.peeked.drain(..) {
            self.reader.push(&d, n, v);
        }
        self.detection = Some(d);
    }
}

/// Whose turn it is to add a chunk to the lines read, and whether reading stopped.
struct Turn {
    /// The number of the next chunk to add.
    next: usize,
    stop: bool,
    result: Result<(), ReadError>,
    read: LinesRead,
}

/// Reads JSON Lines on every core: a thread reads a chunk, parses its lines, and waits for
/// the chunk's turn to add them, so lines are added in input order while the other threads
/// read and parse the chunks after it. Each thread holds one chunk: memory is a chunk per
/// thread whatever the input's size.
fn read_lines(
    src: &Source,
    read: LinesRead,
    progress: &mut dyn FnMut(u64),
) -> Result<LinesRead, ReadError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The chunks, and the number of the next one read.
    let input = Mutex::new((Chunks::new(src, CHUNK)?, 0usize));
    let settled = OnceLock::new();
    if let Some(d) = &read.detection {
        let _ = settled.set(text_format(d));
    }
    let turn = Mutex::new(Turn {
        next: 0,
        stop: false,
        result: Ok(()),
        read,
    });
    let turned = Condvar::new();
    let stop = AtomicBool::new(false);
    let (bytes_read, reads) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let bytes_read = bytes_read.clone();
            let (input, settled, turn, turned, stop) = (&input, &settled, &turn, &turned, &stop);
            s.spawn(move || {
                let _wake = WakeOnPanic(turn, turned);
                let mut buf = Vec::new();
                loop {
                    let (number, chunk) = {
                        let mut input = input.lock();
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        input.1 += 1;
                        (input.1 - 1, input.0.next_into(&mut buf))
                    };
                    let chunk = match chunk {
                        Ok(Some(c)) => Ok(c),
                        Ok(None) => return,
                        Err(e) => Err(e),
                    };
                    let lines = |c: &Chunk| Lines {
                        rest: &buf[..c.len],
                        number: 0,
                        eof: c.eof,
                    };
                    let parsed = match (&chunk, settled.get()) {
                        (Ok(c), Some(&format)) => Some(parse_lines(src, format, lines(c))),
                        _ => None,
                    };
                    let mut t = turn.lock();
                    while t.next != number && !t.stop {
                        turned.wait(&mut t);
                    }
                    if t.stop {
                        return;
                    }
                    let next_line = t.read.next_line;
                    let added = chunk
                        .map_err(|mut e| {
                            e.line = Some(next_line);
                            e
                        })
                        .and_then(|c| {
                            let _ = bytes_read.send(c.read);
                            t.read.add(src, settled, lines(&c), parsed)
                        });
                    if let Err(e) = added {
                        t.result = Err(e);
                        t.stop = true;
                        stop.store(true, Ordering::Relaxed);
                    }
                    t.next += 1;
                    drop(t);
                    turned.notify_all();
                }
            });
        }
        drop(bytes_read);
        for n in reads {
            progress(n);
        }
    });
    let turn = turn.into_inner();
    turn.result.map(|()| turn.read)
}

/// Stops the other threads of [`read_lines`] when one panics, rather than leave them waiting
/// for a turn that never comes.
struct WakeOnPanic<'a>(&'a Mutex<Turn>, &'a Condvar);

impl Drop for WakeOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().stop = true;
            self.1.notify_all();
        }
    }
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
        let (cell, keep_bytes) = match keep {
            Keep::Skeleton(cell) => (cell, false),
            Keep::Tree(cell) => (cell, true),
        };
        let bytes = match cell {
            cell if format.is_none_or(|f| f == Format::Responses) => {
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
                                dropped_tail: None,
                            });
                        }
                        // Not a Responses body, or not JSON: read as a value, which says why.
                        // `fix` finds its text in `cell`.
                        return read_tree(src, shape, format, text.as_bytes());
                    }
                    Err(e) => e.into_bytes(),
                }
            }
            _ => bytes,
        };
        return read_tree(src, shape, format, &bytes).map(|mut s| {
            if keep_bytes {
                s.bytes = bytes;
            }
            s
        });
    }

    let detection = format.map(given);
    let read = LinesRead {
        reader: Reader::new(format.unwrap_or(Format::Responses)),
        detection,
        peeked: Vec::new(),
        next_line: 1,
    };
    let mut read = read_lines(src, read, progress)?;
    if read.detection.is_none() {
        if read.peeked.is_empty() {
            return Err(src.error(None, None, "the input holds no JSON".into()));
        }
        read.settle(ASSUMED);
    }
    let detection = read.detection.unwrap_or(ASSUMED);
    let (skel, lines) = read.reader.finish(&detection);
    Ok(Scanned {
        detection,
        shape,
        skel,
        lines,
        doc: None,
        bytes: Vec::new(),
        head: None,
        profile: None,
        dropped_tail: None,
    })
}

/// Whether a document was pretty-printed (serde_json's indent): a raw line break cannot lie
/// inside a JSON string.
pub fn pretty(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w == b"\n  ")
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
        dropped_tail: None,
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
