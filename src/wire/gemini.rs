//! Google Gemini `generateContent` `contents`: `functionCall` parts in a `model` turn, answered
//! by `functionResponse` parts filling the next turn. Ids are optional: a response without one
//! answers the call of its name at the same rank in the call turn before it.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::adapter::{Adapter, Edits};
use super::blocks::{self, Shape};
use crate::change::Change;
use crate::format::{Format, ReadError};
use crate::profile::BYPASS_SIGNATURE;
use crate::rules::{Rule, Violation};
use crate::skeleton::{
    content, Adjacency, Entries, Entry, Family, Flaw, Kind, Role, Skeleton, Trace,
};

/// The Gemini adapter.
pub(super) struct Gemini;

/// Part fields (camelCase as the REST API documents them, snake_case as its proto accepts).
const CALL: [&str; 2] = ["functionCall", "function_call"];
const RESPONSE: [&str; 2] = ["functionResponse", "function_response"];
/// Data fields of conversation parts.
const CONTENT: [&str; 6] = [
    "text",
    "inlineData",
    "inline_data",
    "fileData",
    "file_data",
    "thought",
];
/// Data fields of the server's own code execution, which pairs with nothing.
const CODE: [&str; 4] = [
    "executableCode",
    "executable_code",
    "codeExecutionResult",
    "code_execution_result",
];

const SHAPE: Shape = Shape {
    field: "parts",
    user: "user",
    model: Some("model"),
    results_only: true,
    is_result: |p| one_of(p, RESPONSE).is_some(),
    is_call: |p| one_of(p, CALL).is_some(),
    text_block: None,
    synthetic: response,
};

fn one_of<'v>(part: &'v Value, keys: [&str; 2]) -> Option<&'v Value> {
    keys.into_iter().find_map(|k| part.get(k))
}

/// The response answering a call: its name and (when the call had one) its id, with the text
/// as the error the API documents for a failed function.
fn response(call: Option<&Value>, _family: Family, call_id: &str, text: &str) -> Value {
    let call = call.and_then(|p| one_of(p, CALL));
    let name = call
        .and_then(|c| c.get("name"))
        .cloned()
        .unwrap_or(json!(""));
    let mut inner = json!({"name": name, "response": {"error": text}});
    // A positional key is toolseq's, never the API's: only a real id is sent back.
    if call
        .and_then(|c| c.get("id")?.as_str())
        .is_some_and(|id| !id.is_empty())
    {
        inner["id"] = json!(call_id);
    }
    json!({"functionResponse": inner})
}

/// The key pairing an id-less call or response: its name and rank among the parts of that name
/// in the call turn `turn`.
fn positional(name: &str, rank: usize, turn: Option<usize>) -> String {
    match turn {
        Some(t) => format!("{name}#{rank}@contents[{t}]"),
        None => format!("{name}#{rank}"),
    }
}

impl Adapter for Gemini {
    fn format(&self) -> Format {
        Format::Gemini
    }

