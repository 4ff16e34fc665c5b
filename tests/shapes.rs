//! The shapes of single items their APIs refuse, beside pairing, each in the API's words and
//! beside its clean twin. Only an output whose shape the API documents is repaired (a Gemini
//! response wrapped as `{"output": …}`); the rest are reported and left as they are.

use serde_json::{json, Value};
mod common;

use common::rules;
use toolseq::{check, check_for, repair, Format, RepairOptions, Rule};

fn checked(body: &Value) -> toolseq::Report {
    check(body, None).unwrap()
}

/// Reported, never repaired, and worded as the API words it.
fn refused(body: &Value, rule: Rule, words: &str) {
    let report = checked(body);
    assert!(report.violations.iter().any(|v| v.rule == rule), "{report}");
    assert!(report.to_string().contains(words), "{report}");
    let mut b = body.clone();
    let fixed = repair(&mut b, None, &RepairOptions::default()).unwrap();
    assert!(fixed.changes.is_empty(), "{fixed}");
    assert_eq!(&b, body);
}

fn anthropic(messages: Value) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
        "tools": [{"name": "ls", "input_schema": {"type": "object"}}], "messages": messages})
}

#[test]
fn a_whitespace_text_block_is_refused_by_anthropic_and_bedrock() {
    // anthropics/claude-code#23440: "messages: text content blocks must contain non-whitespace
    // text"; NousResearch/hermes-agent#41985 for Bedrock Converse.
    let use_ls = json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]});
    let blank_after_result = anthropic(json!([
        {"role": "user", "content": "go"}, use_ls,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"},
            {"type": "text", "text": " \n"}]}]));
    assert_eq!(
        rules(&checked(&blank_after_result)),
        [(Rule::BlankTextBlock, 2)]
    );
    refused(
        &blank_after_result,
        Rule::BlankTextBlock,
        "text content blocks must contain non-whitespace text",
    );
    let blank_before_call = anthropic(json!([{"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "text", "text": ""},
            {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"}]}]));
    assert_eq!(
        rules(&checked(&blank_before_call)),
        [(Rule::BlankTextBlock, 1)]
    );
    let bedrock = json!({"toolConfig": {"tools": [{"toolSpec": {"name": "ls", "inputSchema": {"json": {}}}}]},
        "messages": [{"role": "user", "content": [{"text": "go"}]},
            {"role": "assistant", "content": [{"text": "  "}]}]});
    refused(
        &bedrock,
        Rule::BlankTextBlock,
        "text content blocks must contain non-whitespace text",
    );

    // The twins: text in the block, and a tool result whose own text is empty (not a text block
    // of the message).
    let twin = anthropic(json!([{"role": "user", "content": "go"}, use_ls,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": ""},
            {"type": "text", "text": "and now?"}]}]));
    assert!(checked(&twin).is_clean(), "{}", checked(&twin));
}

#[test]
fn a_tool_use_whose_input_is_not_an_object_is_refused() {
    // An aborted stream stored the partial JSON text of the input: "messages.1.content.0.
    // tool_use.input: Input should be a valid dictionary".
    let body = anthropic(json!([{"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls",
            "input": "{\"path\": \"/tm"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"}]}]));
    assert_eq!(rules(&checked(&body)), [(Rule::InvalidCallInput, 1)]);
    refused(
        &body,
        Rule::InvalidCallInput,
        "messages.1.content.0.tool_use.input: Input should be a valid dictionary",
    );
    let mut twin = body.clone();
    twin["messages"][1]["content"][0]["input"] = json!({"path": "/tmp"});
    assert!(checked(&twin).is_clean());
}

#[test]
fn outputs_of_another_shape_than_their_api_takes_are_refused() {
    // "Invalid type for 'input[0].output': expected a computer call output, but got a string
    // instead.": found even though the call is stored server-side.
    let body = json!({"model": "computer-use-preview", "previous_response_id": "resp_1", "input": [
        {"type": "computer_call_output", "call_id": "call_1", "output": "screenshot taken"}]});
    assert_eq!(rules(&checked(&body)), [(Rule::InvalidOutputShape, 0)]);
    refused(&body, Rule::InvalidOutputShape, "Invalid type for 'input[0].output': expected a computer call output, but got a string instead.");
    // The text reader `toolseq check` uses on a file says the same.
    let text = serde_json::to_string(&body).unwrap();
    let skel = toolseq::__private::wire::read_text_body(&text)
        .unwrap()
        .unwrap()
        .skel;
    let found: Vec<Rule> = toolseq::__private::rules::check(&skel)
        .iter()
        .map(|v| v.rule)
        .collect();
    assert_eq!(found, [Rule::InvalidOutputShape]);
    let twin = json!({"previous_response_id": "resp_1", "input": [{"type": "computer_call_output",
        "call_id": "call_1", "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AA"}}]});
    assert!(checked(&twin).is_clean());
    // A function call's output is a string.
    let function = json!({"previous_response_id": "resp_1", "input": [
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}]});
    assert!(checked(&function).is_clean());

    // Gemini's response is a Struct: "Proto field is not repeating, cannot start list." for a
    // list there.
    let gemini = |response: Value| {
        json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": response}}]}]})
    };
    for response in [json!(["a.txt"]), json!("a.txt")] {
        let body = gemini(response.clone());
        let report = checked(&body);
        assert_eq!(rules(&report), [(Rule::InvalidOutputShape, 2)]);
        assert!(report.violations[0].repairable());
        // Google documents the wrapping: "Use 'output' key to specify function output".
        let mut fixed = body.clone();
        let repaired = repair(&mut fixed, None, &RepairOptions::default()).unwrap();
        assert!(matches!(
            repaired.changes[..],
            [toolseq::Change::Reshaped {
                field: "response",
                ..
            }]
        ));
        assert_eq!(fixed, gemini(json!({ "output": response })));
        assert!(checked(&fixed).is_clean());
    }
    assert!(checked(&gemini(json!({"output": ["a.txt"]}))).is_clean());
}

#[test]
fn arguments_that_are_not_an_object_are_refused_by_self_hosted_servers_only() {
    // vllm-project/vllm#43995 (a replayed call's arguments with an unescaped quote: "Expecting
    // ',' delimiter: line 1 column 54 (char 53)"), vllm#48922 and sglang#28035 (cut-off or
    // non-object arguments), OpenHands/software-agent-sdk#2887 for llama-server. OpenAI takes
    // the same history.
    let chat = |arguments: &str| {
        json!({"model": "qwen3-coder", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "replace", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        {"role": "user", "content": "continue"}]})
    };
    for broken in [
        "{\"newString\": \"He said \"hello\"\"}",
        "{\"cmd\": \"",
        "[]",
        "\"x\"",
    ] {
        let body = chat(broken);
        assert!(checked(&body).is_clean(), "OpenAI passes {broken}");
        for server in ["vllm", "sglang", "llama.cpp", "self-hosted"] {
            let report = check_for(&body, Some(Format::Chat), server).unwrap();
            assert_eq!(
                rules(&report),
                [(Rule::InvalidArguments, 1)],
                "{server}: {broken}"
            );
            assert_eq!(
                report.profile.as_ref().unwrap().profile,
                toolseq::Profile::SelfHosted
            );
        }
    }
    // The twins: an object, and no arguments at all (which the servers read as `{}`).
    for fine in ["{\"cmd\": \"ls\"}", "", " "] {
        let report = check_for(&chat(fine), Some(Format::Chat), "vllm").unwrap();
        assert!(report.is_clean(), "{fine:?}: {report}");
    }
}

#[test]
fn openai_chat_limits_call_ids_to_40_characters_and_images_to_the_users_messages() {
    // anomalyco/opencode#12653, litellm#17343: "Invalid 'messages[68].tool_calls[0].id':
    // string too long. Expected a string with maximum length 40, but got a string with length
    // 46 instead." (ids from another provider, kept when the session moved to gpt-5-mini).
    let long = "toolu_vrtx_01ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
    let chat = |model: &str| {
        json!({"model": model, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": long, "type": "function",
            "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": long, "content": "a.txt"}]})
    };
    let body = chat("gpt-5-mini");
    let report = checked(&body);
    assert_eq!(
        report.profile.as_ref().unwrap().profile,
        toolseq::Profile::OpenaiChat
    );
    assert_eq!(
        rules(&report),
        [(Rule::CallIdTooLong, 1), (Rule::CallIdTooLong, 2)]
    );
    assert!(report.to_string().contains("string too long. Expected a string with maximum length 40, but got a string with length 45 instead."), "{report}");
    let mut fixed = body.clone();
    repair(&mut fixed, None, &RepairOptions::default()).unwrap();
    let id = fixed["messages"][1]["tool_calls"][0]["id"]
        .as_str()
        .unwrap();
    assert!(id.len() <= 40);
    assert_eq!(fixed["messages"][2]["tool_call_id"], id);
    assert!(checked(&fixed).is_clean());
    // The twins: servers without the limit, and an open-weights model hosted elsewhere.
    for model in ["deepseek-chat", "qwen3-coder", "gpt-oss-120b"] {
        assert!(checked(&chat(model)).is_clean(), "{model}");
    }

    // OpenHands/OpenHands#7700, openai/openai-node#1030: "Invalid 'messages[2]'. Image URLs are
    // only allowed for messages with role 'user', but this message with role 'tool' contains an
    // image URL."
    let image = json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}});
    let with_image = |model: &str, role: &str| {
        let mut messages = vec![
            json!({"role": "user", "content": "look"}),
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "screenshot", "arguments": "{}"}}]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "taken"}),
        ];
        let target = if role == "tool" { 2 } else { 0 };
        messages[target]["content"] = json!([{"type": "text", "text": "here"}, image]);
        json!({"model": model, "messages": messages})
    };
    let body = with_image("gpt-4o", "tool");
    assert_eq!(rules(&checked(&body)), [(Rule::ImageOutsideUser, 2)]);
    refused(&body, Rule::ImageOutsideUser, "Image URLs are only allowed for messages with role 'user', but this message with role 'tool' contains an image URL.");
    assert!(checked(&with_image("gpt-4o", "user")).is_clean());
    assert!(checked(&with_image("qwen3-vl", "tool")).is_clean());
}

