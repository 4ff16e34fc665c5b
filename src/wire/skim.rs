//! A fast first reading of a rollout line or a Responses item from its text: one pass that
//! checks the JSON as serde_json does, keeps the fields pairing reads and skips every other
//! value, scanning long strings many bytes at a time.
//!
//! It declines (`None`) whatever it is not sure of: an escape in a key or a kept string, a
//! kept field that is not a string, `null` or a boolean, a compacted or rollback payload, deep
//! nesting, and any text that is not JSON. The caller then reads the text with serde_json
//! (`text.rs`), which gives the view or says what is wrong. So a view it gives is the one
//! serde_json gives for the same text, and it accepts nothing serde_json refuses: the tests
//! below hold it to that on broken and mutated lines.

use std::borrow::Cow;

use super::text::{Field, ItemView, LineView, Payload};

// The skim is tried first; written here, beside it, so the views' module needs not know it.
impl<'a> ItemView<'a> {
    /// Reads an item from its text: skimmed when it can be, else parsed by serde_json.
    pub(crate) fn read(text: &'a str) -> Result<Self, serde_json::Error> {
        item(text).map_or_else(|| serde_json::from_str(text), Ok)
    }
}

impl<'a> LineView<'a> {
    /// Reads a line from its text: skimmed when it can be, else parsed by serde_json.
    pub(crate) fn read(text: &'a str) -> Result<Self, serde_json::Error> {
        line(text).map_or_else(|| Self::parse(text), Ok)
    }
}

/// Values nested deeper than this are left to serde_json.
const MAX_DEPTH: u32 = 64;

/// Bytes of a string looked at one by one before its end is searched for with `memchr2`.
const SHORT: usize = 24;

/// The bytes that end plain string text: a quote, a backslash, a control character. A table,
/// so that looking at a byte is one load and one branch.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Reads a rollout line, or declines. Kept out of line: inlined into its caller, the view it
/// builds (240 bytes) was copied once more per line.
#[inline(never)]
pub(crate) fn line(text: &str) -> Option<LineView<'_>> {
    let mut s = Skim { text, at: 0 };
    let mut line = LineView {
        object: true,
        ..LineView::default()
    };
    s.object(|s, key| match key {
        "type" => s.field().map(|f| line.ty = f),
        "payload" => {
            // As serde_json reads it: a later `payload` replaces an earlier one.
            let p = line.payload.insert(Payload::default());
            p.item.object = true;
            s.object(|s, key| match key {
                "replacement_history" | "num_turns" => None,
                _ => s.item_member(&mut p.item, key),
            })
        }
        _ => s.skip_value(MAX_DEPTH),
    })?;
    s.end()?;
    Some(line)
}

/// Reads a Responses item, or declines.
pub(crate) fn item(text: &str) -> Option<ItemView<'_>> {
    let mut s = Skim { text, at: 0 };
    let mut item = ItemView {
        object: true,
        ..ItemView::default()
    };
    s.object(|s, key| s.item_member(&mut item, key))?;
    s.end()?;
    Some(item)
}