    fn list_key(&self) -> Option<&'static str> {
        Some("contents")
    }

    fn claims_body(&self, body: &Map<String, Value>) -> Option<&'static str> {
        (body.contains_key("contents") && !body.contains_key("messages"))
            .then_some("request body has `contents`")
    }

    fn recognize(&self, item: &Map<String, Value>) -> Option<&'static str> {
        item.get("parts")
            .is_some_and(Value::is_array)
            .then_some("`contents` turns with `parts`")
    }

    fn read<'a>(&self, contents: &'a [Value]) -> Skeleton<'a> {
        let mut skel = Skeleton::new(Format::Gemini, Adjacency::NextMessageOnly);
        skel.calls_follow_user = true;
        // Two client turns in a row are refused with HTTP 400, while results and text in one
        // turn are taken and answered with an empty candidate (NousResearch/hermes-agent#79791,
        // after google-gemini/gemini-cli#28700).
        skel.alternating_roles = true;
        skel.mixed_turns_accepted = true;
        skel.items = contents.len();
        let mut call_turn = CallTurn::default();
        for (i, turn) in contents.iter().enumerate() {
            read_turn(&mut skel.entries, &mut call_turn, turn, i);
        }
        skel
    }

    fn incremental(&self) -> bool {
        false
    }

    fn push(&self, _skel: &mut Skeleton<'static>, _item: &Value) -> Result<(), ReadError> {
        Err(ReadError::Shape(
            "Gemini contents are read whole: a response without an id pairs by its place in the call turn before it".into(),
        ))
    }

    fn synthetic(&self, family: Family, call_id: &str, text: &str) -> Value {
        response(None, family, call_id, text)
    }

    fn object_of<'v>(&self, item: &'v mut Value, e: &Entry) -> Option<&'v mut Map<String, Value>> {
        let part = item.get_mut(SHAPE.field)?.get_mut(e.block()?)?;
        let keys = if e.kind == Kind::Call { CALL } else { RESPONSE };
        let key = keys.into_iter().find(|k| part.get(*k).is_some())?;
        part.get_mut(key)?.as_object_mut()
    }

    fn block_field(&self) -> &'static str {
        SHAPE.field
    }

    fn sign(&self, item: &mut Value, e: &Entry) -> Option<&'static str> {
        let part = item
            .get_mut(SHAPE.field)?
            .get_mut(e.block()?)?
            .as_object_mut()?;
        // A part written in snake_case keeps to it.
        let field = if part.contains_key("function_call") {
            SIGNATURE[1]
        } else {
            SIGNATURE[0]
        };
        part.insert(field.to_owned(), BYPASS_SIGNATURE.into());
        Some(field)
    }

    fn reshape(&self, item: &mut Value, e: &Entry) -> Option<&'static str> {
        let part = item.get_mut(SHAPE.field)?.get_mut(e.block()?)?;
        let key = RESPONSE.into_iter().find(|k| part.get(*k).is_some())?;
        let response = part.get_mut(key)?.get_mut("response")?;
        if response.is_object() {
            return None;
        }
        // Google: "Use 'output' key to specify function output".
        *response = json!({ "output": response.take() });
        Some("response")
    }

    fn call_id_key(&self, _e: &Entry) -> &'static str {
        "id"
    }

    fn rebuild(&self, items: &mut Vec<Value>, edits: Edits<'_>) -> Vec<Change> {
        blocks::rebuild(&SHAPE, items, edits)
    }

    fn place_note(
        &self,
        items: &mut Vec<Value>,
        _call_item: usize,
        after_run: usize,
        note: &str,
    ) -> bool {
        items.insert(
            after_run,
            json!({"role": "user", "parts": [{"text": note}]}),
        );
        true
    }

    fn api_error(&self, v: &Violation) -> Option<String> {
        const COUNT: &str = "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.";
        Some(match v.rule {
            Rule::MissingOutput | Rule::DuplicateOutput | Rule::SplitResults | Rule::KindMismatch => {
                COUNT.to_owned()
            }
            Rule::OrphanOutput | Rule::InterleavedMessage | Rule::OutputBeforeCall => {
                "Please ensure that function response turn comes immediately after a function call turn.".to_owned()
            }
            Rule::MissingThoughtSignature => missing_signature_error(),
            Rule::CallWithoutPrecedingUserTurn => {
                "Please ensure that function call turn comes immediately after a user turn or after a function response turn.".to_owned()
            }
            Rule::RolesNotAlternating => {
                "Please ensure that multiturn requests alternate between user and model.".to_owned()
            }
            _ => return None,
        })
    }
}

/// Where a part carries its thought signature.
const SIGNATURE: [&str; 2] = ["thoughtSignature", "thought_signature"];

/// Gemini 3's refusal of a call of the current turn without its thought signature (also from
/// its OpenAI-compatible endpoint). The API goes on to name the function and position.
pub(super) fn missing_signature_error() -> String {
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.".to_owned()
}

/// The last turn that held calls: where it is, and each call's name and key, in order.
#[derive(Default)]
struct CallTurn<'a> {
    index: Option<usize>,
    calls: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> CallTurn<'a> {
    /// The key of the `rank`-th call named `name` among those no response of the turn claims
    /// by id, if the turn has one.
    fn key(&self, name: &str, rank: usize, claimed: &[&str]) -> Option<Cow<'a, str>> {
        self.calls
            .iter()
            .filter(|(n, k)| *n == name && !claimed.contains(&k.as_ref()))
            .nth(rank)
            .map(|(_, k)| k.clone())
    }
}

/// The id of a call or response part, when it has a usable one.
fn id_of(inner: &Value) -> Option<&str> {
    inner
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

/// How many of `seen` are `name`, counting this one in.
fn rank_of<'a>(seen: &mut Vec<&'a str>, name: &'a str) -> usize {
    let rank = seen.iter().filter(|n| **n == name).count();
    seen.push(name);
    rank
}

