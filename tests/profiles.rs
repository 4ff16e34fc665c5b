//! Model profiles: each rule with its broken case and the model's refusal in its own words, the
//! clean twins a naive checker would flag (the rule's exceptions), what repair does and does not
//! do, and one history routed to several models.

use serde_json::{json, Value};
use toolseq::__private::skeleton::CallIdRule;
use toolseq::profile::{ProfileError, BYPASS_SIGNATURE};
use toolseq::{check, check_for, repair, Change, Error, Format, Profile, RepairOptions, Rule};

fn rules(report: &toolseq::Report) -> Vec<Rule> {
    report.violations.iter().map(|v| v.rule).collect()
}

fn errors(report: &toolseq::Report) -> Vec<String> {
    report
        .violations
        .iter()
        .map(|v| report.api_error(v).unwrap_or_default())
        .collect()
}

fn profile(report: &toolseq::Report) -> Option<Profile> {
    report.profile.as_ref().map(|s| s.profile)
}

// --- Chat histories (DeepSeek, Mistral, Gemini's OpenAI-compatible endpoint) ------------------

fn tool_call(id: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}})
}

fn calls(ids: &[&str], reasoning: Option<&str>) -> Value {
    let mut m = json!({"role": "assistant", "content": null,
        "tool_calls": ids.iter().map(|id| tool_call(id)).collect::<Vec<_>>()});
    if let Some(r) = reasoning {
        m["reasoning_content"] = json!(r);
    }
    m
}

fn tool(id: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": "file a"})
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn said(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

fn chat(model: &str, messages: Vec<Value>) -> Value {
    json!({"model": model, "messages": messages})
}

#[test]
fn deepseek_wants_reasoning_content_back_on_every_message_with_calls() {
    // Turn 1 called a tool and its reasoning was dropped; turn 2 kept it. The final answers
    // carry none, which DeepSeek allows.
    let body = chat(
        "deepseek-reasoner",
        vec![
            user("what is in a?"),
            calls(&["call_1", "call_2"], None),
            tool("call_1"),
            tool("call_2"),
            said("a holds text"),
            user("and b?"),
            calls(&["call_3"], Some("I should read b")),
            tool("call_3"),
            said("b is empty"),
        ],
    );
    let report = check(&body, None).unwrap();
    assert_eq!(profile(&report), Some(Profile::DeepseekThinking));
    assert_eq!(
        report.profile.as_ref().unwrap().evidence,
        "body `model` is `deepseek-reasoner`: the model always thinks"
    );
    // One per message, not one per parallel call, located on the message.
    assert_eq!(rules(&report), [Rule::MissingReasoningContent]);
    assert_eq!(
        (report.violations[0].index, report.violations[0].block),
        (1, None)
    );
    assert_eq!(report.location(&report.violations[0]), "messages[1]");
    assert_eq!(
        errors(&report),
        ["Missing `reasoning_content` field in the assistant message at message index 1. For more information, please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls"]
    );
    assert!(!report.violations[0].repairable());

    // Never invented: repair leaves the body as it was.
    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &RepairOptions::default()).unwrap();
    assert!(report.changes.is_empty());
    assert_eq!(fixed, body);
}

#[test]
fn deepseek_clean_twins_text_turns_empty_reasoning_and_thinking_off() {
    let kept = vec![
        user("hi"),
        said("hello"),
        user("what is in a?"),
        calls(&["call_1"], Some("")),
        tool("call_1"),
        said("a holds text"),
    ];
    assert!(check(&chat("deepseek-reasoner", kept), None)
        .unwrap()
        .is_clean());

    let dropped = vec![user("go"), calls(&["call_1"], None), tool("call_1")];
    // Thinking turned off, or a model that does not think by default: no profile.
    let mut off = chat("deepseek-v4-pro", dropped.clone());
    off["thinking"] = json!({"type": "disabled"});
    let report = check(&off, None).unwrap();
    assert_eq!(profile(&report), None);
    assert!(report.is_clean());
    assert!(check(&chat("deepseek-chat", dropped.clone()), None)
        .unwrap()
        .is_clean());
    // V4 thinks unless told not to; an older model only when told to.
    let report = check(&chat("deepseek-v4-flash", dropped.clone()), None).unwrap();
    assert_eq!(rules(&report), [Rule::MissingReasoningContent]);
    let mut on = chat("deepseek-chat", dropped);
    on["thinking"] = json!({"type": "enabled"});
    let report = check(&on, None).unwrap();
    assert_eq!(
        report.profile.unwrap().evidence,
        "body `model` is `deepseek-chat`: `thinking.type` is `enabled`"
    );
}

#[test]
fn mistral_ids_are_rewritten_alike_on_calls_and_outputs() {
    let body = chat(
        "mistral-large-latest",
        vec![
            user("read both"),
            calls(
                &[
                    "call_PTLP8xhu3uwZk4l3nlnrrJha",
                    "2968-LWy3uasib",
                    "abcDEF123",
                ],
                None,
            ),
            tool("call_PTLP8xhu3uwZk4l3nlnrrJha"),
            tool("2968-LWy3uasib"),
            tool("abcDEF123"),
            user("now c"),
            calls(&["call_PTLP8xhu3uwZk4l3nlnrrJhb"], None),
        ],
    );
    let report = check(&body, None).unwrap();
    assert_eq!(profile(&report), Some(Profile::Mistral));
    // Two refused calls and their outputs, and the unanswered third call.
    let found = rules(&report);
    assert_eq!(
        found.iter().filter(|r| **r == Rule::InvalidCallId).count(),
        5
    );
    assert!(found.contains(&Rule::MissingOutput));
    assert_eq!(
        errors(&report)[0],
        "Tool call id was call_PTLP8xhu3uwZk4l3nlnrrJha but must be a-z, A-Z, 0-9, with a length of 9."
    );

    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &RepairOptions::default()).unwrap();
    let renamed = report.renamed_call_ids();
    assert_eq!(renamed.len(), 3);
    assert!(!renamed.contains_key("abcDEF123"));
    for new in renamed.values() {
        assert!(
            new.len() == 9 && new.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{new}"
        );
    }
    let m = &fixed["messages"];
    let first = renamed["call_PTLP8xhu3uwZk4l3nlnrrJha"];
    assert_eq!(m[1]["tool_calls"][0]["id"], first);
    assert_eq!(m[2]["tool_call_id"], first);
    assert_eq!(m[3]["tool_call_id"], renamed["2968-LWy3uasib"]);
    assert_eq!(m[4]["tool_call_id"], "abcDEF123");
    // The synthetic output answers the call under its new id.
    let third = renamed["call_PTLP8xhu3uwZk4l3nlnrrJhb"];
    assert_eq!(m[6]["tool_calls"][0]["id"], third);
    assert_eq!(m[7]["tool_call_id"], third);

    let after = check(&fixed, None).unwrap();
    assert!(after.is_clean(), "{after}");
    let once = fixed.clone();
    assert!(repair(&mut fixed, None, &RepairOptions::default())
        .unwrap()
        .changes
        .is_empty());
    assert_eq!(fixed, once);

    // Replayed on the client's store, the same ids come out.
    let mut stored = body["messages"].clone();
    report.apply_to(&mut stored).unwrap();
    assert_eq!(stored, fixed["messages"]);
}

