//! Reading the input: a JSON document (request body or array) or JSON Lines (items, messages or
//! rollout lines), from a file or stdin, with errors that name file, line and column.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::PathBuf;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// How far the input may grow as it is read: a small hostile file must not take the machine's
/// memory. Both limits are options of every command.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Limits {
    /// How many times its own size a gzip-compressed input may expand to (at least 64 MiB):
    /// JSON compresses about 10 times, a decompression bomb 1000.
    #[arg(long, global = true, value_name = "RATIO", default_value_t = 100)]
    pub max_inflate: u64,
    /// The longest line the input may hold, in bytes (`K`, `M`, `G` suffixes); a one-line
    /// request body is one line.
    #[arg(long, global = true, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub max_line: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_inflate: 100,
            max_line: 1 << 30,
        }
    }
}

/// A size in bytes: digits, then an optional `K`, `M` or `G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{s}` is not a size: give bytes, or a number with K, M or G"))
}

static LIMITS: std::sync::OnceLock<Limits> = std::sync::OnceLock::new();

/// Sets the limits every input is read under, once, from the command line.
pub fn set_limits(limits: Limits) {
    let _ = LIMITS.set(limits);
}

fn limits() -> Limits {
    LIMITS.get().copied().unwrap_or_default()
}

/// The least a gzip input may expand to, whatever its ratio: a small session log may well
/// compress a hundredfold.
const MIN_INFLATE: u64 = 64 << 20;

/// A reader that refuses to give more than `max_total` bytes (a gzip input past its ratio) or
/// a line longer than `max_line`, with an error that names the option raising the limit.
struct Capped<R> {
    inner: R,
    max_total: Option<u64>,
    max_line: u64,
    total: u64,
    /// Bytes since the last line ending.
    line: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        self.total += n as u64;
        if let Some(max) = self.max_total.filter(|&max| self.total > max) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the gzip input expands past {}, {} times its size or 64 MiB; if it is genuine, raise the limit with --max-inflate RATIO",
                    human(max),
                    limits().max_inflate
                ),
            ));
        }
        self.line = match memchr::memrchr(b'\n', got) {
            Some(i) => (n - i - 1) as u64,
            None => self.line + n as u64,
        };
        if self.line > self.max_line {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a line is longer than {}; if it is genuine, raise the limit with --max-line SIZE",
                    human(self.max_line)
                ),
            ));
        }
        Ok(n)
    }
}

/// A size for a message: `64 MiB`.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Input that cannot be read: exit code 2.
#[derive(Debug)]
pub struct ReadError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ReadError {
    /// The error without its file name: `3:14: expected value`.
    pub fn message_at(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{l}:{c}: {}", self.message),
            (Some(l), None) => format!("{l}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Where the bytes come from. Stdin, a FIFO, a pipe or a process substitution (`<(cmd)`) can be
/// read only once, and detection reads the input before parsing does: such an input is read
/// once into memory, and both read that copy. A regular file is opened again for each pass.
pub struct Source {
    path: Option<PathBuf>,
    buffered: Option<Vec<u8>>,
    /// Where the text ends for every reader: before a last line cut off mid-record, once
    /// [`drop_truncated_tail`](Source::drop_truncated_tail) found one.
    cut: Option<u64>,
    pub name: String,
    pub len: u64,
}

impl Source {
    pub fn open(arg: &str) -> Result<Source, ReadError> {
        let failed = |message: String| ReadError {
            file: if arg == "-" { "<stdin>" } else { arg }.into(),
            line: None,
            column: None,
            message,
        };
        if arg == "-" {
            return Source::read_once("<stdin>", io::stdin()).map_err(|e| failed(e.to_string()));
        }
        let path = PathBuf::from(arg);
        let meta = std::fs::metadata(&path).map_err(|e| failed(e.to_string()))?;
        if meta.is_dir() {
            return Err(failed("is a directory".into()));
        }
        if !meta.is_file() {
            return File::open(&path)
                .and_then(|f| Source::read_once(arg, f))
                .map_err(|e| failed(e.to_string()));
        }
        Ok(Source {
            path: Some(path),
            buffered: None,
            cut: None,
            name: arg.into(),
            len: meta.len(),
        })
    }

    /// An input that can be read only once (stdin, a FIFO, a pipe), read into memory.
    fn read_once(name: &str, mut from: impl Read) -> io::Result<Source> {
        let mut buf = Vec::new();
        from.read_to_end(&mut buf)?;
        Ok(Source {
            path: None,
            len: buf.len() as u64,
            buffered: Some(buf),
            cut: None,
            name: name.into(),
        })
    }

    /// The input's text: gunzipped when it is gzip-compressed, without a UTF-8 byte-order mark.
    pub fn reader(&self) -> Result<Box<dyn BufRead + Send + '_>, ReadError> {
        let io_err = |e: io::Error| self.error(None, None, e.to_string());
        let mut raw: Box<dyn BufRead + Send + '_> = match (&self.buffered, &self.path) {
            (Some(buf), _) => Box::new(Cursor::new(buf.as_slice())),
            (None, Some(p)) => Box::new(BufReader::with_capacity(
                1 << 16,
                File::open(p).map_err(io_err)?,
            )),
            (None, None) => return Err(self.error(None, None, "no input".into())),
        };
        let limits = limits();
        let max_total = raw
            .fill_buf()
            .map_err(io_err)?
            .starts_with(&GZIP_MAGIC)
            .then(|| self.len.saturating_mul(limits.max_inflate).max(MIN_INFLATE));
        let text: Box<dyn Read + Send + '_> = match max_total {
            Some(_) => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
            None => Box::new(raw),
        };
        raw = Box::new(BufReader::with_capacity(
            1 << 16,
            Capped {
                inner: text,
                max_total,
                max_line: limits.max_line,
                total: 0,
                line: 0,
            },
        ));
        skip_bom(&mut raw).map_err(io_err)?;
        if let Some(cut) = self.cut {
            raw = Box::new(raw.take(cut));
        }
        Ok(raw)
    }

