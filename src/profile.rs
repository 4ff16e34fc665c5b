//! Model profiles: refusals that depend on the model behind an API, not on the API.
//!
//! One Chat Completions history may be sent to DeepSeek, to Mistral and to Gemini, and each
//! refuses something the others accept. A profile is the set of rules one family of models
//! adds; it is selected by the body's `model` field (or a model or profile name the caller
//! gives), and its rules never fire for another model.
//!
//! | profile | selected by | rule | refusal |
//! | --- | --- | --- | --- |
//! | `deepseek-thinking` | `deepseek-reasoner`, `deepseek-r1`, V4 models unless `thinking.type` is `disabled`, any DeepSeek model with `thinking.type` `enabled` | `missing_reasoning_content` | ``Missing `reasoning_content` field in the assistant message at message index 1.`` |
//! | `mistral` | `mistral-*`, `devstral-*`, `codestral-*`, `magistral-*`, … | `invalid_call_id` | `Tool call id was call_… but must be a-z, A-Z, 0-9, with a length of 9.` |
//! | `anthropic-thinking` | a `claude` model with `thinking.type` `enabled` or `adaptive` | `missing_thinking_block` | ``messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. …`` |
//! | `gemini-3` | `gemini-3*` (not the image models, which do not check) | `missing_thought_signature` | `Function call is missing a thought_signature in functionCall parts. …` |
//! | `openai-chat` | `gpt-*` (not `gpt-oss`, hosted elsewhere), `chatgpt-*`, `o1`/`o3`/`o4` models, in a Chat body | `call_id_too_long`, `image_outside_user` | `string too long. Expected a string with maximum length 40`; `Image URLs are only allowed for messages with role 'user'` |
//! | `groq` | named (`--model groq`), or a model under the `groq/` prefix | `tool_content_not_string` | ``'messages.2' : for 'role:tool' the following must be satisfied[('messages.2.content' : value must be a string)]`` |
//! | `self-hosted` | named only (`vllm`, `sglang`, `llama.cpp`): a server, not a model | `invalid_arguments`; with the body's model, its chat template's rules (the `self-hosted` profile's): `roles_not_alternating` (Mistral), `no_user_query` (Qwen 3.5 on) | `Expecting ',' delimiter: line 1 column 54 (char 53)` (the server parses each replayed call's `arguments` for its chat template); `After the optional system message, conversation roles must alternate user and assistant roles except for tool calls and results.`; `No user query found in messages.` |
//! | `openai-reasoning` | `gpt-5*` (not `-chat`), `o1`/`o3`/`o4`, `codex-*`, in a Responses body or a rollout | `missing_reasoning`, even in a body that shows no reasoning item, unless `store` is `false` | ``Item 'fc_…' of type 'function_call' was provided without its required 'reasoning' item: 'rs_…'.`` |
//! | `deepseek-responses` | any DeepSeek model, in a Responses body or a rollout | `interleaved_message`, where OpenAI accepts it | `No tool output found for tool call call_…` (an item between a call and its output, even a reasoning item between parallel calls) |
//!
//! Each rule keeps the model's own exceptions: an assistant message without calls needs no
//! `reasoning_content`; only the tool loop still open (no user turn after it) needs its thinking
//! block; only the calls of the current turn need signatures, and only the first call of each
//! model turn. What only the model could write back (reasoning, signed thinking, signatures) is
//! reported and never made up; Mistral ids are rewritten on the call and its outputs alike.
//!
//! ```
//! use serde_json::json;
//!
//! let body = json!({"model": "deepseek-reasoner", "messages": [
//!     {"role": "user", "content": "list the files"},
//!     {"role": "assistant", "content": null, "tool_calls": [
//!         {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
//!     {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}]});
//! let report = toolseq::check(&body, None).unwrap();
//! assert_eq!(report.profile.as_ref().unwrap().profile, toolseq::Profile::DeepseekThinking);
//! assert_eq!(report.violations[0].rule, toolseq::Rule::MissingReasoningContent);
//! // The same history, sent to a Mistral model, breaks another rule.
//! let report = toolseq::check_for(&body, None, "devstral-medium-2512").unwrap();
//! assert_eq!(report.violations[0].rule, toolseq::Rule::InvalidCallId);
//! ```

use std::fmt;

use serde_json::Value;

use crate::format::Format;
use crate::models::{mistral_model, o_series};
pub use crate::models::{Profile, ProfileError};
use crate::rule::Rule;
use crate::skeleton::{Adjacency, CallIdRule, Family, Kind, Role, Skeleton, Template};
use crate::verdict::{Action, Found, Verdict};

/// The value Google documents for a function call whose thought signature was lost ("skip the
/// validator"). The model then continues without its earlier reasoning, so a repair uses it only
/// when the caller opts in ([`RepairOptions::thought_signature_bypass`](crate::RepairOptions)).
pub const BYPASS_SIGNATURE: &str = "skip_thought_signature_validator";

/// The profile applied to a history, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The profile.
    pub profile: Profile,
    /// What decided it: which field or name matched (`body \`model\` is \`deepseek-reasoner\`:
    /// the model always thinks`).
    pub evidence: String,
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.profile, self.evidence)
    }
}

