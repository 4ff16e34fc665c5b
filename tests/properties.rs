//! Properties of check and repair over generated histories of every format.

use proptest::prelude::*;
use serde_json::{json, Value};
use toolseq::{check, repair, Change, Format, RepairOptions};

/// Ids drawn from a small pool so that duplicates, orphans and misses are common.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![4 => (0..6u8).prop_map(|n| format!("call_{n}")), 1 => Just(String::new())]
}

#[derive(Debug, Clone)]
enum Step {
    Call(u8, String),
    Output(u8, String),
    User,
    Assistant,
    Other(u8),
    /// An item of a shape or with an id its API refuses beside pairing (a made-up item id, a
    /// blank text block, a string where an object goes, an empty error result).
    Odd(u8, String),
}

fn step() -> impl Strategy<Value = Step> {
    step_of(id)
}

fn step_of<S: Strategy<Value = String>>(ids: fn() -> S) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..4u8, ids()).prop_map(|(k, i)| Step::Call(k, i)),
        4 => (0..4u8, ids()).prop_map(|(k, i)| Step::Output(k, i)),
        2 => Just(Step::User),
        1 => Just(Step::Assistant),
        2 => (0..4u8).prop_map(Step::Other),
        1 => (0..4u8, ids()).prop_map(|(k, i)| Step::Odd(k, i)),
    ]
}

