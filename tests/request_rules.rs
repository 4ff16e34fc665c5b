//! Refusals of the request around the history: tool use with no tools defined, and a
//! conversation ending on the model's turn for a model that takes no prefill. Neither has an
//! honest repair; each beside the clean twins a naive checker would flag.

use serde_json::{json, Value};
use toolseq::{check, check_for, repair, Format, RepairOptions, Rule};

fn rules(body: &Value) -> Vec<(Rule, usize)> {
    check(body, None)
        .unwrap()
        .violations
        .iter()
        .map(|v| (v.rule, v.index))
        .collect()
}

fn anthropic_loop() -> Vec<Value> {
    vec![
        json!({"role": "user", "content": "list the files"}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}]}),
    ]
}

/// What repair does to a body whose only violations it cannot mend: nothing.
fn untouched(body: &Value) {
    let mut b = body.clone();
    let report = repair(&mut b, None, &RepairOptions::default()).unwrap();
    assert!(report.changes.is_empty(), "{report}");
    assert_eq!(&b, body);
}

#[test]
fn tool_use_in_a_request_that_defines_no_tools_is_refused() {
    // A compaction or summary request replaying the loop without tools (Anthropic:
    // "Requests which include `tool_use` or `tool_result` blocks must define tools.").
    let body =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": anthropic_loop()});
    assert_eq!(rules(&body), [(Rule::ToolsUndefined, 1)]);
    let said = check(&body, None).unwrap().to_string();
    assert!(said.contains("must define tools"), "{said}");
    untouched(&body);
    let empty = json!({"model": "claude-sonnet-4-5", "tools": [], "messages": anthropic_loop()});
    assert_eq!(rules(&empty), [(Rule::ToolsUndefined, 1)]);

    // Clean twins: tools defined; a bare list of messages, whose request is out of sight; a
    // request with no tool use.
    let tools = json!([{"name": "ls", "input_schema": {"type": "object"}}]);
    let defined =
        json!({"model": "claude-sonnet-4-5", "tools": tools, "messages": anthropic_loop()});
    assert!(rules(&defined).is_empty());
    assert!(
        check(&Value::Array(anthropic_loop()), Some(Format::Anthropic))
            .unwrap()
            .is_clean()
    );
    let excerpt = json!({"messages": anthropic_loop()});
    assert!(
        rules(&excerpt).is_empty(),
        "a body without `model` is not a whole request"
    );
    let chat_only = json!({"model": "claude-sonnet-4-5", "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}]});
    assert!(rules(&chat_only).is_empty());
}

#[test]
fn bedrock_wants_its_tool_config_with_tool_blocks() {
    // bedrock-access-gateway#239, dify#17545: "The toolConfig field must be defined when using
    // toolUse and toolResult content blocks."
    let messages = json!([
        {"role": "user", "content": [{"text": "list the files"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "ls", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "a.txt"}]}}]}]);
    let body = json!({"inferenceConfig": {"maxTokens": 100}, "messages": messages});
    assert_eq!(rules(&body), [(Rule::ToolsUndefined, 1)]);
    assert!(check(&body, None)
        .unwrap()
        .to_string()
        .contains("The toolConfig field must be defined"));
    untouched(&body);
    let twin = json!({"toolConfig": {"tools": [{"toolSpec": {"name": "ls", "inputSchema": {"json": {}}}}]},
        "messages": messages});
    assert!(rules(&twin).is_empty(), "{:?}", rules(&twin));
}

#[test]
fn claude_4_6_and_later_refuse_a_conversation_ending_on_their_turn() {
    let tools = json!([{"name": "ls", "input_schema": {"type": "object"}}]);
    let mut messages = anthropic_loop();
    messages.push(json!({"role": "assistant", "content": [{"type": "text", "text": "Here are"}]}));
    for model in [
        "claude-sonnet-4-6",
        "claude-opus-4-8",
        "anthropic.claude-opus-4-6-v1:0",
        "claude-sonnet-5",
    ] {
        let body = json!({"model": model, "tools": tools, "messages": messages});
        assert_eq!(rules(&body), [(Rule::PrefillUnsupported, 3)], "{model}");
        let said = check(&body, None).unwrap().to_string();
        assert!(
            said.contains("This model does not support assistant message prefill."),
            "{said}"
        );
        untouched(&body);
    }
    // Clean twins: the models that accept a prefill, and the same model when the user spoke
    // last. A call the model left open is a missing output, which repair answers.
    for model in [
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-3-5-sonnet-20241022",
        "claude-sonnet-4-20250514",
    ] {
        let body = json!({"model": model, "tools": tools, "messages": messages});
        assert!(rules(&body).is_empty(), "{model}");
    }
    let ended_by_user =
        json!({"model": "claude-opus-4-6", "tools": tools, "messages": anthropic_loop()});
    assert!(rules(&ended_by_user).is_empty());
    let open_call =
        json!({"model": "claude-opus-4-6", "tools": tools, "messages": anthropic_loop()[..2]});
    assert_eq!(rules(&open_call), [(Rule::MissingOutput, 1)]);
    // A model named by the caller decides, as the body's would.
    let bare = Value::Array(messages.clone());
    let report = check_for(&bare, Some(Format::Anthropic), "claude-opus-4-7").unwrap();
    assert_eq!(report.violations[0].rule, Rule::PrefillUnsupported);
}
