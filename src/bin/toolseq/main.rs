//! `toolseq`: check and repair request bodies, session logs and ledger dumps.
//!
//! Exit codes: 0 clean (or repaired), 1 violations found (or left after `fix`), 2 unreadable input.

mod fix;
mod folders;
mod input;
mod items;
mod json_report;
#[cfg(feature = "proxy")]
mod proxy;
mod scan;
mod term;
mod timeline;

use std::cell::OnceCell;
use std::io::{self, BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use toolseq::__private::repair::{findings, Findings, Placed, RepairOptions};
use toolseq::report::{api_error, escape_id};
use toolseq::{Format, Rule};

use input::{ReadError, Source};
use scan::{Keep, Scanned};
use term::{Progress, Style};

#[derive(Parser)]
#[command(
    name = "toolseq",
    version,
    about = "Check and repair the tool call/output pairing of LLM conversation histories",
    after_help = "Exit status: 0 when every history is clean (for fix: when nothing is left that it could \
not mend); 1 when a violation is found (for fix: left); 2 when an input cannot be read, an output \
cannot be written, or the command line is wrong."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    limits: input::Limits,
}

#[derive(Subcommand)]
enum Command {
    /// Check a request body, an array or JSON Lines of items, or a Codex rollout file; or
    /// several files and folders (a Codex sessions folder), one line per broken file and a
    /// summary.
    Check {
        #[command(flatten)]
        opts: Opts,
        /// The files or folders to read (`.json`, `.jsonl`, gzipped too, found recursively in a
        /// folder); `-` for stdin.
        #[arg(default_value = "-")]
        files: Vec<String>,
    },
    /// Write the repaired file (same shape as the input) to OUT or stdout; the report goes to stderr.
    Fix {
        #[command(flatten)]
        opts: Opts,
        /// The file to read; `-` for stdin.
        file: String,
        /// Where to write the repaired file (never the input itself); stdout if absent.
        #[arg(short, long, conflicts_with = "in_place")]
        output: Option<PathBuf>,
        /// Replace FILE with the repaired file, through the same temporary file as -o: FILE is
        /// replaced whole once the repaired file is written, or left as it was.
        #[arg(long)]
        in_place: bool,
        /// Leave out a last line that was cut off mid-record (no line ending, not JSON), as a
        /// crash while the file was written leaves it; reported as a change. Without it, such
        /// a line is an error (exit 2).
        #[arg(long)]
        drop_truncated_tail: bool,
        /// Text of the synthetic outputs inserted for missing ones.
        #[arg(long, default_value = "aborted")]
        text: String,
        /// Give Gemini 3 calls that lost their thought signature the value Google documents for
        /// skipping the check (`skip_thought_signature_validator`); the model then continues
        /// without its earlier reasoning. Off by default: such calls are reported and left.
        #[arg(long)]
        bypass_thought_signatures: bool,
        /// Put a placeholder where the API accepts one for what only the model could write: an
        /// empty `reasoning_content` on a DeepSeek thinking-mode message that lost its own. The
        /// model then continues without that reasoning. Off by default: reported and left.
        #[arg(long)]
        placeholders: bool,
    },
    /// List the items of a body, JSON Lines or a rollout as the API would see them (index, line,
    /// kind, family, role, wire name, call id, item id, a rollout line's timestamp; never
    /// text), each violation marked on its item. For a rollout, also the lines that changed the
    /// history (compactions, rollbacks, aborted turns).
    Items {
        #[command(flatten)]
        opts: Opts,
        /// The file to read; `-` for stdin.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Print a ledger dump (JSON Lines) as a per-conversation timeline, marking where order broke.
    Timeline {
        /// The dump to read; `-` for stdin.
        file: String,
    },
    /// Run the guard between a client and its API: model requests are checked, handled by the
    /// policy and forwarded; answers stream back as they come; everything else passes through.
    /// Point the client's base URL here (`base_url` of a Codex model provider,
    /// `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`), and its OTLP/HTTP JSON export too (`/v1/traces`,
    /// `/v1/logs`) to have outputs its tools produced and a request lacks reported as lost.
    #[cfg(feature = "proxy")]
    Proxy(ProxyArgs),
}

#[cfg(feature = "proxy")]
#[derive(Args)]
struct ProxyArgs {
    /// Where to listen (loopback by default; port 0 picks a free one, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// The API to forward to: its base URL, to which each request's path is appended
    /// (`https://api.openai.com`, `https://api.anthropic.com`).
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// What to do with a history that breaks the rules: repair it, only note it, or refuse it
    /// in the API's own error shape without calling the API.
    #[arg(long, default_value = "repair", value_parser = ["repair", "observe", "block"])]
    policy: String,
    /// Append one JSON line per request to FILE: its items as kinds, ids, positions, sizes and
    /// hashes (never text or header values), what the guard found and did, the API's status
    /// and error. `toolseq timeline FILE` reads it.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// The largest model request body taken, in bytes (`K`, `M`, `G`); a larger one is answered
    /// 413. Other requests' bodies stream through whatever their size.
    #[arg(long, default_value = "64M", value_name = "SIZE", value_parser = input::parse_size)]
    max_body: u64,
    /// Also trust the CA certificates in this PEM file for an HTTPS upstream (a company's
    /// gateway, a local test server); the usual web roots are trusted anyway.
    #[arg(long, value_name = "FILE")]
    upstream_ca: Option<PathBuf>,
    /// How many model request bodies are held at once (being read, checked or sent); more wait.
    /// Memory is bounded by this times --max-body, however many answers stream back.
    #[arg(long, default_value = "64", value_name = "N")]
    max_in_flight: usize,
    /// Seconds to wait for the upstream to accept a connection.
    #[arg(long, default_value = "10", value_name = "SECS")]
    connect_timeout: u64,
    /// Seconds the upstream may stay silent, before its answer starts or between two chunks,
    /// and a client between two chunks of its request's body (then answered 408).
    #[arg(long, default_value = "300", value_name = "SECS")]
    read_timeout: u64,
    /// Milliseconds to wait for a conversation's running calls (seen in its OTLP export)
    /// before a request's history is judged.
    #[arg(long, default_value = "0", value_name = "MS")]
    settle: u64,
    /// Check every request as this model, server or profile would (see `check --model`).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Send the guard's findings (violations and repairs by rule, lost and late outputs, the
    /// API's refusals) to this OpenTelemetry collector, as OTLP/HTTP JSON log records
    /// (`http://127.0.0.1:4318/v1/logs`); attribute names in `toolseq::collector`.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
}

#[derive(Args)]
struct Opts {
    /// The input's format: auto, or one of toolseq's formats.
    #[arg(long, default_value = "auto", value_parser = format_names(), value_name = "FORMAT")]
    format: String,
    /// Print one JSON object instead of text (schema in the README).
    #[arg(long)]
    json: bool,
    /// The model the history is sent to (`deepseek-reasoner`, `devstral-medium-2512`,
    /// `gemini-3-pro-preview`), a server (`vllm`, `sglang`, `llama.cpp`, `groq`) or a profile
    /// name (deepseek-thinking, mistral, anthropic-thinking, gemini-3, deepseek-responses,
    /// openai-chat, self-hosted, groq): its own rules apply too. Default: the body's `model`.
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
}

/// `auto` and every format's name, so `--help` and the error for a wrong name list them all.
fn format_names() -> clap::builder::PossibleValuesParser {
    let names = std::iter::once("auto").chain(Format::ALL.map(Format::name));
    clap::builder::PossibleValuesParser::new(names)
}

impl Opts {
    fn format(&self) -> Option<Format> {
        self.format.parse().ok()
    }
}

#[cfg(feature = "proxy")]
fn proxy_main(args: ProxyArgs) -> ExitCode {
    let policy = match args.policy.as_str() {
        "observe" => toolseq::Policy::Observe,
        "block" => toolseq::Policy::Block,
        _ => toolseq::Policy::Repair,
    };
    let opts = proxy::Options {
        listen: args.listen,
        upstream: args.upstream,
        policy,
        record: args.record,
        max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_in_flight: args.max_in_flight,
        upstream_ca: args.upstream_ca,
        connect_timeout: std::time::Duration::from_secs(args.connect_timeout),
        read_timeout: std::time::Duration::from_secs(args.read_timeout),
        model: args.model,
        settle: std::time::Duration::from_millis(args.settle),
        collector: args.otlp_endpoint,
    };
    match proxy::run(opts) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let style = Style::for_stream(io::stderr().is_terminal());
            let _ = writeln!(io::stderr(), "{} {e}", style.bad("toolseq proxy:"));
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    input::set_limits(cli.limits);
    let result = match cli.command {
        Command::Check { opts, files } => match &files[..] {
            [file] if !Path::new(file).is_dir() => check(&opts, file),
            _ => folders::check_all(&opts, &files),
        },
        Command::Fix {
            opts,
            file,
            output,
            in_place,
            drop_truncated_tail,
            text,
            bypass_thought_signatures,
            placeholders,
        } => in_place_target(&file, in_place).and_then(|target| {
            fix(
                &opts,
                &file,
                target.as_deref().or(output.as_deref()),
                target.is_some(),
                text,
                OptIn {
                    signature_bypass: bypass_thought_signatures,
                    placeholders,
                    drop_truncated_tail,
                },
            )
        }),
        Command::Items { opts, file } => Source::open(&file).and_then(|src| {
            let scanned = read_skeleton(&src, &opts, false)?;
            let stdout = io::stdout();
            let style = Style::for_stream(stdout.is_terminal());
            items::items(&src, &scanned, opts.json, &mut stdout.lock(), style)
        }),
        Command::Timeline { file } => Source::open(&file).and_then(|src| {
            let stdout = io::stdout();
            let style = Style::for_stream(stdout.is_terminal());
            timeline::timeline(&src, &mut stdout.lock(), style).map(|_| 0)
        }),
        #[cfg(feature = "proxy")]
        Command::Proxy(args) => return proxy_main(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let style = Style::for_stream(io::stderr().is_terminal());
            // A read error says what could not be read; the others say what failed.
            let lead = if e.message.starts_with("cannot ") || e.message.starts_with("refusing ") {
                "toolseq:"
            } else {
                "toolseq: cannot read"
            };
            let _ = writeln!(io::stderr(), "{} {e}", style.bad(lead));
            ExitCode::from(2)
        }
    }
}

/// The repairs `fix` makes only when asked, because they change what the model sees.
#[derive(Clone, Copy, Default)]
struct OptIn {
    signature_bypass: bool,
    placeholders: bool,
    drop_truncated_tail: bool,
}

/// Reads the input and applies the profile of its model (`--model`, or a document's `model`).
fn read<'t>(
    src: &Source,
    opts: &Opts,
    opt_in: OptIn,
    keep: Keep<'t>,
) -> Result<Scanned<'t>, ReadError> {
    read_quietly(src, opts, opt_in, false, keep)
}

