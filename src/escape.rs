//! Making text that came from a model or a file system safe to print.

/// Escapes an id that came from a model before it reaches a terminal or a log: control
/// characters (C0 and C1), bidirectional controls and quotes are shown as escapes, and very long
/// ids are cut.
pub fn escape_id(id: &str) -> String {
    const MAX: usize = 128;
    let mut out = String::with_capacity(id.len().min(MAX) + 2);
    for (n, c) in id.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        push_escaped(&mut out, c);
    }
    out
}

/// Escapes text for a terminal as [`escape_id`] does, whole: a file name found while walking a
/// folder, which anyone who can write there may have chosen.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    // Bidirectional controls reorder what a terminal shows (U+202E makes `txt.exe` read
    // `exe.txt`); they are format characters, not control characters, so they are named here.
    let bidi = matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if c.is_control() || bidi || c == '"' || c == '\\' {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_and_bidi_overrides_are_shown_as_escapes() {
        assert_eq!(
            escape_id("call\u{1b}]0;owned\u{7}"),
            "call\\u{1b}]0;owned\\u{7}"
        );
        assert_eq!(escape_id("a\u{202e}txt.exe"), "a\\u{202e}txt.exe");
        assert_eq!(escape_id("b\u{2066}c\u{9b}"), "b\\u{2066}c\\u{9b}");
        assert_eq!(escape_text(&"x".repeat(300)).len(), 300);
        assert_eq!(escape_id("plain_id-1"), "plain_id-1");
    }
}