fn read_turn<'a>(out: &mut Entries<'a>, call_turn: &mut CallTurn<'a>, turn: &'a Value, i: usize) {
    let malformed = |why| Entry::new(Kind::Malformed(why), i, None, "content");
    let Some(obj) = turn.as_object() else {
        return out.push(malformed("content is not a JSON object"));
    };
    let role = match obj.get("role").map(Value::as_str) {
        // A single-turn request may leave the role out: it is the user's.
        None | Some(Some("user" | "function" | "tool")) => Role::User,
        Some(Some("model")) => Role::Assistant,
        _ => return out.push(malformed("`role` is not `user` or `model`")),
    };
    let Some(Value::Array(parts)) = obj.get("parts") else {
        return out.push(malformed("`parts` is not an array"));
    };
    let message = |block| Entry::new(Kind::Message(role), i, block, "content");
    if role == Role::Assistant {
        // Text beside calls is written with them; it goes first.
        if let Some(j) = parts
            .iter()
            .position(|p| one_of(p, CALL).is_none() && CONTENT.iter().any(|k| p.get(*k).is_some()))
        {
            out.push(message(Some(j)));
        }
    }
    // Responses with ids claim their calls; the others pair by name and rank among the rest.
    let claimed: Vec<&str> = parts
        .iter()
        .filter_map(|p| id_of(one_of(p, RESPONSE)?))
        .collect();
    let mut names: Vec<&str> = Vec::new();
    let mut turn_calls = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let bad = |why| Entry::new(Kind::Malformed(why), i, Some(j), "part");
        if !part.is_object() {
            out.push(bad("part is not a JSON object"));
            continue;
        }
        let paired = match (role, one_of(part, CALL), one_of(part, RESPONSE)) {
            (Role::Assistant, Some(call), None) => Some((Kind::Call, call, "functionCall")),
            (Role::User, None, Some(resp)) => Some((Kind::Output, resp, "functionResponse")),
            (Role::User, Some(_), _) => {
                out.push(bad("`functionCall` in a user turn"));
                continue;
            }
            (Role::Assistant, _, Some(_)) => {
                out.push(bad("`functionResponse` in a model turn"));
                continue;
            }
            _ => None,
        };
        let Some((kind, inner, label)) = paired else {
            if CODE.iter().any(|k| part.get(*k).is_some()) {
                out.push(Entry::new(Kind::Other, i, Some(j), "executableCode"));
            } else if !CONTENT.iter().any(|k| part.get(*k).is_some()) {
                out.push(bad("part without a field Gemini knows"));
            } else if role == Role::User
                && out.last().map(|e| (e.kind(), e.index())) != Some((Kind::Message(role), i))
            {
                out.push(message(Some(j)));
            }
            continue;
        };
        let name = inner.get("name").and_then(Value::as_str).unwrap_or("");
        if !matches!(inner.get("id"), None | Some(Value::Null | Value::String(_))) {
            out.push(bad("`id` is not a string"));
            continue;
        }
        let key = match id_of(inner) {
            Some(id) => Cow::Borrowed(id),
            None if kind == Kind::Call => {
                Cow::Owned(positional(name, rank_of(&mut names, name), Some(i)))
            }
            None => {
                let rank = rank_of(&mut names, name);
                call_turn
                    .key(name, rank, &claimed)
                    .unwrap_or_else(|| Cow::Owned(positional(name, rank, call_turn.index)))
            }
        };
        if kind == Kind::Call {
            turn_calls.push((name, key.clone()));
        }
        let signed = SIGNATURE.iter().any(|k| {
            part.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
        // A response is a Struct: a list or a scalar there is refused (`Proto field is not
        // repeating, cannot start list.`).
        let flaw = (kind == Kind::Output)
            .then(|| inner.get("response"))
            .flatten()
            .filter(|r| !r.is_object())
            .map(|_| Flaw::OutputShape);
        out.push(
            Entry::paired(kind, Family::Function, Some(key), i, Some(j), label)
                .with_trace(Trace {
                    signature: signed,
                    ..Trace::default()
                })
                .with_flaw(flaw)
                .with_content(
                    (kind == Kind::Call)
                        .then(|| content::of_values(&[inner.get("name"), inner.get("args")])),
                ),
        );
    }
    if !turn_calls.is_empty() {
        *call_turn = CallTurn {
            index: Some(i),
            calls: turn_calls,
        };
    }
}