/// [`read`] for a check, with no progress line when `quiet` (several files read at once): the
/// skeleton owns its ids, so the text it was read from is gone before the analysis, which on a
/// body of calls alone needs as much memory again as the text.
fn read_skeleton(src: &Source, opts: &Opts, quiet: bool) -> Result<Scanned<'static>, ReadError> {
    let text = OnceCell::new();
    read_quietly(src, opts, OptIn::default(), quiet, Keep::Skeleton(&text)).map(Scanned::into_owned)
}

/// [`read`], with no progress line when `quiet`.
fn read_quietly<'t>(
    src: &Source,
    opts: &Opts,
    opt_in: OptIn,
    quiet: bool,
    keep: Keep<'t>,
) -> Result<Scanned<'t>, ReadError> {
    let (shape, text) = input::sniff(src)?;
    let mut progress = Progress::new("checking", if quiet { 0 } else { src.len });
    let scanned = scan::scan(src, (shape, text), opts.format(), keep, &mut |n| {
        progress.update(n)
    });
    progress.finish();
    let mut scanned = scanned?;
    let format = scanned.detection.format;
    let (body, skel) = scanned.profile_body_and_skeleton();
    let model = opts.model.as_deref();
    skel.placeholders = opt_in.placeholders;
    scanned.profile =
        toolseq::__private::profile::fit(skel, body, format, model, opt_in.signature_bypass)
            .map_err(|e| src.error(None, None, e.to_string()))?;
    Ok(scanned)
}

