//! One pass over the input that builds the skeleton: a document is parsed whole; JSON Lines are
//! streamed, so that only the skeleton and one line at a time are in memory.

use serde_json::Value;
use toolseq::profile::Selection;
use toolseq::skeleton::Skeleton;
use toolseq::wire::{self, Detection, Format};

use crate::input::{each_line, ReadError, Shape, Source};

/// Lines read before settling the format when no line names it.
const PEEK_LINES: usize = 10_000;

pub struct Scanned {
    pub detection: Detection,
    pub shape: Shape,
    pub skel: Skeleton<'static>,
    /// For JSON Lines: the line number of each item.
    pub lines: Vec<usize>,
    /// For a document: its bytes and value.
    pub doc: Option<(Vec<u8>, Value)>,
    /// The model profile applied, and why.
    pub profile: Option<Selection>,
}

impl Scanned {
    pub fn line_of(&self, index: usize) -> Option<usize> {
        self.lines.get(index).copied()
    }
}

/// The skeleton of JSON Lines, built line by line; a format whose items cannot be read one at
/// a time (Gemini) holds its items and reads them whole at the end.
struct Reader {
    skel: Skeleton<'static>,
    lines: Vec<usize>,
    held: Vec<Value>,
}

impl Reader {
    fn new(format: Format) -> Self {
        Reader {
            skel: wire::empty_skeleton(format),
            lines: Vec::new(),
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

    fn finish(self, d: &Detection) -> (Skeleton<'static>, Vec<usize>) {
        if d.format.incremental() {
            (self.skel, self.lines)
        } else {
            (
                wire::read_items(&self.held, d.format).into_owned(),
                self.lines,
            )
        }
    }
}

pub fn scan(
    src: &Source,
    shape: Shape,
    format: Option<Format>,
    progress: &mut dyn FnMut(u64),
) -> Result<Scanned, ReadError> {
    let given = |format| Detection {
        format,
        evidence: "given",
    };
    if shape == Shape::Document {
        let bytes = src.read_all()?;
        progress(bytes.len() as u64);
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| src.json_error(&e, None, false))?;
        let detection = match format {
            Some(f) => given(f),
            None => wire::detect(&value).map_err(|e| src.error(None, None, e.to_string()))?,
        };
        // Owned: the value moves into the result beside it.
        let skel = wire::read(&value, detection.format)
            .map_err(|e| src.error(None, None, e.to_string()))?
            .into_owned();
        return Ok(Scanned {
            detection,
            shape,
            skel,
            lines: Vec::new(),
            doc: Some((bytes, value)),
            profile: None,
        });
    }

    let mut detection = format.map(given);
    let mut reader = Reader::new(format.unwrap_or(Format::Responses));
    let mut peeked: Vec<(usize, Value)> = Vec::new();
    each_line(src, true, &mut *progress, |line| {
        let Some(v) = line.value else { return Ok(()) };
        if let Some(d) = &detection {
            reader.push(d, line.number, v);
            return Ok(());
        }
        let one = Value::Array(vec![v]);
        let found = wire::detect(&one).ok().filter(|d| !d.is_assumed());
        if let Value::Array(mut one) = one {
            peeked.extend(one.pop().map(|v| (line.number, v)));
        }
        if found.is_some() || peeked.len() >= PEEK_LINES {
            let d = found.unwrap_or(Detection {
                format: Format::Responses,
                evidence: "JSON Lines with no tool items; assumed",
            });
            reader = Reader::new(d.format);
            for (n, v) in peeked.drain(..) {
                reader.push(&d, n, v);
            }
            detection = Some(d);
        }
        Ok(())
    })?;
    let detection = match detection {
        Some(d) => d,
        None => {
            if peeked.is_empty() {
                return Err(src.error(None, None, "the input holds no JSON".into()));
            }
            let d = Detection {
                format: Format::Responses,
                evidence: "JSON Lines with no tool items; assumed",
            };
            reader = Reader::new(d.format);
            for (n, v) in peeked.drain(..) {
                reader.push(&d, n, v);
            }
            d
        }
    };
    let (skel, lines) = reader.finish(&detection);
    Ok(Scanned {
        detection,
        shape,
        skel,
        lines,
        doc: None,
        profile: None,
    })
}