#[test]
fn groq_takes_a_tool_output_only_as_a_string() {
    // CherryHQ/cherry-studio#3307 (an MCP tool's parts): "'messages.2' : for 'role:tool' the
    // following must be satisfied[('messages.2.content' : value must be a string)]".
    let body = |model: &str, content: Value| {
        json!({"model": model, "messages": [
        {"role": "user", "content": "fetch it"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "fetch", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": content}]})
    };
    let parts = json!([{"type": "text", "text": "page"}]);
    let broken = body("groq/qwen-qwq-32b", parts.clone());
    let report = checked(&broken);
    assert_eq!(
        report.profile.as_ref().unwrap().profile,
        toolseq::Profile::Groq
    );
    assert_eq!(rules(&report), [(Rule::ToolContentNotString, 2)]);
    refused(&broken, Rule::ToolContentNotString, "'messages.2' : for 'role:tool' the following must be satisfied[('messages.2.content' : value must be a string)]");
    let named = check_for(&body("qwen-qwq-32b", parts.clone()), None, "groq").unwrap();
    assert_eq!(rules(&named), [(Rule::ToolContentNotString, 2)]);
    // The twins: a string for Groq, and the parts for OpenAI, which takes them.
    assert!(checked(&body("groq/qwen-qwq-32b", json!("page"))).is_clean());
    assert!(checked(&body("gpt-4o", parts)).is_clean());
}