/// Builds a history of one format from steps. Every message carries a unique `m<n>` marker and
/// every call/output a unique `x<n>` marker, so survival and order can be checked.
fn build(format: Format, steps: &[Step]) -> Value {
    let mut n = 0;
    let mut mark = |p: &str| {
        n += 1;
        format!("{p}{n}")
    };
    match format {
        Format::Responses => {
            let items: Vec<Value> = steps
                .iter()
                .map(|s| match s {
                    Step::Call(k, id) => {
                        let t = [
                            "function_call",
                            "custom_tool_call",
                            "local_shell_call",
                            "function_call",
                        ][*k as usize];
                        // Server ids from a small pool, so that duplicates happen.
                        json!({"type": t, "call_id": id, "id": format!("fc_{k}"), "name": mark("x")})
                    }
                    Step::Output(k, id) => {
                        let t =
                            ["function_call_output", "custom_tool_call_output"][(*k % 2) as usize];
                        json!({"type": t, "call_id": id, "output": mark("x")})
                    }
                    Step::User => json!({"type": "message", "role": "user", "content": mark("m")}),
                    Step::Assistant => json!({"role": "assistant", "content": mark("m")}),
                    Step::Other(0) => json!({"type": "reasoning", "summary": []}),
                    Step::Other(1) => {
                        json!({"type": "reasoning", "id": mark("rs_"), "summary": []})
                    }
                    Step::Other(2) => {
                        json!({"type": "reasoning", "id": "rs_dup", "encrypted_content": "e"})
                    }
                    Step::Other(_) => json!({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
                    Step::Odd(0, id) => json!({"type": "function_call", "call_id": id, "id": "call_own", "name": mark("x")}),
                    Step::Odd(1, _) => json!({"type": "message", "role": "assistant", "id": "", "content": mark("m")}),
                    Step::Odd(2, id) => json!({"type": "computer_call_output", "call_id": id, "output": mark("x")}),
                    Step::Odd(_, _) => json!({"type": "reasoning", "id": "item_1", "summary": [], "encrypted_content": "e"}),
                })
                .collect();
            // A history that starts odd continues a stored response: its outputs may answer
            // calls out of sight, so they stay and are judged for their shape.
            if matches!(steps.first(), Some(Step::Odd(..))) {
                json!({"previous_response_id": "resp_0", "input": items})
            } else {
                json!({"input": items})
            }
        }
        Format::Chat => {
            let mut msgs: Vec<Value> = Vec::new();
            for s in steps {
                match s {
                    Step::Call(_, id) => {
                        let call = json!({"id": id, "type": "function", "function": {"name": mark("x"), "arguments": "{}"}});
                        // Consecutive calls join one assistant message (parallel calls).
                        match msgs.last_mut() {
                            Some(m) if m.get("tool_calls").is_some() => {
                                m["tool_calls"].as_array_mut().unwrap().push(call)
                            }
                            _ => msgs.push(
                                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                            ),
                        }
                    }
                    Step::Output(_, id) => {
                        msgs.push(json!({"role": "tool", "tool_call_id": id, "content": mark("x")}))
                    }
                    Step::User => msgs.push(json!({"role": "user", "content": mark("m")})),
                    Step::Assistant => {
                        msgs.push(json!({"role": "assistant", "content": mark("m")}))
                    }
                    Step::Other(_) => msgs.push(json!({"role": "system", "content": mark("m")})),
                    Step::Odd(_, id) => {
                        msgs.push(json!({"role": "tool", "tool_call_id": id, "content": [
                        {"type": "text", "text": mark("x")},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}))
                    }
                }
            }
            json!({"messages": msgs})
        }
        Format::Anthropic | Format::Rollout => {
            let mut msgs: Vec<Value> = Vec::new();
            for s in steps {
                let (role, block) = match s {
                    Step::Call(_, id) => (
                        "assistant",
                        json!({"type": "tool_use", "id": id, "name": mark("x"), "input": {}}),
                    ),
                    Step::Output(_, id) => (
                        "user",
                        json!({"type": "tool_result", "tool_use_id": id, "content": mark("x")}),
                    ),
                    Step::User | Step::Other(_) => {
                        ("user", json!({"type": "text", "text": mark("m")}))
                    }
                    Step::Assistant => ("assistant", json!({"type": "text", "text": mark("m")})),
                    Step::Odd(k, _) if k % 2 == 0 => ("user", json!({"type": "text", "text": " "})),
                    Step::Odd(_, id) => (
                        "assistant",
                        json!({"type": "tool_use", "id": id, "name": mark("x"), "input": "{\"a\": "}),
                    ),
                };
                // Consecutive steps of one role share a message, as they would in a real client.
                match msgs.last_mut() {
                    Some(m) if m["role"] == role => {
                        m["content"].as_array_mut().unwrap().push(block)
                    }
                    _ => msgs.push(json!({"role": role, "content": [block]})),
                }
            }
            json!({"messages": msgs})
        }
        Format::Gemini | Format::Bedrock => build_blocks(format, steps, &mut mark),
        other => panic!("no builder for {other}"),
    }
}

/// Gemini contents or Bedrock messages: consecutive steps of one side share a turn. Gemini
/// calls with an odd kind carry no id and are named by their id instead, so that responses pair
/// by name and rank.
fn build_blocks(format: Format, steps: &[Step], mark: &mut impl FnMut(&str) -> String) -> Value {
    let gemini = format == Format::Gemini;
    let (model, field) = if gemini {
        ("model", "parts")
    } else {
        ("assistant", "content")
    };
    let mut turns: Vec<Value> = Vec::new();
    for s in steps {
        let (role, block) = match (s, gemini) {
            (Step::Call(k, id), true) if k % 2 == 1 => (
                model,
                json!({"functionCall": {"name": id, "args": {"m": mark("x")}}}),
            ),
            (Step::Call(_, id), true) => (
                model,
                json!({"functionCall": {"id": id, "name": "f", "args": {"m": mark("x")}}}),
            ),
            (Step::Output(k, id), true) if k % 2 == 1 => (
                "user",
                json!({"functionResponse": {"name": id, "response": {"m": mark("x")}}}),
            ),
            (Step::Output(_, id), true) => (
                "user",
                json!({"functionResponse": {"id": id, "name": "f", "response": {"m": mark("x")}}}),
            ),
            (Step::Call(_, id), false) => (
                model,
                json!({"toolUse": {"toolUseId": id, "name": "ls", "input": {"m": mark("x")}}}),
            ),
            (Step::Output(k, id), false) => {
                // Some results are errors; an error needs content, which these have.
                let status = if k % 2 == 1 { "error" } else { "success" };
                (
                    "user",
                    json!({"toolResult": {"toolUseId": id, "content": [{"text": mark("x")}], "status": status}}),
                )
            }
            (Step::Odd(_, id), true) => (
                "user",
                json!({"functionResponse": {"id": id, "name": "f", "response": [mark("x")]}}),
            ),
            (Step::Odd(_, id), false) => (
                "user",
                json!({"toolResult": {"toolUseId": id, "content": [], "status": "error"}}),
            ),
            (Step::User | Step::Other(_), _) => ("user", json!({"text": mark("m")})),
            (Step::Assistant, _) => (model, json!({"text": mark("m")})),
        };
        match turns.last_mut() {
            Some(t) if t["role"] == role => t[field].as_array_mut().unwrap().push(block),
            _ => turns.push(json!({"role": role, field: [block]})),
        }
    }
    if gemini {
        json!({"contents": turns})
    } else {
        json!({"messages": turns, "inferenceConfig": {"maxTokens": 10}})
    }
}

/// Every string in `v` starting with `prefix`, in document order.
fn markers(v: &Value, prefix: char, out: &mut Vec<String>) {
    match v {
        Value::String(s)
            if s.starts_with(prefix)
                && s[1..].chars().all(|c| c.is_ascii_digit())
                && s.len() > 1 =>
        {
            out.push(s.clone())
        }
        Value::Array(a) => a.iter().for_each(|x| markers(x, prefix, out)),
        Value::Object(o) => o.values().for_each(|x| markers(x, prefix, out)),
        _ => {}
    }
}

/// The markers of the calls in `v`: every generator puts a call's marker in its `name`.
fn call_markers(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| call_markers(x, out)),
        Value::Object(o) => {
            if let Some(Value::String(n)) = o.get("name") {
                if n.starts_with('x') {
                    out.push(n.clone());
                }
            }
            o.values().for_each(|x| call_markers(x, out));
        }
        _ => {}
    }
}

fn of(v: &Value, prefix: char) -> Vec<String> {
    let mut out = Vec::new();
    markers(v, prefix, &mut out);
    out
}

/// Stores some calls twice, as a client that writes a turn again does: each pick (the nth call,
/// counted round the body's calls) gets a copy, word for word, right after it.
fn store_twice(format: Format, body: &mut Value, picks: &[usize]) {
    let is_call = |v: &Value| match format {
        Format::Responses => v["type"].as_str().is_some_and(|t| t.ends_with("_call")),
        Format::Chat => v.get("function").is_some(),
        Format::Anthropic => v["type"] == "tool_use",
        Format::Gemini => v.get("functionCall").is_some(),
        _ => v.get("toolUse").is_some(),
    };
    let mut lists: Vec<&mut Vec<Value>> = match format {
        Format::Responses => vec![body["input"].as_array_mut().unwrap()],
        _ => {
            let (list, field) = match format {
                Format::Chat => ("messages", "tool_calls"),
                Format::Gemini => ("contents", "parts"),
                _ => ("messages", "content"),
            };
            body[list]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .filter_map(|m| m.get_mut(field).and_then(Value::as_array_mut))
                .collect()
        }
    };
    let total: usize = lists
        .iter()
        .map(|l| l.iter().filter(|v| is_call(v)).count())
        .sum();
    if total == 0 {
        return;
    }
    for &pick in picks {
        let mut nth = pick % total;
        for list in lists.iter_mut() {
            let Some(at) = list.iter().position(|v| {
                is_call(v) && {
                    let hit = nth == 0;
                    nth = nth.saturating_sub(1);
                    hit
                }
            }) else {
                continue;
            };
            let copy = list[at].clone();
            list.insert(at + 1, copy);
            break;
        }
    }
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Responses),
        Just(Format::Chat),
        Just(Format::Anthropic),
        Just(Format::Gemini),
        Just(Format::Bedrock)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn repair_leaves_nothing_repairable_and_is_idempotent(
        f in format(),
        steps in prop::collection::vec(step(), 0..40),
        copies in prop::collection::vec(0..40usize, 0..3),
    ) {
        let mut body = build(f, &steps);
        store_twice(f, &mut body, &copies);
        let before = body.clone();
        let report = repair(&mut body, Some(f), &RepairOptions::default()).unwrap();
        let left: Vec<_> = check(&body, Some(f)).unwrap().violations.into_iter().filter(|v| v.repairable()).collect();
        prop_assert!(left.is_empty(), "left {:?}\nbefore {:#}\nafter {:#}", left, before, body);
        // A reasoning item and the item it precedes survive or go together.
        if let Some(items) = body["input"].as_array() {
            for (i, it) in items.iter().enumerate() {
                if it["type"] == "reasoning" && it.get("id").is_some() {
                    let next = items.get(i + 1);
                    prop_assert!(next.is_some_and(|n| n.get("id").is_some() && n["type"] != "reasoning"),
                        "dangling reasoning at {}: {:#}", i, body);
                }
            }
        }
        let once = body.clone();
        let again = repair(&mut body, Some(f), &RepairOptions::default()).unwrap();
        prop_assert_eq!(&body, &once);
        prop_assert!(again.changes.is_empty());
        // A report with no repairable violation changed nothing.
        if report.violations.iter().all(|v| !v.repairable()) {
            prop_assert_eq!(&once, &before);
        }
    }

    /// A call that may have run is never removed: the only call a repair takes out is the same
    /// item recorded twice (the server item id of a call already there, or a word-for-word copy
    /// of a call of its turn, which the repaired body still holds).
    #[test]
    fn no_repair_removes_a_call_that_may_have_run(
        f in format(),
        steps in prop::collection::vec(step(), 0..40),
        copies in prop::collection::vec(0..40usize, 0..3),
    ) {
        let mut body = build(f, &steps);
        store_twice(f, &mut body, &copies);
        let before = body.clone();
        let report = repair(&mut body, Some(f), &RepairOptions::default()).unwrap();
        let mut after = Vec::new();
        call_markers(&body, &mut after);
        for c in &report.changes {
            if let Change::Removed { item, rule, .. } = c {
                let mut removed = Vec::new();
                call_markers(item, &mut removed);
                if !removed.is_empty() {
                    prop_assert_eq!(*rule, toolseq::Rule::DuplicateCall, "{:#}", item);
                    // A Responses item whose server id and call id an earlier call has too, or
                    // a copy of a call the repaired body still holds, word for word.
                    let same_item = f == Format::Responses && before["input"].as_array().unwrap().iter().any(|c| {
                        c["id"] == item["id"] && c["call_id"] == item["call_id"] && c["name"] != item["name"]
                    });
                    // (Each generated call has a marker of its own, which its copy shares.)
                    let kept = removed.iter().all(|m| after.contains(m));
                    prop_assert!(same_item || kept, "a call removed that was not recorded before: {:#}", item);
                    after.extend(removed);
                }
            }
        }
        let mut was = Vec::new();
        call_markers(&before, &mut was);
        after.sort();
        was.sort();
        prop_assert_eq!(after, was);
    }

    #[test]
    fn messages_survive_in_order_and_removed_items_are_reported(
        f in format(),
        steps in prop::collection::vec(step(), 0..40),
        copies in prop::collection::vec(0..40usize, 0..3),
    ) {
        let mut body = build(f, &steps);
        store_twice(f, &mut body, &copies);
        let before = body.clone();
        let report = repair(&mut body, Some(f), &RepairOptions::default()).unwrap();
        prop_assert_eq!(of(&body, 'm'), of(&before, 'm'));
        let mut kept = of(&body, 'x');
        for c in &report.changes {
            if let Change::Removed { item, .. } = c {
                markers(item, 'x', &mut kept);
            }
        }
        let mut was = of(&before, 'x');
        kept.sort();
        was.sort();
        prop_assert_eq!(kept, was);
    }

    /// The guard runs the same pipeline: it never changes a body the checker calls clean (or
    /// holds only what no repair mends), and what it sends has nothing repairable left.
    #[test]
    fn the_guard_never_changes_a_clean_body(
        f in format(),
        steps in prop::collection::vec(step(), 0..40),
        copies in prop::collection::vec(0..40usize, 0..3),
    ) {
        let mut body = build(f, &steps);
        store_twice(f, &mut body, &copies);
        let ledger = toolseq::ledger::Ledger::new();
        let guard = toolseq::Guard::new(&ledger);
        let mut sent = body.clone();
        let Ok(report) = guard.prepare("c", &mut sent) else {
            prop_assert_eq!(&sent, &body);
            return Ok(());
        };
        let format = report.detection.format;
        let before = check(&body, Some(format)).unwrap();
        if before.violations.iter().all(|v| !v.repairable()) {
            prop_assert_eq!(&sent, &body, "{}", before);
            prop_assert!(report.changes.is_empty());
        }
        let left: Vec<_> = check(&sent, Some(format)).unwrap().violations.into_iter().filter(|v| v.repairable()).collect();
        prop_assert!(left.is_empty(), "left {:?}\nsent {:#}", left, sent);
    }

    /// Opted-in placeholders only add: every message survives in order, nothing repairable is
    /// left, and a second repair changes nothing.
    #[test]
    fn placeholders_only_add_and_settle(f in format(), steps in prop::collection::vec(step(), 0..40)) {
        let mut body = build(f, &steps);
        let before = body.clone();
        let opts = RepairOptions::default().placeholders(true);
        repair(&mut body, Some(f), &opts).unwrap();
        prop_assert_eq!(of(&body, 'm'), of(&before, 'm'));
        let left: Vec<_> = check(&body, Some(f)).unwrap().violations.into_iter().filter(|v| v.repairable()).collect();
        prop_assert!(left.is_empty(), "left {:?}\nbefore {:#}\nafter {:#}", left, before, body);
        let once = body.clone();
        prop_assert!(repair(&mut body, Some(f), &opts).unwrap().changes.is_empty(), "{:#}", once);
        prop_assert_eq!(body, once);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json(), forced in prop::option::of(prop::sample::select(Format::ALL.to_vec()))) {
        let _ = check(&v, forced);
        let mut w = v.clone();
        if let Ok(r) = repair(&mut w, forced, &RepairOptions::default()) {
            let _ = r.to_string();
            for viol in &r.violations { let _ = r.api_error(viol); }
        } else {
            prop_assert_eq!(w, v);
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type"),
        Just("role"),
        Just("call_id"),
        Just("tool_call_id"),
        Just("tool_use_id"),
        Just("id"),
        Just("content"),
        Just("tool_calls"),
        Just("messages"),
        Just("input"),
        Just("payload"),
        Just("execution"),
        Just("contents"),
        Just("parts"),
        Just("functionCall"),
        Just("functionResponse"),
        Just("name"),
        Just("toolUse"),
        Just("toolResult"),
        Just("toolUseId"),
        Just("status"),
        Just("text"),
        Just("x")
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("function_call"),
            Just("function_call_output"),
            Just("local_shell_call"),
            Just("custom_tool_call_output"),
            Just("tool_use"),
            Just("tool_result"),
            Just("message"),
            Just("user"),
            Just("assistant"),
            Just("tool"),
            Just("response_item"),
            Just("server"),
            Just("model"),
            Just("error"),
            Just("a"),
            Just("")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

#[derive(Debug, Clone)]
enum RolloutStep {
    Item(Step),
    Compact(u8),
    Rollback(u8),
}

fn rollout_step() -> impl Strategy<Value = RolloutStep> {
    prop_oneof![
        10 => step().prop_map(RolloutStep::Item),
        1 => (0..6u8).prop_map(RolloutStep::Compact),
        1 => (0..3u8).prop_map(RolloutStep::Rollback),
    ]
}

/// Rollout lines: items as `response_item` lines, compactions keeping the last few items of
/// the history so far (mid-turn ones included), rollbacks.
fn build_rollout(steps: &[RolloutStep]) -> Value {
    let mut lines = Vec::new();
    let mut live: Vec<Value> = Vec::new();
    let mut n = 0;
    for s in steps {
        n += 1;
        match s {
            RolloutStep::Item(step) => {
                let one = build(Format::Responses, std::slice::from_ref(step));
                let mut payload = one["input"][0].clone();
                // Markers unique across the file.
                if let Some(m) = payload.get_mut("output") {
                    *m = json!(format!("x{n}"));
                }
                live.push(payload.clone());
                lines.push(json!({"timestamp": n, "type": "response_item", "payload": payload}));
            }
            RolloutStep::Compact(k) => {
                let keep = live.len().saturating_sub(*k as usize);
                live = live.split_off(keep);
                lines.push(json!({"timestamp": n, "type": "compacted",
                                  "payload": {"message": "s", "replacement_history": live.clone()}}));
            }
            RolloutStep::Rollback(t) => lines.push(json!({"timestamp": n, "type": "event_msg",
                "payload": {"type": "thread_rolled_back", "num_turns": t}})),
        }
    }
    Value::Array(lines)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rollout_repair_leaves_the_resumed_history_clean_and_is_idempotent(
        steps in prop::collection::vec(rollout_step(), 0..40)
    ) {
        let mut body = build_rollout(&steps);
        let before = body.clone();
        repair(&mut body, Some(Format::Rollout), &RepairOptions::default()).unwrap();
        let left: Vec<_> = check(&body, Some(Format::Rollout)).unwrap().violations.into_iter()
            .filter(|v| v.repairable()).collect();
        prop_assert!(left.is_empty(), "left {:?}\nbefore {:#}\nafter {:#}", left, before, body);
        let once = body.clone();
        let again = repair(&mut body, Some(Format::Rollout), &RepairOptions::default()).unwrap();
        prop_assert_eq!(&body, &once);
        prop_assert!(again.changes.is_empty());
        // Lines that are not items are never touched.
        let meta = |v: &Value| -> Vec<Value> {
            v.as_array().unwrap().iter().filter(|l| l["type"] == "event_msg").cloned().collect()
        };
        prop_assert_eq!(meta(&once), meta(&before));
    }
}

/// Ids Mistral refuses (`call_0`) and accepts (`Okid00001`), from small pools.
fn mixed_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0..4u8).prop_map(|n| format!("call_{n}")),
        2 => (0..3u8).prop_map(|n| format!("Okid0000{n}")),
        1 => Just(String::new()),
    ]
}