fn check(opts: &Opts, file: &str) -> Result<u8, ReadError> {
    let src = Source::open(file)?;
    let scanned = read_skeleton(&src, opts, false)?;
    let found = findings(&scanned.skel);
    let stdout = io::stdout();
    let style = Style::for_stream(stdout.is_terminal());
    let mut out = stdout.lock();
    let written = if opts.json {
        json_report::write(&mut out, None, &scanned, &found)
    } else {
        print_report(&mut out, &src.name, &scanned, &found, style, "would")
    };
    written.map_err(|e| src.error(None, None, format!("cannot write: {e}")))?;
    Ok(u8::from(!found.is_clean()))
}

/// For `fix --in-place`: the file to replace (the one a link points to, so the link stays);
/// `None` without the flag.
fn in_place_target(file: &str, in_place: bool) -> Result<Option<PathBuf>, ReadError> {
    if !in_place {
        return Ok(None);
    }
    let refuse = |message: String| ReadError {
        file: file.to_owned(),
        line: None,
        column: None,
        message,
    };
    if file == "-" {
        return Err(refuse(
            "refusing --in-place on stdin: there is no file to replace; write with -o".into(),
        ));
    }
    let path = std::fs::canonicalize(file).map_err(|e| refuse(e.to_string()))?;
    let mut magic = [0u8; 2];
    let gzipped = std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b];
    if gzipped {
        return Err(refuse(
            "refusing --in-place on a gzip-compressed file: fix writes it uncompressed; write with -o".into(),
        ));
    }
    Ok(Some(path))
}

