//! `toolseq check` over several files and folders (months of Codex sessions): files checked in
//! parallel, one line per broken or unreadable file, then a summary; `--json` gives one object
//! per file. An unreadable file is reported and the walk goes on.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use toolseq::report::escape_text;

use serde_json::json;

use crate::input::{ReadError, Source};
use crate::term::Style;
use crate::{Opts, Tally};

/// What checking one file found.
enum Outcome {
    Checked {
        items: usize,
        counts: Tally,
        /// The `--json` object, when asked for.
        json: Option<Vec<u8>>,
    },
    Unreadable(String),
}

/// Checks every file named or found; exit code 1 if any file breaks a rule, else 2 if any
/// could not be read, else 0.
pub fn check_all(opts: &Opts, args: &[String]) -> Result<u8, ReadError> {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for arg in args {
        collect(Path::new(arg), true, &mut files, &mut unreadable);
    }
    if files.is_empty() && unreadable.is_empty() {
        return Err(ReadError {
            file: args.join(", "),
            line: None,
            column: None,
            message: "holds no .json or .jsonl file (gzipped or not) to check".into(),
        });
    }
    let outcomes = check_files(opts, &files);

    let stdout = io::stdout();
    let style = Style::for_stream(stdout.is_terminal());
    let mut out = stdout.lock();
    let write_err = |e: io::Error| ReadError {
        file: "<stdout>".into(),
        line: None,
        column: None,
        message: format!("cannot write: {e}"),
    };
    let (mut broken, mut items) = (0, 0);
    // Over all files: violations by rule, and files with a violation of each rule.
    let (mut violations, mut files_with) = (Tally::default(), Tally::default());
    for (path, why) in &unreadable {
        report_unreadable(&mut out, opts, style, path, why).map_err(write_err)?;
    }
    for (path, outcome) in files.iter().zip(&outcomes) {
        let name = path.display().to_string();
        match outcome {
            Outcome::Unreadable(why) => {
                report_unreadable(&mut out, opts, style, &name, why).map_err(write_err)?
            }
            Outcome::Checked {
                items: n,
                counts,
                json,
            } => {
                items += n;
                if counts.total() > 0 {
                    broken += 1;
                }
                for &(rule, k) in &counts.0 {
                    violations.add_n(rule, k);
                    files_with.add(rule);
                }
                if let Some(j) = json {
                    out.write_all(j).map_err(write_err)?;
                } else if counts.total() > 0 {
                    writeln!(
                        out,
                        "{}: {} {counts}",
                        escape_text(&name),
                        style.bad(&format!("{} violation(s):", counts.total())),
                    )
                    .map_err(write_err)?;
                }
            }
        }
    }
    let unread = unreadable.len()
        + outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Unreadable(_)))
            .count();
    if !opts.json {
        let checked = files.len() + unreadable.len();
        writeln!(
            out,
            "{checked} file(s): {} clean, {broken} broken, {unread} unreadable; {items} items",
            checked - broken - unread
        )
        .map_err(write_err)?;
        if violations.total() > 0 {
            violations.0.sort_by_key(|&(r, _)| r);
            writeln!(out, "  {:<34} {:>10} {:>6}", "rule", "violations", "files")
                .map_err(write_err)?;
            for &(rule, v) in &violations.0 {
                let f = files_with.of(rule);
                writeln!(out, "  {:<34} {v:>10} {f:>6}", rule.name()).map_err(write_err)?;
            }
        }
    }
    Ok(if broken > 0 {
        1
    } else if unread > 0 {
        2
    } else {
        0
    })
}

fn report_unreadable(
    out: &mut dyn Write,
    opts: &Opts,
    style: Style,
    name: &str,
    why: &str,
) -> io::Result<()> {
    if opts.json {
        writeln!(out, "{}", json!({"file": name, "error": why}))
    } else {
        // A name found in a folder may hold terminal controls; `--json` keeps it exact.
        writeln!(
            out,
            "{}: {} {}",
            escape_text(name),
            style.warn("cannot read:"),
            escape_text(why)
        )
    }
}

/// Whether a file found in a folder is worth reading: JSON, JSON Lines, gzipped or not.
fn is_history(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".jsonl") || name.ends_with(".json")
}

/// Adds `path` (a file, or the history files under a folder, sorted) to `files`; a folder that
/// cannot be listed goes to `unreadable`.
fn collect(
    path: &Path,
    named: bool,
    files: &mut Vec<PathBuf>,
    unreadable: &mut Vec<(String, String)>,
) {
    // A link to a folder found in a walk is not followed: it may loop.
    let link = !named
        && path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
    if link && path.is_dir() {
        return;
    }
    if !path.is_dir() {
        // A file named outright is read whatever its name.
        if named || is_history(path) {
            files.push(path.to_owned());
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return unreadable.push((path.display().to_string(), e.to_string())),
    };
    let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    found.sort();
    for p in found {
        collect(&p, false, files, unreadable);
    }
}

/// Checks the files on every core, each file whole on one; results in the order of `files`.
fn check_files(opts: &Opts, files: &[PathBuf]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Outcome>>> = files.iter().map(|_| Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let progress = io::stderr().is_terminal() && files.len() > 1;
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let outcome = check_one(opts, path);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(outcome);
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if progress {
                    let _ = write!(io::stderr(), "\rchecked {n}/{} files", files.len());
                }
            });
        }
    });
    if progress {
        let _ = write!(io::stderr(), "\r{}\r", " ".repeat(40));
    }
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Outcome::Unreadable("not checked".into()))
        })
        .collect()
}

fn check_one(opts: &Opts, path: &Path) -> Outcome {
    let checked = Source::open(&path.to_string_lossy()).and_then(|src| {
        let scanned = crate::read_skeleton(&src, opts, true)?;
        let found = toolseq::__private::repair::findings(&scanned.skel);
        let json = opts.json.then(|| {
            let mut j = Vec::new();
            let file = path.display().to_string();
            // Into memory: cannot fail.
            let _ = crate::json_report::write(&mut j, Some(&file), &scanned, &found);
            j
        });
        Ok(Outcome::Checked {
            items: scanned.skel.items,
            counts: found.violations().map(|v| v.rule).collect(),
            json,
        })
    });
    checked.unwrap_or_else(|e| Outcome::Unreadable(e.message_at()))
}