#[test]
fn a_new_mistral_id_never_takes_one_in_use() {
    let taken = CallIdRule::MISTRAL.replacement("call_x");
    let body = chat(
        "devstral-medium-2512",
        vec![
            calls(&[&taken, "call_x"], None),
            tool(&taken),
            tool("call_x"),
        ],
    );
    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &RepairOptions::default()).unwrap();
    let new = report.renamed_call_ids()["call_x"].to_owned();
    assert_ne!(new, taken);
    assert_eq!(new.len(), 9);
    assert!(check(&fixed, None).unwrap().is_clean());
}

#[test]
fn one_history_routed_to_several_models_gets_each_models_verdict() {
    let body = chat(
        "gpt-4.1",
        vec![
            user("go"),
            calls(&["call_abc"], None),
            tool("call_abc"),
            said("done"),
        ],
    );
    assert!(check(&body, None).unwrap().is_clean());
    let as_deepseek = check_for(&body, None, "deepseek-reasoner").unwrap();
    assert_eq!(rules(&as_deepseek), [Rule::MissingReasoningContent]);
    assert_eq!(
        as_deepseek.profile.unwrap().evidence,
        "given model is `deepseek-reasoner`: the model always thinks"
    );
    let as_mistral = check_for(&body, None, "mistralai/mistral-small-3.2").unwrap();
    assert_eq!(
        rules(&as_mistral),
        [Rule::InvalidCallId, Rule::InvalidCallId]
    );
    // The Gemini 3 turn closed with a text answer but no user came after: the call is in the
    // current turn and lacks its signature.
    let as_gemini = check_for(&body, None, "gemini-3-pro-preview").unwrap();
    assert_eq!(rules(&as_gemini), [Rule::MissingThoughtSignature]);
    // A profile named outright.
    let named = check_for(&body, None, "mistral").unwrap();
    assert_eq!(named.profile.unwrap().evidence, "profile `mistral` given");
    // OpenAI's rules hold for this history.
    let openai = check_for(&body, None, "gpt-4.1").unwrap();
    assert!(openai.is_clean(), "{openai}");
    assert_eq!(openai.profile.unwrap().profile, Profile::OpenaiChat);
    // Models without rules of their own.
    for model in [
        "claude-sonnet-4-5",
        "gemini-2.5-flash",
        "gemini-3-pro-image-preview",
    ] {
        let r = check_for(&body, None, model).unwrap();
        assert!(r.is_clean() && r.profile.is_none(), "{model}: {r}");
    }
}

