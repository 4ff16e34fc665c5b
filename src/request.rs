//! Rules about the request around the history rather than its pairs: tools it must define
//! when it replays tool use, and the turn it must end on for a model that takes no prefill.
//! Neither can be repaired: tool definitions cannot be invented, nor the user's next turn.

use crate::rule::Rule;
use crate::skeleton::{Family, Kind, Role, Skeleton};
use crate::verdict::Found;

pub(crate) fn analyze(skel: &Skeleton) -> Vec<Found> {
    let entries = &skel.entries;
    let leave = Found::leave;
    let mut found = Vec::new();
    if skel.tools_undefined {
        // Reported once, on the first client tool block: server tools are defined apart.
        let first = entries.iter().position(|e| {
            matches!(e.kind(), Kind::Call | Kind::Output) && e.family() != Some(Family::ServerTool)
        });
        found.extend(first.map(|i| leave(i, Rule::ToolsUndefined)));
    }
    if skel.no_prefill {
        // The last message is the model's and holds no call: a call left open is
        // `missing_output`, which its own repair answers with a user turn.
        if let Some(last) = entries.last() {
            let index = last.index();
            let mut start = entries.len() - 1;
            while start > 0 && entries.at(start - 1).index() == index {
                start -= 1;
            }
            let kinds = || (start..entries.len()).map(|i| entries.at(i).kind());
            let model_turn = kinds().all(|k| {
                matches!(
                    k,
                    Kind::Message(Role::Assistant) | Kind::Other | Kind::Reasoning
                )
            }) && kinds().any(|k| k == Kind::Message(Role::Assistant));
            if model_turn {
                found.push(leave(start, Rule::PrefillUnsupported));
            }
        }
    }
    found
}
