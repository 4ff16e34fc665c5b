//! Colour only on a terminal and never with `NO_COLOR`; a progress line on stderr for large
//! files read from a terminal session.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    pub fn for_stream(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: is_terminal && !no_color,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    pub fn bad(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn good(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// Files at least this large get a progress line.
const LARGE: u64 = 64 << 20;

pub struct Progress {
    label: &'static str,
    total: u64,
    shown: bool,
    last: Instant,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Progress {
        let on = total >= LARGE && std::io::stderr().is_terminal();
        Progress {
            label,
            total: if on { total } else { 0 },
            shown: false,
            last: Instant::now(),
        }
    }

    pub fn update(&mut self, done: u64) {
        if self.total == 0 || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        // A compressed file's total is its compressed size.
        let pct = (done.saturating_mul(100) / self.total).min(100);
        let _ = write!(
            std::io::stderr(),
            "\r{}: {pct:>3}% of {} MB",
            self.label,
            self.total >> 20
        );
    }

    pub fn finish(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(40));
            self.shown = false;
        }
    }
}