/// Every call id in a Chat body renamed through `map`.
fn rename(body: &mut Value, map: &std::collections::BTreeMap<String, String>) {
    let swap = |v: &mut Value| {
        if let Some(new) = v.as_str().and_then(|id| map.get(id)) {
            *v = json!(new);
        }
    };
    for m in body["messages"].as_array_mut().unwrap() {
        if let Some(id) = m.get_mut("tool_call_id") {
            swap(id);
        }
        for c in m
            .get_mut("tool_calls")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(id) = c.get_mut("id") {
                swap(id);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Under Mistral, repair is the plain repair with one consistent renaming: each refused id
    /// gets one new id, on its call and every output, no two ids get the same one, and none
    /// takes an id the body already uses.
    #[test]
    fn mistral_repair_is_the_plain_repair_renamed(steps in prop::collection::vec(step_of(mixed_id), 0..40)) {
        let body = build(Format::Chat, &steps);
        let mut plain = body.clone();
        let plain_report = repair(&mut plain, Some(Format::Chat), &RepairOptions::default()).unwrap();
        // A reused id gets a fresh id of each profile's own making: no one renaming maps one
        // repair onto the other.
        prop_assume!(!plain_report.violations.iter().any(|v| v.rule == toolseq::Rule::ReusedCallId));
        let mut fixed = body.clone();
        let opts = RepairOptions::default().model("mistral-large-latest");
        let report = repair(&mut fixed, Some(Format::Chat), &opts).unwrap();
        let mut map = std::collections::BTreeMap::new();
        for c in &report.changes {
            if let Change::Rewritten { from, to, .. } = c {
                let first = map.entry(from.clone()).or_insert_with(|| to.clone());
                prop_assert_eq!(&*first, to, "{} renamed twice", from);
            }
        }
        let news: std::collections::BTreeSet<&String> = map.values().collect();
        prop_assert_eq!(news.len(), map.len());
        for new in &news {
            prop_assert!(!of_ids(&body).contains(*new), "{} was in use", new);
        }
        rename(&mut plain, &map);
        prop_assert_eq!(&plain, &fixed);
        let after = toolseq::check_for(&fixed, Some(Format::Chat), "mistral").unwrap();
        prop_assert!(after.violations.iter().all(|v| v.rule != toolseq::Rule::InvalidCallId), "{}", after);
        let once = fixed.clone();
        prop_assert!(repair(&mut fixed, Some(Format::Chat), &opts).unwrap().changes.is_empty());
        prop_assert_eq!(fixed, once);
    }

    /// A chat template's rules add no edit either: on a self-hosted server, with a Mistral or
    /// a Qwen model in the body, repair does what it does without the server named, and what
    /// it leaves is only what no repair mends.
    #[test]
    fn templates_invent_nothing(
        model in prop::sample::select(vec!["mistralai/Devstral-Small-2507", "Qwen/Qwen3.5-27B", "Qwen/Qwen3-8B"]),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let mut body = build(Format::Chat, &steps);
        body["model"] = json!(model);
        let mut plain = body.clone();
        repair(&mut plain, Some(Format::Chat), &RepairOptions::default()).unwrap();
        let mut served = body.clone();
        let opts = RepairOptions::default().model("vllm");
        repair(&mut served, Some(Format::Chat), &opts).unwrap();
        prop_assert_eq!(&served, &plain);
        let after = toolseq::check_for(&served, Some(Format::Chat), "vllm").unwrap();
        prop_assert!(after.violations.iter().all(|v| !v.repairable()), "{}", after);
    }

    /// The rules only a model could satisfy add no edit: with their profile, repair does what
    /// it does without one (the Gemini bypass only when asked, and then once).
    #[test]
    fn profiles_invent_nothing_and_the_bypass_is_idempotent(
        (f, model) in prop::sample::select(vec![
            (Format::Chat, "deepseek-reasoner"),
            (Format::Chat, "gemini-3-flash-preview"),
            (Format::Anthropic, "anthropic-thinking"),
            (Format::Gemini, "gemini-3-pro-preview"),
        ]),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let body = build(f, &steps);
        let mut plain = body.clone();
        repair(&mut plain, Some(f), &RepairOptions::default()).unwrap();
        let mut profiled = body.clone();
        let opts = RepairOptions::default().model(model);
        let report = repair(&mut profiled, Some(f), &opts).unwrap();
        prop_assert!(report.profile.is_some());
        prop_assert_eq!(&profiled, &plain);

        let opts = opts.thought_signature_bypass(true);
        let mut signed = body.clone();
        repair(&mut signed, Some(f), &opts).unwrap();
        let after = toolseq::check_for(&signed, Some(f), model).unwrap();
        prop_assert!(after.violations.iter().all(|v| v.rule != toolseq::Rule::MissingThoughtSignature), "{}", after);
        let once = signed.clone();
        prop_assert!(repair(&mut signed, Some(f), &opts).unwrap().changes.is_empty());
        prop_assert_eq!(signed, once);
    }
}

/// Every call id of a Chat body.
fn of_ids(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        out.extend(m["tool_call_id"].as_str().map(str::to_owned));
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            out.extend(c["id"].as_str().map(str::to_owned));
        }
    }
    out
}