/// The profile for a body of this format: from `named` (a model or profile name the caller
/// gives) when present, else from the body's `model`, with the body's `thinking.type`.
///
/// A profile for other formats than the body's is not applied (a DeepSeek model behind an
/// Anthropic-format endpoint keeps Anthropic's rules); naming such a profile outright is an
/// error, since the caller asked for rules toolseq cannot check on this body.
#[doc(hidden)]
pub fn select(
    body: &Value,
    format: Format,
    named: Option<&str>,
) -> Result<Option<Selection>, ProfileError> {
    let thinking = body
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str);
    if let Some(profile) = named.and_then(|n| n.parse::<Profile>().ok()) {
        if !profile.formats().contains(&format) {
            return Err(ProfileError::Format { profile, format });
        }
        return Ok(Some(Selection {
            profile,
            evidence: format!("profile `{profile}` given"),
        }));
    }
    let (model, whence) = match named {
        Some(model) => (model, "given model"),
        None => match body.get("model").and_then(Value::as_str) {
            Some(model) => (model, "body `model`"),
            None => return Ok(None),
        },
    };
    let responses = Profile::DeepseekResponses.formats().contains(&format);
    let found = if responses && model.to_ascii_lowercase().contains("deepseek") {
        Some((
            Profile::DeepseekResponses,
            "a DeepSeek model, whose Responses endpoint pairs by position",
        ))
    } else if responses && reasoning_model(model) {
        Some((Profile::OpenaiReasoning, "an OpenAI reasoning model"))
    } else {
        Profile::of_model(model, thinking)
    };
    Ok(found
        .filter(|(profile, _)| profile.formats().contains(&format))
        .map(|(profile, why)| Selection {
            profile,
            evidence: format!("{whence} is `{}`: {why}", model.escape_debug()),
        }))
}

/// Makes a skeleton's analysis include a profile's rules. `signature_bypass`: whether a repair
/// may answer missing thought signatures with [`BYPASS_SIGNATURE`].
pub(crate) fn apply(skel: &mut Skeleton<'_>, profile: Profile, signature_bypass: bool) {
    skel.profile = Some(profile);
    skel.signature_bypass = signature_bypass;
    match profile {
        Profile::Mistral => skel.call_ids = CallIdRule::MISTRAL,
        Profile::DeepseekResponses => skel.adjacency = Adjacency::Positional,
        Profile::OpenaiChat => skel.call_ids.max_len = Some(40),
        _ => {}
    }
}

/// [`select`]s the profile for a body read into `skel` and [`apply`]s it; returns the
/// selection for the report.
#[doc(hidden)]
pub fn fit(
    skel: &mut Skeleton<'_>,
    body: &Value,
    format: Format,
    named: Option<&str>,
    signature_bypass: bool,
) -> Result<Option<Selection>, ProfileError> {
    let mut selection = select(body, format, named)?;
    if let Some(s) = &mut selection {
        apply(skel, s.profile, signature_bypass);
        // A server hosts any model: the body's says which template it renders.
        if s.profile == Profile::SelfHosted {
            skel.template = body
                .get("model")
                .and_then(Value::as_str)
                .and_then(template_of);
            if let Some(t) = skel.template {
                s.evidence.push_str(match t {
                    Template::Mistral => "; body `model` renders Mistral's chat template",
                    _ => "; body `model` renders Qwen's chat template",
                });
            }
            // Mistral's tokenizer (vLLM's `--tokenizer-mode mistral`) and its older templates
            // hold a server's call ids to Mistral's own rule.
            if skel.template == Some(Template::Mistral) {
                skel.call_ids = CallIdRule::MISTRAL;
            }
        }
    }
    let model = named
        .filter(|n| n.parse::<Profile>().is_err())
        .or_else(|| body.get("model").and_then(Value::as_str));
    skel.no_prefill = format == Format::Anthropic && model.is_some_and(refuses_prefill);
    Ok(selection)
}

/// The chat template a self-hosted server renders this model's history with, where its rules
/// are known (the `self-hosted` profile's): Mistral's, or Qwen's from 3.5 on (`Qwen/Qwen3.5-27B`,
/// `qwen3.6:35b`; Qwen 3's own template does not check for a query).
pub(crate) fn template_of(model: &str) -> Option<Template> {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    if mistral_model(&name) {
        return Some(Template::Mistral);
    }
    let at = name.find("qwen")?;
    let version = &name[at + 4..];
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(version);
    let major: u32 = version[..n].parse().ok()?;
    let minor: u32 = match version[n..].strip_prefix(['.', '_']) {
        Some(rest) => rest[..digits(rest)].parse().unwrap_or(0),
        None => 0,
    };
    ((major, minor) >= (3, 5)).then_some(Template::Qwen)
}

/// Whether an OpenAI model reasons before it answers: `gpt-5*` (not the `-chat` ones), the `o`
/// series and `codex-*`.
fn reasoning_model(model: &str) -> bool {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    (name.starts_with("gpt-5") && !name.contains("-chat"))
        || o_series(&name)
        || name.starts_with("codex-")
}

