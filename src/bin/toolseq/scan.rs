//! One pass over the input that builds the skeleton: a document is parsed whole; JSON Lines are
//! streamed, so that only the skeleton and one line at a time are in memory.

use serde_json::Value;
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
}

impl Scanned {
    pub fn line_of(&self, index: usize) -> Option<usize> {
        self.lines.get(index).copied()
    }
}

fn push(skel: &mut Skeleton<'static>, lines: &mut Vec<usize>, d: &Detection, n: usize, v: &Value) {
    wire::push_item(skel, v, d.format);
    lines.push(n);
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
        });
    }

    let mut detection = format.map(given);
    let mut skel = wire::empty_skeleton(format.unwrap_or(Format::Responses));
    let mut lines = Vec::new();
    let mut peeked: Vec<(usize, Value)> = Vec::new();
    each_line(src, true, &mut *progress, |line| {
        let Some(v) = line.value else { return Ok(()) };
        if let Some(d) = &detection {
            push(&mut skel, &mut lines, d, line.number, &v);
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
            skel = wire::empty_skeleton(d.format);
            for (n, v) in peeked.drain(..) {
                push(&mut skel, &mut lines, &d, n, &v);
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
            skel = wire::empty_skeleton(d.format);
            for (n, v) in peeked.drain(..) {
                push(&mut skel, &mut lines, &d, n, &v);
            }
            d
        }
    };
    Ok(Scanned {
        detection,
        shape,
        skel,
        lines,
        doc: None,
    })
}
