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
            s.hash(h);
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
                k.hash(h);
                value(x, h, depth + 1);
            }
        }
    }
}
