//! Making text that came from a model safe to print.

/// Escapes an id that came from a model before it reaches a terminal or a log: control
/// characters and quotes are shown as escapes, and very long ids are cut.
pub fn escape_id(id: &str) -> String {
    const MAX: usize = 128;
    let mut out = String::with_capacity(id.len().min(MAX) + 2);
    for (n, c) in id.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        if c.is_control() || c == '"' || c == '\\' || c == '\u{1b}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