fn fix(
    opts: &Opts,
    file: &str,
    output: Option<&Path>,
    in_place: bool,
    text: String,
    opt_in: OptIn,
) -> Result<u8, ReadError> {
    let mut src = Source::open(file)?;
    let dropped = if opt_in.drop_truncated_tail {
        src.drop_truncated_tail()?
    } else {
        None
    };
    if let Some(out) = output.filter(|_| !in_place) {
        if same_file(Path::new(file), out) {
            return Err(src.error(
                None,
                None,
                format!(
                    "refusing to write the output {} over the input itself (or a link to it): write to another file with -o, or use --in-place",
                    escape_path(out)
                ),
            ));
        }
    }
    let text_cell = OnceCell::new();
    let mut scanned = read(&src, opts, opt_in, Keep::Tree(&text_cell))?;
    scanned.dropped_tail = dropped;
    let found = findings(&scanned.skel);
    let entries = &scanned.skel.entries;
    let turned: std::collections::HashSet<usize> = found
        .plan
        .turns
        .iter()
        .map(|t| entries.at(t.entry).index())
        .collect();
    let mended = |v: &toolseq::Violation| {
        v.repairable()
            || (opt_in.signature_bypass && v.rule == Rule::MissingThoughtSignature)
            || (opt_in.placeholders
                && matches!(
                    v.rule,
                    Rule::MissingReasoningContent | Rule::MixedResultTurn
                ))
            || (matches!(
                v.rule,
                Rule::RolesNotAlternating
                    | Rule::CallWithoutPrecedingUserTurn
                    | Rule::OpensWithModel
            ) && turned.contains(&v.index))
    };
    let left = !found.violations().all(|v| mended(&v));
    // Shown once the output is written, and held aside till then: on disk past a megabyte,
    // so that a report of a million violations does not stay in memory beside the body.
    let stderr = io::stderr();
    let style = Style::for_stream(stderr.is_terminal());
    let mut report = tempfile::spooled_tempfile(1 << 20);
    let _ = if opts.json {
        json_report::write(&mut report, None, &scanned, &found)
    } else {
        print_report(&mut report, &src.name, &scanned, &found, style, "will")
    };
    drop(found);
    let opts = RepairOptions::default()
        .missing_text(text)
        .placeholders(opt_in.placeholders);
    let mut progress = Progress::new("writing", src.len);
    let written = match output {
        Some(path) => write_atomically(path, |w| {
            fix::fix(&src, scanned, text_cell.get(), w, &opts, &mut |n| {
                progress.update(n)
            })
        })
        .map_err(|e| {
            e.unwrap_or_else(|io| {
                src.error(None, None, format!("cannot write {}: {io}", path.display()))
            })
        }),
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            let r = fix::fix(&src, scanned, text_cell.get(), &mut w, &opts, &mut |n| {
                progress.update(n)
            });
            r.and_then(|c| {
                w.flush()
                    .map(|_| c)
                    .map_err(|e| src.error(None, None, format!("cannot write: {e}")))
            })
        }
    };
    progress.finish();
    written?;
    let _ = report
        .seek(SeekFrom::Start(0))
        .and_then(|_| io::copy(&mut report, &mut stderr.lock()));
    Ok(u8::from(left))
}