struct Skim<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Skim<'a> {
    /// The next byte after whitespace, not taken.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(self.at) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    /// Takes `c`, after whitespace.
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Only whitespace is left.
    fn end(mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// Reads an object: `member` reads the value of each key (written without escapes).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.plain_str()?;
            self.eat(b':')?;
            member(self, key)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// After a member or element: takes a comma (`true`: another follows) or `close` (`false`).
    fn more(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        self.at += 1;
        match next {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// Reads a member of a Responses item: a field the item view keeps, or a value skipped.
    fn item_member(&mut self, item: &mut ItemView<'a>, key: &str) -> Option<()> {
        let slot = match key {
            "type" => &mut item.ty,
            "role" => &mut item.role,
            "call_id" => &mut item.call_id,
            "execution" => &mut item.execution,
            "id" => &mut item.id,
            "approval_request_id" => &mut item.approval_request_id,
            "encrypted_content" => &mut item.encrypted_content,
            "output" => {
                item.output_is_string = self.peek()? == b'"';
                return self.skip_value(MAX_DEPTH);
            }
            // What a call asks (the parts of `text::Asks`): its text as written, the
            // slice serde_json's `RawValue` gives.
            "name" => return self.asks(item, 0),
            "arguments" => return self.asks(item, 1),
            "input" => return self.asks(item, 2),
            _ => return self.skip_value(MAX_DEPTH),
        };
        *slot = self.field()?;
        Some(())
    }

    /// Notes the text of part `k` of what a call asks.
    fn asks(&mut self, item: &mut ItemView<'a>, k: usize) -> Option<()> {
        self.peek()?;
        let start = self.at;
        self.skip_value(MAX_DEPTH)?;
        item.asks.set(k, self.text.get(start..self.at)?);
        Some(())
    }

    /// A kept field's value: a string without escapes, `null` or a boolean.
    fn field(&mut self) -> Option<Field<'a>> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.plain_str().map(|s| Field::Str(Cow::Borrowed(s)))
            }
            b'n' => self.word("null").map(|()| Field::Null),
            b't' => self.word("true").map(|()| Field::Other("boolean")),
            b'f' => self.word("false").map(|()| Field::Other("boolean")),
            _ => None,
        }
    }

    fn word(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// Moves past plain string text: to the next quote, backslash or control character, or to
    /// the end.
    fn skip_plain(&mut self) {
        let rest = self.text.as_bytes().get(self.at..).unwrap_or_default();
        // Most strings are keys and ids, shorter than a call to `memchr2` is worth.
        let head = rest.len().min(SHORT);
        if let Some(i) = rest[..head].iter().position(|&b| SPECIAL[usize::from(b)]) {
            self.at += i;
            return;
        }
        let rest = &rest[head..];
        let end = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
        let run = &rest[..end];
        // Control characters are rare: one pass finds there is none (a running minimum, which
        // the compiler turns into vector instructions); only then is the first one looked for.
        let control = run.iter().fold(u8::MAX, |low, &b| low.min(b)) < 0x20;
        self.at += head
            + match control {
                true => run.iter().position(|&b| b < 0x20).unwrap_or(end),
                false => end,
            };
    }

    /// A string's text after its opening quote, through its closing quote, when it holds no
    /// escape.
    fn plain_str(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.skip_plain();
        if self.text.as_bytes().get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        // Both ends are next to an ASCII quote: on character boundaries.
        self.text.get(start..self.at - 1)
    }

    /// Skips a string after its opening quote, through its closing quote.
    fn skip_str(&mut self) -> Option<()> {
        loop {
            self.skip_plain();
            let bytes = self.text.as_bytes();
            match *bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => {
                    let escape = *bytes.get(self.at + 1)?;
                    self.at += 2;
                    match escape {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        // Any four hex digits: serde_json skips a lone surrogate too.
                        b'u' => {
                            let hex = bytes.get(self.at..self.at + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.at += 4;
                        }
                        _ => return None,
                    }
                }
                // A control character.
                _ => return None,
            }
        }
    }

    /// Skips a value of any kind.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.skip_str()
            }
            b'{' if depth > 0 => self.object(|s, _| s.skip_value(depth - 1)),
            b'[' if depth > 0 => {
                self.at += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_value(depth - 1)?;
                    if !self.more(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Skips a number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let digits = |at: &mut usize| {
            let start = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > start
        };
        let mut at = self.at;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                digits(&mut at);
            }
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if !digits(&mut at) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            if !digits(&mut at) {
                return None;
            }
        }
        self.at = at;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::text::{ItemView, LineView};

    /// Holds the skim to its promise on `text`: when it gives a view, serde_json gives the same.
    /// Returns whether it gave one.
    fn agrees(text: &str) -> bool {
        let line = super::line(text).map(|v| format!("{v:?}"));
        if let Some(skimmed) = &line {
            let parsed = LineView::parse(text).map(|v| format!("{v:?}"));
            assert_eq!(
                Some(skimmed),
                parsed.as_ref().ok(),
                "line {text:?}: {parsed:?}"
            );
        }
        let item = super::item(text).map(|v| format!("{v:?}"));
        if let Some(skimmed) = &item {
            let parsed = serde_json::from_str::<ItemView>(text).map(|v| format!("{v:?}"));
            assert_eq!(
                Some(skimmed),
                parsed.as_ref().ok(),
                "item {text:?}: {parsed:?}"
            );
        }
        line.is_some() && item.is_some()
    }

    #[test]
    fn the_lines_a_rollout_is_made_of_are_skimmed_as_serde_json_reads_them() {
        for line in [
            r#"{"timestamp":"2025-09-01T00:00:00.002Z","type":"response_item","payload":{"type":"local_shell_call","id":"lsh_1","call_id":"call_1","status":"completed","action":{"type":"exec","command":["cargo","build"],"timeout_ms":10000,"env":{}}}}"#,
            r#"{"timestamp":"t","type":"response_item","payload":{"type":"function_call_output","call_id":"call_1","output":"line one\nline \"two\"\tand \u00e9 \ud83d\ude00 \ud800 \/ \\ \b\f\r"}}"#,
            r#" { "type" : "event_msg" , "payload" : { "type" : "token_count" , "info" : null , "rate" : [ -1.5e+3, 0, 0.25, 12E-2, true, false, [], {} ] } } "#,
            r#"{"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"é ünïcödé 日本語"}],"id":null,"execution":true}}"#,
            r#"{"type":"response_item","payload":{"type":"function_call","call_id":"a","call_id":"b"},"payload":{"type":"reasoning","summary":[]}}"#,
            r#"{}"#,
        ] {
            assert!(agrees(line), "declined: {line}");
        }
    }

    #[test]
    fn what_it_is_not_sure_of_or_serde_json_refuses_is_declined() {
        for line in [
            // Not JSON, in ways a hand-written reader might let through.
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":1e+}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            "{\"a\":\"\x01\"}",
            "{\"a\":\"tab\there\"}",
            r#"{"a":"\q"}"#,
            r#"{"a":"\u12g4"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a" 1}"#,
            r#"{,}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":[1}"#,
            r#"{"a":{]}"#,
            "{\"a\":1}\x0c",
            // JSON, but not what the skim vouches for.
            r#"{"type":"resp\u006fnse_item","payload":{}}"#,
            r#"{"typ\u0065":"response_item"}"#,
            r#"{"type":5,"payload":{}}"#,
            r#"{"type":"response_item","payload":[]}"#,
            r#"{"type":"compacted","payload":{"replacement_history":[]}}"#,
            r#"{"type":"event_msg","payload":{"type":"thread_rolled_back","num_turns":1}}"#,
            r#"[]"#,
        ] {
            assert!(super::line(line).is_none(), "skimmed: {line}");
            agrees(line);
        }
        // Deeper than the skim goes, and still JSON.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(super::line(&deep).is_none());
        assert!(LineView::parse(&deep).is_ok());
    }

    /// A rollout-like line with every kind of JSON value and string in it.
    fn line() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            Just(String::new()),
            "[a-z_]{1,12}",
            "[ -~]{0,40}",
            any::<String>(),
            Just("quote \" backslash \\ newline \n tab \t nul \u{0} é 😀".to_owned()),
        ];
        let scalar = prop_oneof![
            text.clone().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ];
        let value = scalar.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-z_]{1,8}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        });
        let kept = prop_oneof![
            3 => prop_oneof![Just("function_call"), Just("call_1"), Just("assistant")].prop_map(Value::from),
            1 => value.clone(),
        ];
        let payload_key = prop_oneof![
            Just("type"),
            Just("call_id"),
            Just("role"),
            Just("id"),
            Just("execution"),
            Just("approval_request_id"),
            Just("output"),
            Just("arguments"),
            Just("content"),
            Just("num_turns"),
        ];
        let payload = prop::collection::vec((payload_key, kept.clone(), value.clone()), 0..6)
            .prop_map(|fields| {
                let mut p = serde_json::Map::new();
                for (k, kept, other) in fields {
                    let v = if matches!(k, "output" | "arguments" | "content") {
                        other
                    } else {
                        kept
                    };
                    p.insert(k.to_owned(), v);
                }
                Value::Object(p)
            });
        (kept, payload, value).prop_map(|(ty, payload, other)| {
            json!({"timestamp": "2025-09-01T00:00:00Z", "type": ty, "payload": payload, "other": other})
        })
    }

    /// One change to a line's text, at a character boundary: a byte that matters to JSON put in
    /// or for a character, a character taken out, or the end cut off.
    fn mutate(text: &str, at: usize, how: u8, byte: u8) -> String {
        let chars: Vec<char> = text.chars().collect();
        let at = at % (chars.len() + 1);
        let bytes = b"\"\\{}[],:0123456789.-+eEtrunfals \n\x01\x1fxu/";
        let c = char::from(bytes[usize::from(byte) % bytes.len()]);
        let mut out = chars;
        match how % 4 {
            0 if at < out.len() => out[at] = c,
            1 => out.insert(at, c),
            2 if at < out.len() => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
        out.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn a_skimmed_view_is_the_one_serde_json_reads(
            value in line(),
            pretty in any::<bool>(),
            changes in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..3),
        ) {
            let mut text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            for (at, how, byte) in changes {
                text = mutate(&text, at, how, byte);
            }
            agrees(&text);
        }
    }
}