#[test]
fn a_profile_named_for_another_api_is_an_error() {
    let body = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]}]});
    let err = check_for(&body, None, "mistral").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Profile(ProfileError::Format {
                profile: Profile::Mistral,
                format: Format::Anthropic
            })
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "profile `mistral` applies to chat histories, not to a anthropic body"
    );
    // A model name whose profile fits another API is simply not applied.
    let r = check_for(&body, None, "devstral-small").unwrap();
    assert!(r.profile.is_none());
    assert_eq!("gemini-3".parse::<Profile>().unwrap(), Profile::Gemini3);
    assert!("gemini".parse::<Profile>().is_err());
}

// --- Anthropic with thinking ----------------------------------------------------------------

fn claude(messages: Vec<Value>, thinking: &str) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 2000,
        "thinking": {"type": thinking, "budget_tokens": 1024},
        "tools": [{"name": "ls", "input_schema": {"type": "object"}}], "messages": messages})
}

fn ask(text: &str) -> Value {
    json!({"role": "user", "content": [{"type": "text", "text": text}]})
}

fn uses(blocks: Vec<Value>) -> Value {
    json!({"role": "assistant", "content": blocks})
}

fn thinking() -> Value {
    json!({"type": "thinking", "thinking": "I should list the files", "signature": "EqQBCgIYAhIM"})
}

fn tool_use(id: &str) -> Value {
    json!({"type": "tool_use", "id": id, "name": "ls", "input": {}})
}

fn result(id: &str) -> Value {
    json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "a.txt"}]})
}

#[test]
fn claude_with_thinking_wants_the_open_loop_to_start_with_thinking() {
    let body = claude(
        vec![
            ask("list files"),
            uses(vec![tool_use("toolu_1")]),
            result("toolu_1"),
        ],
        "enabled",
    );
    let report = check(&body, None).unwrap();
    assert_eq!(profile(&report), Some(Profile::AnthropicThinking));
    assert_eq!(rules(&report), [Rule::MissingThinkingBlock]);
    assert_eq!(
        report.location(&report.violations[0]),
        "messages[1].content[0]"
    );
    assert_eq!(
        errors(&report),
        ["messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"]
    );
    // Text written before the call is what the API finds instead.
    let texted = claude(
        vec![
            ask("list files"),
            uses(vec![
                json!({"type": "text", "text": "Listing."}),
                tool_use("toolu_1"),
            ]),
            result("toolu_1"),
        ],
        "adaptive",
    );
    let report = check(&texted, None).unwrap();
    assert!(errors(&report)[0].contains("but found `text`"), "{report}");

    // Interrupted as well: the missing result is repaired, the thinking block cannot be.
    let mut cut = claude(
        vec![ask("list files"), uses(vec![tool_use("toolu_1")])],
        "enabled",
    );
    let report = repair(&mut cut, None, &RepairOptions::default()).unwrap();
    assert_eq!(
        rules(&report),
        [Rule::MissingThinkingBlock, Rule::MissingOutput]
    );
    assert_eq!(cut["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(
        rules(&check(&cut, None).unwrap()),
        [Rule::MissingThinkingBlock]
    );
}

#[test]
fn claude_clean_twins_closed_loops_later_steps_and_thinking_off() {
    // The loop's first message opened with thinking; its later step did not need to.
    let steps = vec![
        ask("list files"),
        uses(vec![thinking(), tool_use("toolu_1")]),
        result("toolu_1"),
        uses(vec![tool_use("toolu_2")]),
        result("toolu_2"),
    ];
    assert!(check(&claude(steps.clone(), "enabled"), None)
        .unwrap()
        .is_clean());
    let redacted = vec![
        ask("list files"),
        uses(vec![
            json!({"type": "redacted_thinking", "data": "EmwKAhgB"}),
            tool_use("toolu_1"),
        ]),
        result("toolu_1"),
    ];
    assert!(check(&claude(redacted, "enabled"), None)
        .unwrap()
        .is_clean());
    // An earlier, closed loop without its thinking: the API drops old turns' thinking anyway.
    let closed = vec![
        ask("list files"),
        uses(vec![tool_use("toolu_1")]),
        result("toolu_1"),
        uses(vec![json!({"type": "text", "text": "a.txt"})]),
        ask("thanks, now read it"),
    ];
    assert!(check(&claude(closed, "enabled"), None).unwrap().is_clean());
    // Thinking off: no profile.
    let bare = vec![
        ask("list files"),
        uses(vec![tool_use("toolu_1")]),
        result("toolu_1"),
    ];
    let report = check(&claude(bare, "disabled"), None).unwrap();
    assert!(report.is_clean() && report.profile.is_none());
}

#[test]
fn text_beside_results_keeps_the_loop_open() {
    // A user typing while the tool ran: the message of results continues the turn.
    let body = claude(
        vec![
            ask("list files"),
            uses(vec![tool_use("toolu_1")]),
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
                {"type": "text", "text": "also check b"}]}),
        ],
        "enabled",
    );
    assert_eq!(
        rules(&check(&body, None).unwrap()),
        [Rule::MissingThinkingBlock]
    );
}