    /// For JSON Lines whose last line was cut off mid-record (a crash while it was written: no
    /// line ending, and not JSON): makes every later reader stop before that line, and returns
    /// its number and length. `None`, and nothing changed, when the last line is whole, when
    /// the input is a single line (a document is not cut off, it is broken), or when no line
    /// ending precedes it.
    pub fn drop_truncated_tail(&mut self) -> Result<Option<(usize, usize)>, ReadError> {
        let mut r = self.reader()?;
        let (mut offset, mut line_start, mut lines) = (0u64, None, 0usize);
        let mut tail = Vec::new();
        loop {
            tail.clear();
            let n = r
                .read_until(b'\n', &mut tail)
                .map_err(|e| self.error(None, None, e.to_string()))?;
            if n == 0 {
                break;
            }
            lines += 1;
            if tail.ends_with(b"\n") {
                offset += n as u64;
                continue;
            }
            line_start = Some(offset);
            break;
        }
        drop(r);
        let Some(start) = line_start.filter(|&s| s > 0) else {
            return Ok(None);
        };
        let body = trim(&tail);
        if body.is_empty() || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
            return Ok(None);
        }
        self.cut = Some(start);
        Ok(Some((lines, tail.len())))
    }

    pub fn read_all(&self) -> Result<Vec<u8>, ReadError> {
        let mut buf = Vec::with_capacity(self.len as usize);
        self.reader()?
            .read_to_end(&mut buf)
            .map_err(|e| self.error(None, None, e.to_string()))?;
        Ok(buf)
    }

    pub fn error(&self, line: Option<usize>, column: Option<usize>, message: String) -> ReadError {
        ReadError {
            file: self.name.clone(),
            line,
            column,
            message,
        }
    }

    /// A JSON parse error, placed at `line` (for JSON Lines) or where serde_json says.
    pub fn json_error(&self, e: &serde_json::Error, line: Option<usize>, last: bool) -> ReadError {
        let mut message = e.to_string();
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        if e.is_eof() && last && line.is_some() {
            message.push_str(" (the last line is truncated)");
        }
        match line {
            Some(l) => self.error(Some(l), Some(e.column()), message),
            None => self.error(Some(e.line()), Some(e.column()), message),
        }
    }
}

/// The first bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Drops a UTF-8 byte-order mark (editors on Windows write one) so that it is not read as JSON.
fn skip_bom(r: &mut dyn BufRead) -> io::Result<()> {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    // The mark may straddle two reads of a decompressor.
    let mut seen = 0;
    while seen < BOM.len() {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        let n = buf.len().min(BOM.len() - seen);
        if buf[..n] != BOM[seen..seen + n] {
            if seen > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the input starts with a broken byte-order mark",
                ));
            }
            return Ok(());
        }
        r.consume(n);
        seen += n;
    }
    Ok(())
}

/// How the file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON value (a request body or an array), possibly across many lines.
    Document,
    /// One JSON value per line.
    Lines,
}

/// Decides the shape from the first bytes: `[` is a document; `{` is JSON Lines when the first
/// line is a whole value followed by more, or a single line that is not a request body.
///
/// Also returns the input's text when the first line was all of it (a one-line body), so that
/// it is not read twice.
pub fn sniff(src: &Source) -> Result<(Shape, Option<Vec<u8>>), ReadError> {
    let mut r = src.reader()?;
    // Sized for a one-line body, so that reading a 170 MB one does not leave it in a
    // 256 MiB buffer, doubled as it grew (pages past the end are never touched).
    let mut first = Vec::with_capacity(src.len as usize);
    let mut line_no = 0;
    loop {
        first.clear();
        let n = r
            .read_until(b'\n', &mut first)
            .map_err(|e| src.error(None, None, e.to_string()))?;
        line_no += 1;
        if n == 0 {
            return Err(src.error(None, None, "the input is empty".into()));
        }
        if !trim(&first).is_empty() {
            break;
        }
    }
    let line = std::mem::take(&mut first);
    let body = trim(&line);
    match body.first() {
        Some(b'[') => Ok((Shape::Document, None)),
        Some(b'{') => {
            let mut rest = 0;
            let more = loop {
                first.clear();
                let n = r
                    .read_until(b'\n', &mut first)
                    .map_err(|e| src.error(None, None, e.to_string()))?;
                rest += n;
                if n == 0 || !trim(&first).is_empty() {
                    break n > 0;
                }
            };
            let shape = if more {
                // JSON Lines when the first line is a whole value.
                match serde_json::from_slice::<IgnoredAny>(body) {
                    Ok(_) => Shape::Lines,
                    Err(_) => Shape::Document,
                }
            } else if lone_item(body) {
                Shape::Lines
            } else {
                Shape::Document
            };
            let whole = line_no == 1 && rest == 0;
            Ok((shape, whole.then_some(line)))
        }
        _ => Err(src.error(
            Some(line_no),
            Some(1),
            "expected a JSON object or array (a request body, an array of items, or JSON Lines)"
                .into(),
        )),
    }
}