/// Whether `a` and `b` name one file: by device and inode, so neither a second path nor a link
/// to the input gets past it. A name that does not exist yet is no file.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        canon(a).is_some_and(|x| canon(b) == Some(x))
    }
}

/// A path for a message: its control characters escaped.
fn escape_path(p: &Path) -> String {
    escape_id(&p.to_string_lossy())
}

/// Writes to a new temporary file in `path`'s folder, renamed over `path` only when all went
/// well and the data is on disk; gzipped when `path` ends in `.gz`. The temporary file is made
/// by `tempfile`: created exclusively under an unpredictable name, so no file or link put there
/// in advance is followed or truncated, and removed on every error path.
fn write_atomically<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> Result<T, ReadError>,
) -> Result<T, Result<ReadError, io::Error>> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".toolseq-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(Err)?;
    let mut w = BufWriter::new(tmp);
    let result = if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::default());
        f(&mut gz)
            .map_err(Ok)
            .and_then(|v| gz.finish().map(|_| v).map_err(Err))
    } else {
        f(&mut w).map_err(Ok)
    };
    let v = result.and_then(|v| w.flush().map(|_| v).map_err(Err))?;
    let tmp = w.into_inner().map_err(|e| Err(e.into_error()))?;
    tmp.as_file().sync_all().map_err(Err)?;
    tmp.persist(path).map_err(|e| Err(e.error))?;
    Ok(v)
}

/// Outputs whose call may be stored server-side: `(item index, call id)`.
pub(crate) fn not_checked<'s>(scanned: &Scanned, found: &Findings<'s>) -> Vec<(usize, &'s str)> {
    found
        .server_side
        .iter()
        .map(|&(e, id)| (scanned.skel.entries.at(e).index(), id))
        .collect()
}

pub(crate) fn server_side_reason(scanned: &Scanned) -> &'static str {
    scanned.skel.server_history.unwrap_or("item_reference")
}

