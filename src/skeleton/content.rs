//! What a call asks, hashed: how a call stored twice is told from another call under its id
//! without keeping the call's text. Seeded once per process, so the hashes of one history
//! compare with each other, and no one can make two different calls collide ahead of time.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use serde_json::Value;

fn state() -> &'static foldhash::fast::RandomState {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

/// The hash of a call's parts (its name, its arguments' text), in order.
pub fn of_parts(parts: &[&[u8]]) -> u64 {
    let mut h = state().build_hasher();
    for p in parts {
        h.write_usize(p.len());
        h.write(p);
    }
    h.finish()
}

/// The hash of a call's parts read as JSON values (its name, its arguments or input), in order;
/// an absent part counts as `null`.
pub fn of_values(parts: &[Option<&Value>]) -> u64 {
    let mut h = state().build_hasher();
    for p in parts {
        value(p.unwrap_or(&Value::Null), &mut h, 0);
    }
    h.finish()
}

/// Beyond this depth a value's parts are not hashed: nothing a model asks nests so deep, and a
/// value built in code may nest deeper than the stack takes.
const DEPTH: usize = 64;

/// A string's bytes, framed by their length: hashed alike whether they were decoded into a
/// buffer or lie in a `Value`.
fn text(bytes: &[u8], h: &mut impl Hasher) {
    h.write_usize(bytes.len());
    h.write(bytes);
}

fn value(v: &Value, h: &mut impl Hasher, depth: usize) {
    if depth > DEPTH {
        return;
    }
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => {
            h.write_u8(1);
            b.hash(h);
        }
        Value::Number(n) => {
            h.write_u8(2);
            n.hash(h);
        }
        Value::String(s) => {
            h.write_u8(3);
            text(s.as_bytes(), h);
        }
        Value::Array(a) => {
            h.write_u8(4);
            h.write_usize(a.len());
            for x in a {
                value(x, h, depth + 1);
            }
        }
        Value::Object(o) => {
            h.write_u8(5);
            h.write_usize(o.len());
            for (k, x) in o {
                text(k.as_bytes(), h);
                value(x, h, depth + 1);
            }
        }
    }
}

/// The hash of part `k` of what a call asks, from its value. A string is hashed as serde_json
/// writes it (its escaped text), which is what most files hold already, so that reading a
/// call from its text ([`of_json_part`]) need not decode it.
pub fn of_value_part(k: u8, v: &Value) -> u64 {
    match v {
        Value::String(s) => CANONICAL.with_borrow_mut(|buf| {
            buf.clear();
            // Writing a string to a vector cannot fail.
            let _ = serde_json::to_writer(&mut *buf, s);
            of_escaped_part(k, &buf[1..buf.len() - 1])
        }),
        _ => {
            let mut h = state().build_hasher();
            h.write_u8(k);
            value(v, &mut h, 0);
            h.finish()
        }
    }
}

thread_local! {
    // One buffer per thread for a string written as serde_json writes it, rather than one each.
    static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`of_value_part`] from the part's JSON text: a string whose escapes are all the short ones
/// serde_json writes (no `\u`, no `\/`) is hashed as it lies, any other text decoded first.
/// A file read from its text and one read as values, or a file whose first lines were read
/// one way and the rest the other, hash a call alike.
pub fn of_json_part(k: u8, raw: &str) -> u64 {
    static LONG_ESCAPES: OnceLock<[memchr::memmem::Finder<'static>; 2]> = OnceLock::new();
    if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let [unicode, slash] = LONG_ESCAPES.get_or_init(|| {
            [
                memchr::memmem::Finder::new(b"\\u"),
                memchr::memmem::Finder::new(b"\\/"),
            ]
        });
        let inner = inner.as_bytes();
        // `\\u` (an escaped backslash, then `u`) is taken for one too: decoded, it hashes the same.
        if unicode.find(inner).is_none() && slash.find(inner).is_none() {
            return of_escaped_part(k, inner);
        }
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v) => of_value_part(k, &v),
        // Text no value reads as (a lone surrogate escape): hashed as written.
        Err(_) => of_parts(&[&[k, 0xfe], raw.as_bytes()]),
    }
}

/// The hash of a string part from its escaped text.
fn of_escaped_part(k: u8, escaped: &[u8]) -> u64 {
    let mut h = state().build_hasher();
    h.write_u8(k);
    h.write_u8(3);
    text(escaped, &mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_hashes_alike_from_its_text_and_from_its_value() {
        for text in [
            r#""ls""#,
            r#""{\"cmd\":\"ls -la\",\"path\":\"/tmp\"}""#,
            r#""tab\there, quote \" slash \/ back \\ nl \n""#,
            r#""\u00e9t\u00E9 \ud83d\ude00 \u0041""#,
            r#"{"cmd": ["ls", "-la"], "n": 1.5}"#,
            "null",
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(of_json_part(1, text), of_value_part(1, &v), "{text}");
            assert_ne!(of_json_part(1, text), of_value_part(2, &v), "{text}");
        }
        // Another escape of the same text is the same call; other text is not.
        assert_eq!(of_json_part(1, r#""\u0041b""#), of_json_part(1, r#""Ab""#));
        assert_ne!(of_json_part(1, r#""Ab""#), of_json_part(1, r#""Ac""#));
        // A lone surrogate reads as no value: hashed as written, never as a decoded string.
        assert_ne!(
            of_json_part(1, r#""\ud800""#),
            of_json_part(1, r#""\ud801""#)
        );
    }
}