/// Whether the only value of the input is one item (or line) rather than a body: it has a
/// `type` or `role` and no `input` or `messages`. The object may be a whole 100 MB body on one
/// line: reading stops at the first `input` or `messages` key, and skips every value.
fn lone_item(object: &[u8]) -> bool {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut item = false;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                match key.as_ref() {
                    "input" | "messages" => return Err(de::Error::custom("a body")),
                    "type" | "role" => item = true,
                    _ => {}
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(item)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(object);
    de.deserialize_map(Keys)
        .is_ok_and(|item| item && de.end().is_ok())
}

pub fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// One line of a JSON Lines input.
pub struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    /// The raw bytes, with their line ending.
    pub raw: &'a [u8],
    /// The parsed value; `None` for a blank line.
    pub value: Option<Value>,
}

/// Calls `f` for every line, parsing the non-blank ones; stops at the first unreadable line.
/// `progress` is told how many bytes have been read.
pub fn each_line(
    src: &Source,
    parse: bool,
    mut progress: impl FnMut(u64),
    mut f: impl FnMut(Line<'_>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut r = src.reader()?;
    let mut buf = Vec::new();
    let mut number = 0;
    let mut read = 0u64;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| src.error(Some(number + 1), None, e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        read += n as u64;
        progress(read);
        let body = trim(&buf);
        let value = if body.is_empty() || !parse {
            None
        } else {
            let last = !buf.ends_with(b"\n");
            Some(serde_json::from_slice(body).map_err(|e| src.json_error(&e, Some(number), last))?)
        };
        f(Line {
            number,
            raw: &buf,
            value,
        })?;
    }
}

/// An input read as chunks of about `size` bytes of whole lines: a chunk ends with a line
/// ending unless it holds the input's end; a line longer than `size` makes its chunk longer.
/// Several threads take turns reading from one (behind a lock), each into its own buffer.
pub struct Chunks<'s> {
    src: &'s Source,
    /// `None` once the input ended or failed.
    reader: Option<Box<dyn BufRead + Send + 's>>,
    size: usize,
    /// The start of a line the last chunk cut off.
    carry: Vec<u8>,
    /// Bytes read so far.
    read: u64,
}

/// Where a chunk read by [`Chunks::next_into`] lies in the input. Its lines are not counted
/// here, under the lock the threads read behind, but by the thread that parses them.
pub struct Chunk {
    /// Its length in bytes.
    pub len: usize,
    /// Whether it holds the input's end.
    pub eof: bool,
    /// Bytes read so far, this chunk's included.
    pub read: u64,
}

impl<'s> Chunks<'s> {
    pub fn new(src: &'s Source, size: usize) -> Result<Self, ReadError> {
        Ok(Chunks {
            src,
            reader: Some(src.reader()?),
            size,
            carry: Vec::new(),
            read: 0,
        })
    }

    /// Reads the next chunk into the start of `buf` (its first [`Chunk::len`] bytes), replacing
    /// what it held; `Ok(None)` after the last chunk or an error. A read error has no line: the
    /// caller, which counts lines, places it.
    ///
    /// `buf` only grows, and what it held is overwritten in place: a buffer made ready anew for
    /// each chunk is a megabyte of zeroes written, and reading into one that is not ready costs
    /// a dozen smaller reads, some through the reader's own buffer.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<Chunk>, ReadError> {
        let Some(r) = &mut self.reader else {
            return Ok(None);
        };
        let mut filled = self.carry.len();
        let mut want = self.size.max(filled + 1);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        buf[..filled].copy_from_slice(&self.carry);
        let mut eof = false;
        let cut = loop {
            if buf.len() < want {
                buf.resize(want, 0);
            }
            while filled < want {
                // A read this large bypasses the reader's buffer.
                match r.read(&mut buf[filled..want]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        filled += n;
                        self.read += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.reader = None;
                        return Err(self.src.error(None, None, e.to_string()));
                    }
                }
            }
            match memchr::memrchr(b'\n', &buf[..filled]) {
                _ if eof => break filled,
                Some(i) => break i + 1,
                None => want += self.size,
            }
        };
        self.carry.clear();
        self.carry.extend_from_slice(&buf[cut..filled]);
        if eof {
            self.reader = None;
        }
        Ok(Some(Chunk {
            len: cut,
            eof,
            read: self.read,
        }))
    }
}