fn print_report(
    out: &mut dyn Write,
    name: &str,
    scanned: &Scanned,
    found: &Findings,
    style: Style,
    verb: &str,
) -> io::Result<()> {
    let p = &found.plan;
    writeln!(
        out,
        "{}: {} ({}), {} items, rule set v{}",
        name,
        scanned.detection.format,
        scanned.detection.evidence,
        scanned.skel.items,
        Rule::SET_VERSION
    )?;
    if let Some(p) = &scanned.profile {
        writeln!(out, "  profile {p}")?;
    }
    if let Some((line, bytes)) = scanned.dropped_tail {
        writeln!(
            out,
            "  {:<20} line {line}: {bytes} bytes cut off mid-record, left out (--drop-truncated-tail)",
            "dropped_tail"
        )?;
    }
    // Counted as they are written: a report of a million violations never holds them all.
    let mut counts = Tally::default();
    for v in found.violations() {
        counts.add(v.rule);
        let id = v
            .item_id
            .as_deref()
            .map(|i| format!("item {}", escape_id(i)))
            .or_else(|| {
                v.call_id
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|c| format!("call {}", escape_id(c)))
            })
            .unwrap_or_else(|| "call -".into());
        let mut at = format!(
            "{} {}",
            if scanned.lines.is_empty() {
                "index"
            } else {
                "item"
            },
            v.index
        );
        if let Some(b) = v.block {
            at.push_str(&format!(".{b}"));
        }
        if let Some(l) = scanned.line_of(v.index) {
            at.push_str(&format!(", line {l}"));
        }
        let rule = format!("{:<20}", v.rule.name());
        let rule = if v.rule == Rule::MalformedItem {
            style.warn(&rule)
        } else {
            style.bad(&rule)
        };
        writeln!(
            out,
            "  {rule} {id}  {at}  {}{}",
            v.label,
            v.detail.map(|d| format!(": {d}")).unwrap_or_default()
        )?;
        writeln!(
            out,
            "      {}",
            style.dim(&format!("hint: {}", v.rule.hint()))
        )?;
        if let Some(e) = api_error(scanned.detection.format, &v) {
            writeln!(
                out,
                "      {}",
                style.dim(&format!("API would answer: {e}"))
            )?;
        }
    }
    let unchecked = not_checked(scanned, found);
    if !unchecked.is_empty() {
        writeln!(
            out,
            "  {}",
            style.dim(&format!(
                "note: {} output(s) may answer calls stored server-side (`{}`); not checked, left alone",
                unchecked.len(),
                server_side_reason(scanned)
            ))
        )?;
    }
    if counts.total() == 0 {
        return writeln!(
            out,
            "{}",
            style.good("clean: every tool call and output pairs up")
        );
    }
    let inserts = p
        .inserts
        .iter()
        .filter(|i| matches!(i.placed, Placed::Synthetic { .. }))
        .count();
    let moves = p.inserts.len() - inserts;
    writeln!(
        out,
        "{} violation(s): {}; `toolseq fix` {verb} insert {inserts}, move {moves}, remove {} item(s)",
        counts.total(),
        counts,
        p.removals.len()
    )
}

/// Violations by rule, rules in the order first seen; shown as `2 missing_output, 1
/// orphan_output`.
#[derive(Default)]
pub(crate) struct Tally(pub Vec<(Rule, usize)>);

impl Tally {
    pub fn add(&mut self, rule: Rule) {
        self.add_n(rule, 1);
    }

    pub fn add_n(&mut self, rule: Rule, n: usize) {
        match self.0.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, k)) => *k += n,
            None => self.0.push((rule, n)),
        }
    }

    /// The count of `rule`.
    pub fn of(&self, rule: Rule) -> usize {
        self.0
            .iter()
            .find(|(r, _)| *r == rule)
            .map_or(0, |&(_, n)| n)
    }

    pub fn total(&self) -> usize {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl FromIterator<Rule> for Tally {
    fn from_iter<I: IntoIterator<Item = Rule>>(rules: I) -> Self {
        let mut t = Tally::default();
        rules.into_iter().for_each(|r| t.add(r));
        t
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (r, n)) in self.0.iter().enumerate() {
            write!(f, "{}{n} {r}", if i > 0 { ", " } else { "" })?;
        }
        Ok(())
    }
}