/// The same JSON text written differently: some keys and ids with escapes, so the text reader
/// meets both borrowed and decoded strings.
fn respell(text: &str, escape: bool) -> String {
    if !escape {
        return text.to_owned();
    }
    text.replace("\"call_id\"", "\"call\\u005fid\"")
        .replace("\"type\"", "\"\\u0074ype\"")
        .replace("\"call_", "\"c\\u0061ll_")
}

/// Items of every Responses type, their fields strings, nulls, numbers or missing.
fn odd_item() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        2 => Just(None),
        4 => prop_oneof![Just("c1"), Just("c2"), Just("server"), Just("assistant"), Just("fc_1")]
            .prop_map(|s| Some(json!(s))),
        1 => Just(Some(json!(null))),
        1 => Just(Some(json!(7))),
        1 => Just(Some(json!({"nested": ["a", {"id": "x"}]}))),
    ];
    let ty = prop_oneof![
        Just("function_call"),
        Just("local_shell_call"),
        Just("local_shell_call_output"),
        Just("custom_tool_call_output"),
        Just("tool_search_call"),
        Just("tool_search_output"),
        Just("mcp_approval_request"),
        Just("mcp_approval_response"),
        Just("computer_call"),
        Just("program_output"),
        Just("message"),
        Just("reasoning"),
        Just("item_reference"),
        Just("web_search_call"),
        Just("something_else"),
    ];
    (prop::option::of(ty), prop::collection::vec(field, 6)).prop_map(|(ty, f)| {
        let mut item = serde_json::Map::new();
        if let Some(t) = ty {
            item.insert("type".into(), json!(t));
        }
        for (k, v) in [
            "role",
            "call_id",
            "execution",
            "id",
            "approval_request_id",
            "status",
        ]
        .into_iter()
        .zip(f)
        {
            if let Some(v) = v {
                item.insert(k.into(), v);
            }
        }
        Value::Object(item)
    })
}

