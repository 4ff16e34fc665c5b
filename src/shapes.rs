//! Rules about the shape of single items beside pairing: what the adapters saw as they read
//! an item that its API refuses (a [`Flaw`]). The arguments of a call are judged only for the
//! servers that parse them (profile `self-hosted`), where OpenAI passes them as they are; an
//! image outside the user's messages only for OpenAI (profile `openai-chat`), where Anthropic
//! takes one in a tool result; a tool output given as parts only for Groq (profile `groq`).

use crate::profile::Profile;
use crate::rule::{reshapes, Rule};
use crate::skeleton::{Flaw, Skeleton};
use crate::verdict::{Action, Found, Verdict};

pub(crate) fn analyze(skel: &Skeleton, verdicts: &[Verdict]) -> Vec<Found> {
    let entries = &skel.entries;
    if !entries.may_have_flaws() {
        return Vec::new();
    }
    let arguments = skel.profile == Some(Profile::SelfHosted);
    let images = skel.profile == Some(Profile::OpenaiChat);
    let strings = skel.profile == Some(Profile::Groq);
    entries
        .iter()
        .enumerate()
        // An item a repair removes for pairing is not sent.
        .filter(|(i, _)| verdicts[*i].removal().is_none())
        .filter_map(|(i, e)| {
            let rule = match e.flaw()? {
                Flaw::BlankText | Flaw::BlankCachedText => Rule::BlankTextBlock,
                // Judged with the chat template's rules (`templates.rs`).
                Flaw::WrappedToolResponse => return None,
                Flaw::InputNotObject => Rule::InvalidCallInput,
                Flaw::OutputShape => Rule::InvalidOutputShape,
                Flaw::ArgumentsNotObject if arguments => Rule::InvalidArguments,
                Flaw::ArgumentsNotObject => return None,
                Flaw::ImageOutsideUser if images => Rule::ImageOutsideUser,
                Flaw::ImageOutsideUser | Flaw::ContentNotString
                    if strings && e.label() == "tool" =>
                {
                    Rule::ToolContentNotString
                }
                Flaw::ImageOutsideUser | Flaw::ContentNotString => return None,
            };
            Some(Found {
                entry: i,
                rule,
                violation: true,
                action: if reshapes(e.label()) && rule == Rule::InvalidOutputShape {
                    Action::Reshape
                } else {
                    Action::Leave
                },
            })
        })
        .collect()
}