// --- Gemini 3 ---------------------------------------------------------------------------------

fn g_user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

fn g_call(name: &str, signature: Option<&str>) -> Value {
    let mut p = json!({"functionCall": {"name": name, "args": {"path": "a"}}});
    if let Some(s) = signature {
        p["thoughtSignature"] = json!(s);
    }
    p
}

fn g_model(parts: Vec<Value>) -> Value {
    json!({"role": "model", "parts": parts})
}

fn g_responses(names: &[&str]) -> Value {
    json!({"role": "user", "parts": names.iter().map(|n| json!({"functionResponse": {"name": n, "response": {"ok": true}}})).collect::<Vec<_>>()})
}

#[test]
fn gemini_3_wants_the_current_turns_first_calls_signed() {
    let body = json!({"contents": [
        g_user("read a, then b and c"),
        g_model(vec![g_call("read_a", Some("CiEBjz1rX0il"))]),
        g_responses(&["read_a"]),
        // The second step's parallel calls lost the signature of their first call.
        g_model(vec![g_call("read_b", None), g_call("read_c", None)]),
        g_responses(&["read_b", "read_c"]),
    ]});
    // The model is in the URL, not the body.
    assert!(check(&body, None).unwrap().is_clean());
    let report = check_for(&body, None, "gemini-3-pro-preview").unwrap();
    assert_eq!(rules(&report), [Rule::MissingThoughtSignature]);
    assert_eq!(
        report.location(&report.violations[0]),
        "contents[3].parts[0]"
    );
    assert!(errors(&report)[0].starts_with(
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly"
    ));

    // Left by default: the skip value makes the model lose its reasoning.
    let opts = RepairOptions::default().model("gemini-3-pro-preview");
    let mut left = body.clone();
    assert!(repair(&mut left, None, &opts).unwrap().changes.is_empty());
    assert_eq!(left, body);

    // Opted in: only the first call of the group gets the documented value.
    let opts = opts.thought_signature_bypass(true);
    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &opts).unwrap();
    assert!(matches!(
        report.changes[..],
        [Change::Signed {
            field: "thoughtSignature",
            rule: Rule::MissingThoughtSignature,
            index: 3,
            block: Some(0),
            ..
        }]
    ));
    assert_eq!(
        fixed["contents"][3]["parts"][0]["thoughtSignature"],
        BYPASS_SIGNATURE
    );
    assert!(fixed["contents"][3]["parts"][1]
        .get("thoughtSignature")
        .is_none());
    assert_eq!(
        fixed["contents"][1]["parts"][0]["thoughtSignature"],
        "CiEBjz1rX0il"
    );
    assert!(check_for(&fixed, None, "gemini-3-pro-preview")
        .unwrap()
        .is_clean());
    let once = fixed.clone();
    assert!(repair(&mut fixed, None, &opts).unwrap().changes.is_empty());
    assert_eq!(fixed, once);
}