/// Items, rollout lines and garbage: what a JSON Lines file may hold.
fn jsonl_line() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => odd_item(),
        2 => odd_item().prop_map(|p| json!({"type": "response_item", "payload": p})),
        1 => prop::collection::vec(odd_item(), 0..4)
            .prop_map(|h| json!({"type": "compacted", "payload": {"replacement_history": h}})),
        3 => step().prop_map(|s| build(Format::Responses, &[s])["input"][0].clone()),
        1 => arb_json(),
        1 => arb_json().prop_map(|p| json!({"type": "response_item", "payload": p})),
        1 => arb_json().prop_map(|p| json!({"type": "compacted", "payload": p})),
        1 => arb_json().prop_map(|p| json!({"type": "event_msg", "payload": p})),
        1 => (any::<i64>(), prop_oneof![Just(json!(1.5)), Just(json!("2")), Just(json!(null))])
            .prop_map(|(n, odd)| json!({"type": "event_msg", "payload":
                {"type": "thread_rolled_back", "num_turns": if n % 2 == 0 { json!(n % 5) } else { odd }}})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Reading a line from its text builds the skeleton reading its value builds.
    #[test]
    fn lines_read_from_text_build_the_skeleton_of_their_values(
        steps in prop::collection::vec(rollout_step(), 0..30),
        extra in prop::collection::vec(jsonl_line(), 0..12),
        escape in any::<bool>(),
    ) {
        let rollout = build_rollout(&steps);
        let mut lines: Vec<Value> = rollout.as_array().unwrap().clone();
        for (k, line) in extra.into_iter().enumerate() {
            lines.insert((k * 7) % (lines.len() + 1), line);
        }
        for format in [Format::Rollout, Format::Responses] {
            let mut by_value = toolseq::__private::wire::empty_skeleton(format);
            let mut by_text = toolseq::__private::wire::empty_skeleton(format);
            for line in &lines {
                toolseq::__private::wire::push_item(&mut by_value, line, format).unwrap();
                let text = respell(&line.to_string(), escape);
                let read = toolseq::__private::wire::read_line(&text, format).unwrap().unwrap();
                toolseq::__private::wire::push_line(&mut by_text, read);
            }
            prop_assert_eq!(&by_text, &by_value);
        }
    }

    /// Reading a Responses body from its text builds the skeleton reading its value builds, and
    /// declines every other body and every body reading would refuse.
    #[test]
    fn bodies_read_from_text_build_the_skeleton_of_their_values(
        steps in prop::collection::vec(step(), 0..30),
        garbage in prop::option::of(arb_json()),
        head in prop::collection::vec(
            (prop_oneof![Just("previous_response_id"), Just("conversation"), Just("model"),
                         Just("thinking"), Just("messages"), Just("contents")],
             prop_oneof![Just(json!(null)), Just(json!("deepseek-reasoner")),
                         Just(json!({"type": "enabled"})), Just(json!(3))]),
            0..4),
        escape in any::<bool>(),
    ) {
        let mut body = match garbage {
            Some(g) => g,
            None => build(Format::Responses, &steps),
        };
        if let Value::Object(map) = &mut body {
            for (k, v) in head {
                map.insert(k.to_owned(), v);
            }
        }
        let text = respell(&body.to_string(), escape);
        let read = toolseq::__private::wire::read_text_body(&text).unwrap();
        // Detection reads an object with `input` as Responses, whatever else it holds.
        let by_value = body.get("input")
            .and_then(|_| toolseq::__private::wire::read(&body, Format::Responses).ok());
        if by_value.is_some() {
            prop_assert_eq!(toolseq::__private::wire::detect(&body).unwrap().format, Format::Responses);
        }
        match (read, by_value) {
            (Some(read), Some(skel)) => {
                prop_assert_eq!(&read.skel, &skel);
                for named in [None, Some("deepseek-reasoner")] {
                    prop_assert_eq!(
                        toolseq::__private::profile::select(&read.head, Format::Responses, named).ok().flatten().map(|s| s.evidence),
                        toolseq::__private::profile::select(&body, Format::Responses, named).ok().flatten().map(|s| s.evidence)
                    );
                }
            }
            (None, None) => {}
            (read, by_value) => prop_assert!(false, "text {:?}, value {:?}", read.map(|r| r.skel), by_value),
        }
    }
}
