//! Rules of the chat templates a self-hosted server renders a Chat history with (profile
//! `self-hosted`). vLLM, SGLang and llama.cpp turn `messages` into the model's prompt with the
//! model's own Jinja template, and a template raises on shapes it does not expect; the server
//! answers with the template's words (a 400, or llama.cpp's 500 `Jinja Exception: …`) where
//! the model's maker's own API would have accepted the history.
//!
//! | template | models | rule | refusal |
//! | --- | --- | --- | --- |
//! | Mistral | `mistral*`, `devstral*`, `ministral*`, `magistral*`, `codestral*`, … | `roles_not_alternating` | `After the optional system message, conversation roles must alternate user and assistant roles except for tool calls and results.` |
//! | Qwen | Qwen 3.5 and later | `no_user_query` | `No user query found in messages.` |
//!
//! Mistral's template skips an assistant message with calls and every tool message, then asks
//! the rest to go user, assistant, user, …: the user's next words right after tool results,
//! with no reply of the model between, break it, as do two system messages (opencode sends
//! three). Qwen's looks back from the end for the user's query and finds none when a
//! compaction or a trimmed window dropped the user's message, leaving instructions, calls and
//! results.

use crate::rule::Rule;
use crate::skeleton::{Flaw, Kind, Role, Skeleton, Template};
use crate::verdict::{Found, Verdict};

/// Whether a user message's text (its first and last text parts) is a tool response in Qwen's
/// tags, which Qwen's templates do not take for the user's query.
pub(crate) fn wraps_tool_response(first: &str, last: &str) -> bool {
    first.trim_start().starts_with("<tool_response>")
        && last.trim_end().ends_with("</tool_response>")
}

/// What a message is to Mistral's check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Not counted: an assistant message with calls, a tool message, a role it does not know.
    Skipped,
    /// A system or developer message: only the first message may be one.
    Instruction,
    /// Counted: the user's message, or the assistant's without calls.
    Speaks(Role),
}

pub(crate) fn analyze(skel: &Skeleton, verdicts: &[Verdict]) -> Vec<Found> {
    match skel.template {
        Some(Template::Mistral) => mistral(skel, verdicts),
        Some(Template::Qwen) => qwen(skel, verdicts),
        None => Vec::new(),
    }
}

/// Each message, as `(its first entry, what it is)`, of the entries a repair keeps.
fn turns<'s>(
    skel: &'s Skeleton<'s>,
    verdicts: &'s [Verdict],
) -> impl Iterator<Item = (usize, Turn)> + 's {
    let entries = &skel.entries;
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= entries.len() {
            return None;
        }
        let first = i;
        let index = entries.at(i).index();
        let (mut calls, mut speaks, mut instruction) = (false, None, false);
        while i < entries.len() && entries.at(i).index() == index {
            let e = entries.at(i);
            if verdicts[i].removal().is_none() {
                // A malformed call still sits in `tool_calls`, which the template skips.
                calls |=
                    e.kind() == Kind::Call || (e.label() == "tool_calls" && e.block().is_some());
                match (e.kind(), e.label()) {
                    (Kind::Message(_), "system" | "developer") => instruction = true,
                    (Kind::Message(Role::User), "user") => speaks = Some(Role::User),
                    (Kind::Message(Role::Assistant), _) => speaks = Some(Role::Assistant),
                    _ => {}
                }
            }
            i += 1;
        }
        let turn = match speaks {
            _ if instruction => Turn::Instruction,
            Some(Role::Assistant) if calls => Turn::Skipped,
            Some(role) => Turn::Speaks(role),
            None => Turn::Skipped,
        };
        Some((first, turn))
    })
}

fn mistral(skel: &Skeleton, verdicts: &[Verdict]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut last = None;
    for (n, (entry, turn)) in turns(skel, verdicts).enumerate() {
        match turn {
            Turn::Skipped => {}
            // The first message may be the system's; any later one breaks the template.
            Turn::Instruction if n == 0 && skel.entries.at(entry).label() == "system" => {}
            Turn::Instruction => found.push(Found::leave(entry, Rule::RolesNotAlternating)),
            Turn::Speaks(role) => {
                let expected = match last {
                    None => Role::User,
                    Some(Role::User) => Role::Assistant,
                    Some(Role::Assistant) => Role::User,
                };
                if role != expected {
                    found.push(Found::leave(entry, Rule::RolesNotAlternating));
                }
                last = Some(role);
            }
        }
    }
    found
}

fn qwen(skel: &Skeleton, verdicts: &[Verdict]) -> Vec<Found> {
    let entries = &skel.entries;
    let query = (0..entries.len()).any(|i| {
        let e = entries.at(i);
        verdicts[i].removal().is_none()
            && e.kind() == Kind::Message(Role::User)
            && e.label() == "user"
            && e.flaw() != Some(Flaw::WrappedToolResponse)
    });
    if query || entries.is_empty() {
        return Vec::new();
    }
    vec![Found::leave(0, Rule::NoUserQuery)]
}