#[test]
fn gemini_3_clean_twins_older_turns_and_later_parallel_calls() {
    let body = json!({"contents": [
        g_user("read a"),
        // A turn closed by a later user message: its calls are not checked.
        g_model(vec![g_call("read_a", None)]),
        g_responses(&["read_a"]),
        g_model(vec![json!({"text": "a holds text"})]),
        g_user("now b and c"),
        // Only the first call of a parallel group carries the signature.
        g_model(vec![g_call("read_b", Some("Cs4BAdHtim8")), g_call("read_c", None)]),
        g_responses(&["read_b", "read_c"]),
    ]});
    let report = check_for(&body, None, "gemini-3-flash-preview").unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(check_for(&body, None, "gemini-2.5-pro")
        .unwrap()
        .profile
        .is_none());
}

#[test]
fn gemini_3_through_the_openai_compatible_endpoint() {
    let mut signed = tool_call("call_1");
    signed["extra_content"] = json!({"google": {"thought_signature": "CrICAdHtim8"}});
    let clean = chat(
        "gemini-3-flash-preview",
        vec![
            user("go"),
            json!({"role": "assistant", "content": null, "tool_calls": [signed, tool_call("call_2")]}),
            tool("call_1"),
            tool("call_2"),
        ],
    );
    assert!(check(&clean, None).unwrap().is_clean());

    let mut body = chat(
        "gemini-3-flash-preview",
        vec![user("go"), calls(&["call_1"], None), tool("call_1")],
    );
    let report = repair(
        &mut body,
        None,
        &RepairOptions::default().thought_signature_bypass(true),
    )
    .unwrap();
    assert_eq!(rules(&report), [Rule::MissingThoughtSignature]);
    assert_eq!(
        body["messages"][1]["tool_calls"][0]["extra_content"]["google"]["thought_signature"],
        BYPASS_SIGNATURE
    );
    assert!(check(&body, None).unwrap().is_clean());
}

#[test]
fn the_guard_applies_the_model_it_is_told() {
    let ledger = toolseq::ledger::Ledger::new();
    let guard = toolseq::Guard::new(&ledger).model("devstral-medium-2512");
    let history = vec![calls(&["call_1"], None), tool("call_1")];
    let (body, report) = guard
        .prepare_with("conv", || json!({"messages": history.clone()}))
        .unwrap();
    assert_eq!(profile(&report), Some(Profile::Mistral));
    let new = report.renamed_call_ids()["call_1"].to_owned();
    assert_eq!(body["messages"][0]["tool_calls"][0]["id"], new);
    assert_eq!(body["messages"][1]["tool_call_id"], new);
    assert!(
        report
            .to_string()
            .contains("profile mistral (given model is `devstral-medium-2512`: a Mistral model)"),
        "{report}"
    );
}

/// DeepSeek's thinking mode accepts an empty `reasoning_content` where the client lost the
/// model's: an opt-in placeholder, never the default, named in the report and replayed on the
/// stored history.
#[test]
fn an_opted_in_placeholder_stands_for_lost_deepseek_reasoning() {
    let body = json!({"model": "deepseek-reasoner", "messages": [
        {"role": "user", "content": "list the files"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
        {"role": "assistant", "content": "one file"},
        {"role": "user", "content": "thanks"}]});
    let mut plain = body.clone();
    let report = repair(&mut plain, None, &RepairOptions::default()).unwrap();
    assert_eq!(plain, body, "not without asking");
    assert_eq!(report.violations[0].rule, Rule::MissingReasoningContent);

    let opts = RepairOptions::default().placeholders(true);
    let mut filled = body.clone();
    let report = repair(&mut filled, None, &opts).unwrap();
    assert!(
        matches!(
            report.changes[..],
            [Change::Placeholder {
                field: "reasoning_content",
                index: 1,
                ..
            }]
        ),
        "{report}"
    );
    assert_eq!(filled["messages"][1]["reasoning_content"], "");
    // A text-only answer needs none, and gets none.
    assert!(filled["messages"][3].get("reasoning_content").is_none());
    assert!(check(&filled, None).unwrap().is_clean());
    let once = filled.clone();
    assert!(repair(&mut filled, None, &opts).unwrap().changes.is_empty());
    assert_eq!(filled, once);
    let mut stored = body["messages"].clone();
    report.apply_to(&mut stored).unwrap();
    assert_eq!(stored, once["messages"]);
}