/// Whether a Claude model refuses a conversation ending on its own turn: 4.6 and later do
/// (`This model does not support assistant message prefill. The conversation must end with a
/// user message.`, seen with `claude-opus-4-6` to `4-8`, `claude-sonnet-4-6`, Sonnet 5 and Fable
/// 5), 4.5 and earlier accept a prefill. The version is the first number in the name and the
/// one after it, whichever side of the family it is on (`claude-3-5-sonnet-20241022`,
/// `claude-opus-4-6`, `anthropic.claude-sonnet-4-6-v1:0`); dates are not versions.
pub(crate) fn refuses_prefill(model: &str) -> bool {
    let name = model.to_ascii_lowercase();
    let Some(at) = name.find("claude") else {
        return false;
    };
    let mut numbers = name[at..]
        .split(['-', '.', '@', ':', '/', '_', '[', ']'])
        .filter(|t| !t.is_empty() && t.len() < 8 && t.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|t| t.parse::<u32>().ok());
    let Some(major) = numbers.next() else {
        return false;
    };
    let minor = numbers.next().filter(|&m| m < 100).unwrap_or(0);
    (major, minor) >= (4, 6)
}

/// What the profile's rules find (Mistral's ids are judged with the other ids, in `ids.rs`).
pub(crate) fn analyze(skel: &Skeleton, verdicts: &[Verdict]) -> Vec<Found> {
    let Some(profile) = skel.profile else {
        return Vec::new();
    };
    let entries = &skel.entries;
    let leave = Found::leave;
    // The first function call of each message, from `from` on.
    let first_calls = |from: usize| {
        let mut last_item = None;
        (from..entries.len()).filter(move |&i| {
            let e = entries.at(i);
            let first = e.kind() == Kind::Call
                && e.family() == Some(Family::Function)
                && last_item != Some(e.index());
            if first {
                last_item = Some(e.index());
            }
            first
        })
    };
    match profile {
        // Judged by pairing, under the adjacency `apply` set, or with the shapes.
        Profile::Mistral
        | Profile::DeepseekResponses
        | Profile::SelfHosted
        | Profile::OpenaiChat
        | Profile::Groq
        | Profile::OpenaiReasoning => Vec::new(),
        // Every turn that called tools: DeepSeek asks for the reasoning of all of them back.
        // An empty `reasoning_content` is accepted in its place, when the caller opts in.
        Profile::DeepseekThinking => first_calls(0)
            .filter(|&i| !entries.at(i).trace().reasoning)
            .map(|i| Found {
                action: if skel.placeholders {
                    Action::Placeholder
                } else {
                    Action::Leave
                },
                ..leave(i, Rule::MissingReasoningContent)
            })
            .collect(),
        // Earlier turns' thinking is dropped by the API; only the open loop's is checked.
        Profile::AnthropicThinking => first_calls(turn_start(skel))
            .next()
            .filter(|&i| !entries.at(i).trace().thinking_first)
            .map(|i| leave(i, Rule::MissingThinkingBlock))
            .into_iter()
            .collect(),
        Profile::Gemini3 => {
            let action = || {
                if skel.signature_bypass {
                    Action::Bypass
                } else {
                    Action::Leave
                }
            };
            let mut found = Vec::new();
            for i in first_calls(turn_start(skel)) {
                let removed = verdicts[i].removal().is_some();
                if !entries.at(i).trace().signature {
                    found.push(Found {
                        entry: i,
                        rule: Rule::MissingThoughtSignature,
                        violation: true,
                        action: if removed { Action::Leave } else { action() },
                    });
                }
                // A repair that removes the first call (a duplicate) leaves the next one first.
                if removed {
                    let next = (i + 1..entries.len())
                        .take_while(|&j| entries.at(j).index() == entries.at(i).index())
                        .find(|&j| {
                            entries.at(j).kind() == Kind::Call && verdicts[j].removal().is_none()
                        });
                    if let Some(j) = next.filter(|&j| !entries.at(j).trace().signature) {
                        found.push(Found {
                            entry: j,
                            rule: Rule::MissingThoughtSignature,
                            violation: false,
                            action: action(),
                        });
                    }
                }
            }
            found
        }
    }
}

/// The first entry of the current turn: after the last message the user wrote that holds no
/// tool outputs. A message of outputs with text beside them continues the turn, so a check never
/// skips a loop the API may still see as open.
fn turn_start(skel: &Skeleton) -> usize {
    let entries = &skel.entries;
    let mut start = 0;
    let mut i = 0;
    while i < entries.len() {
        let index = entries.at(i).index();
        let mut end = i + 1;
        while entries.get(end).is_some_and(|e| e.index() == index) {
            end += 1;
        }
        let item = || (i..end).map(|k| entries.at(k).kind());
        let user = item().any(|k| k == Kind::Message(Role::User));
        if user && !item().any(|k| k == Kind::Output) {
            start = end;
        }
        i = end;
    }
    start
}
