//! Every item the APIs have: the Responses pairing table, items with server ids, refused call
//! ids, Chat's empty `tool_calls`, Anthropic's server tools. Each rule with its broken case, its
//! API error, its repair, and the clean twin a naive checker would flag.

use serde_json::{json, Value};
use toolseq::{check, repair, Change, Format, RepairOptions, Rule};

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn rules(body: &Value, f: Format) -> Vec<Rule> {
    check(body, Some(f))
        .unwrap()
        .violations
        .iter()
        .map(|v| v.rule)
        .collect()
}

/// Repairs, checks the result is clean, and that a second repair changes nothing.
fn mend(body: &mut Value, f: Format) -> toolseq::Report {
    let report = repair(body, Some(f), &RepairOptions::default()).unwrap();
    let after = check(body, Some(f)).unwrap();
    assert!(after.is_clean(), "{after}\n{body:#}");
    let once = body.clone();
    let again = repair(body, Some(f), &RepairOptions::default()).unwrap();
    assert!(again.changes.is_empty());
    assert_eq!(*body, once);
    report
}

#[test]
fn every_responses_pair_is_known_and_answered_with_its_own_type() {
    // (call item, output item, synthetic output type)
    let pairs = [
        (
            json!({"type": "shell_call", "call_id": "c", "action": {"commands": ["ls"]}}),
            json!({"type": "shell_call_output", "call_id": "c", "output": []}),
            "shell_call_output",
        ),
        (
            json!({"type": "apply_patch_call", "call_id": "c", "operation": {}}),
            json!({"type": "apply_patch_call_output", "call_id": "c", "status": "completed"}),
            "apply_patch_call_output",
        ),
        (
            json!({"type": "mcp_approval_request", "id": "mcpr_1", "name": "rm", "server_label": "fs", "arguments": "{}"}),
            json!({"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": true}),
            "mcp_approval_response",
        ),
        (
            json!({"type": "program", "call_id": "c", "code": "1+1"}),
            json!({"type": "program_output", "id": "po_1", "call_id": "c", "result": "2", "status": "completed"}),
            "program_output",
        ),
        (
            json!({"type": "local_shell_call", "id": "lsh_1", "call_id": "c", "action": {}}),
            json!({"type": "local_shell_call_output", "id": "c", "output": "ok"}),
            "function_call_output",
        ),
        (
            json!({"type": "custom_tool_call", "call_id": "c", "name": "patch", "input": ""}),
            json!({"type": "custom_tool_call_output", "call_id": "c", "output": "ok"}),
            "custom_tool_call_output",
        ),
    ];
    for (call, output, synthetic) in pairs {
        let clean = json!({"input": [user("go"), call.clone(), output.clone()]});
        assert!(check(&clean, None).unwrap().is_clean(), "{clean:#}");
        let orphan = json!({"input": [user("go"), output.clone()]});
        let report = check(&orphan, None).unwrap();
        assert_eq!(
            rules(&orphan, Format::Responses),
            [Rule::OrphanOutput],
            "{output}"
        );
        assert!(report
            .api_error(&report.violations[0])
            .unwrap()
            .starts_with("No tool call found for"));
        let mut missing = json!({"input": [user("go"), call.clone(), user("stop")]});
        let report = check(&missing, None).unwrap();
        assert_eq!(report.violations[0].rule, Rule::MissingOutput, "{call}");
        let words = call["type"].as_str().unwrap().replace('_', " ");
        assert!(report
            .api_error(&report.violations[0])
            .unwrap()
            .starts_with(&format!("No tool output found for {words}")));
        mend(&mut missing, Format::Responses);
        assert_eq!(missing["input"][2]["type"], synthetic, "{call}");
    }
    // A function output never answers a shell call (the fixer that did not know shell_call).
    let body = json!({"input": [json!({"type": "shell_call", "call_id": "c", "action": {}}),
                                json!({"type": "function_call_output", "call_id": "c", "output": "x"})]});
    assert!(rules(&body, Format::Responses).contains(&Rule::KindMismatch));
    // Server-executed items pair with nothing.
    let body = json!({"input": [user("search"),
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "code_interpreter_call", "id": "ci_1", "status": "completed"},
        {"type": "mcp_call", "id": "mcp_1", "name": "x", "server_label": "s", "arguments": "{}"}]});
    assert!(check(&body, None).unwrap().is_clean());
}

fn rs(id: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [], "encrypted_content": "gAAA"})
}

fn fc(call: &str, id: Option<&str>) -> Value {
    let mut v = json!({"type": "function_call", "call_id": call, "name": "ls", "arguments": "{}"});
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    v
}

fn fco(call: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call, "output": "ok"})
}

#[test]
fn reasoning_items_go_with_the_item_they_were_produced_with() {
    // Clean: reasoning, then the id'd calls of the same response; parallel calls answered.
    let clean = json!({"input": [user("go"), rs("rs_1"), fc("a", Some("fc_1")), fc("b", Some("fc_2")),
                                 fco("a"), fco("b"), rs("rs_2"),
                                 {"type": "message", "role": "assistant", "id": "msg_2", "content": []}]});
    assert!(check(&clean, None).unwrap().is_clean());

    // The client dropped the id of the item after the reasoning item.
    let mut body = json!({"input": [user("go"), rs("rs_1"), fc("a", None), fco("a")]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations[0].rule, Rule::ReasoningWithoutFollowing);
    assert_eq!(report.violations[0].item_id.as_deref(), Some("rs_1"));
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "Item 'rs_1' of type 'reasoning' was provided without its required following item."
    );
    let report = mend(&mut body, Format::Responses);
    assert!(
        matches!(&report.changes[0], Change::Removed { rule: Rule::ReasoningWithoutFollowing, item, .. } if item["id"] == "rs_1")
    );
    assert_eq!(body["input"][1]["type"], "function_call");

    // A reasoning item left at the end of the input, before the user's next message.
    let body = json!({"input": [user("go"), rs("rs_1"), user("again")]});
    assert_eq!(
        rules(&body, Format::Responses),
        [Rule::ReasoningWithoutFollowing]
    );

    // An id'd item replayed without its reasoning item, in a body that shows reasoning.
    let mut body = json!({"input": [user("go"), rs("rs_1"), fc("a", Some("fc_1")), fco("a"),
                                    user("next"), fc("b", Some("fc_2")), fco("b")]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].rule, Rule::MissingReasoning);
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "Item 'fc_2' of type 'function_call' was provided without its required 'reasoning' item: 'rs_…'."
    );
    let report = mend(&mut body, Format::Responses);
    assert!(
        matches!(&report.changes[0], Change::Stripped { field: "id", value, .. } if value == "fc_2")
    );
    assert_eq!(body["input"][5]["call_id"], "b");
    // A body with no reasoning items shows nothing about reasoning: its ids are left alone.
    let body = json!({"input": [user("go"), fc("a", Some("fc_1")), fco("a")]});
    assert!(check(&body, None).unwrap().is_clean());
    // A server-executed item cannot lose its id: reported, left alone.
    let body = json!({"input": [user("go"), rs("rs_1"), fc("a", Some("fc_1")), fco("a"),
                                user("next"), {"type": "web_search_call", "id": "ws_9", "status": "completed"}]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations[0].rule, Rule::MissingReasoning);
    assert!(!report.violations[0].repairable());
}

#[test]
fn duplicate_item_ids_are_removed_or_their_ids_dropped() {
    // A reasoning item repeated once per parallel call.
    let mut body = json!({"input": [user("go"), rs("rs_1"), fc("a", Some("fc_1")), rs("rs_1"),
                                    fc("b", Some("fc_2")), fco("a"), fco("b")]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].rule, Rule::DuplicateItemId);
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "Duplicate item found with id rs_1. Remove duplicate items from your input and try again."
    );
    mend(&mut body, Format::Responses);
    let types: Vec<&str> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "message",
            "reasoning",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output"
        ]
    );
    // Two references to one stored item; client placeholder ids used twice on messages.
    let mut body = json!({"input": [{"type": "item_reference", "id": "msg_a"}, {"type": "item_reference", "id": "msg_a"},
        {"type": "message", "role": "assistant", "id": "msg_1", "content": "a"},
        {"type": "message", "role": "assistant", "id": "msg_1", "content": "b"}]});
    assert_eq!(
        rules(&body, Format::Responses),
        [Rule::DuplicateItemId, Rule::DuplicateItemId]
    );
    mend(&mut body, Format::Responses);
    assert_eq!(body["input"].as_array().unwrap().len(), 3);
    assert_eq!(body["input"][2]["content"], "b");
    assert!(body["input"][2].get("id").is_none());
}

#[test]
fn refused_call_ids_are_rewritten_identically_on_the_call_and_its_output() {
    let long = format!("call_{}", "x".repeat(89));
    let mut body = json!({"input": [user("go"), fc(&long, None), fco(&long)]});
    let report = check(&body, None).unwrap();
    assert_eq!(
        rules(&body, Format::Responses),
        [Rule::CallIdTooLong, Rule::CallIdTooLong]
    );
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "Invalid 'input[1].call_id': string too long. Expected a string with maximum length 64, but got a string with length 94 instead."
    );
    let report = mend(&mut body, Format::Responses);
    let new = body["input"][1]["call_id"].as_str().unwrap().to_owned();
    assert!(new.len() <= 64);
    assert_eq!(body["input"][2]["call_id"], new.as_str());
    assert!(
        matches!(&report.changes[0], Change::Rewritten { from, to, .. } if *from == long && *to == new)
    );
    // Exactly 64 is accepted.
    let ok = "c".repeat(64);
    assert!(check(&json!({"input": [fc(&ok, None), fco(&ok)]}), None)
        .unwrap()
        .is_clean());

    // Anthropic: ids copied from another provider.
    let mut body = json!({"messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "functions.read_file:0", "name": "read_file", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "functions.read_file:0", "content": "x"}]}]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations[0].rule, Rule::InvalidCallId);
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "messages.1.content.0.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
    );
    // The stored history gets the same ids when the report is replayed on it.
    let mut stored = body.clone();
    let report = mend(&mut body, Format::Anthropic);
    let new = body["messages"][1]["content"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(new.starts_with("toolu_"));
    assert_eq!(
        body["messages"][2]["content"][0]["tool_use_id"],
        new.as_str()
    );
    report.apply_to(&mut stored).unwrap();
    assert_eq!(stored, body);
    // The same id in Chat is fine (Chat documents no pattern).
    let chat = json!({"messages": [
        {"role": "assistant", "content": null, "tool_calls": [{"id": "functions.read_file:0", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "functions.read_file:0", "content": "x"}]});
    assert!(check(&chat, None).unwrap().is_clean());
}

#[test]
fn chat_empty_tool_calls_and_unnamed_functions() {
    let mut body = json!({"messages": [{"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "tool_calls": []}]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations[0].rule, Rule::EmptyToolCalls);
    assert_eq!(
        report.api_error(&report.violations[0]).unwrap(),
        "Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum length 1, but got an empty array instead."
    );
    mend(&mut body, Format::Chat);
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": "hello"})
    );

    let body = json!({"messages": [
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "x"}]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations.len(), 1, "{report}");
    assert_eq!(report.violations[0].rule, Rule::MalformedItem);
    // The output still pairs with its call: a repair removes nothing.
    let mut mended = body.clone();
    let report = repair(&mut mended, None, &RepairOptions::default()).unwrap();
    assert!(report.changes.is_empty());
    assert_eq!(mended, body);
}

#[test]
fn anthropic_server_tools_pair_inside_the_assistant_message() {
    let search = |id: &str| json!({"type": "server_tool_use", "id": id, "name": "web_search", "input": {"query": "rust"}});
    let found =
        |id: &str| json!({"type": "web_search_tool_result", "tool_use_id": id, "content": []});
    // Answered in the same message: clean.
    let body = json!({"messages": [{"role": "user", "content": "search"},
        {"role": "assistant", "content": [search("srvtoolu_1"), found("srvtoolu_1"), {"type": "text", "text": "found it"}]}]});
    assert!(check(&body, None).unwrap().is_clean());
    // A server call still pending behind a client tool_use (the turn paused): clean.
    let body = json!({"messages": [{"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}, search("srvtoolu_2")]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}]});
    assert!(
        check(&body, None).unwrap().is_clean(),
        "{}",
        check(&body, None).unwrap()
    );
    // MCP tool use and result, same message: clean.
    let body = json!({"messages": [{"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "q", "server_name": "db", "input": {}},
            {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_1", "content": []}]}]});
    assert!(check(&body, None).unwrap().is_clean());
    // A web search result with no server_tool_use before it.
    let mut body = json!({"messages": [{"role": "user", "content": "search"},
        {"role": "assistant", "content": [found("srvtoolu_9"), {"type": "text", "text": "?"}]}]});
    let report = check(&body, None).unwrap();
    assert_eq!(report.violations[0].rule, Rule::OrphanOutput);
    assert!(report
        .api_error(&report.violations[0])
        .unwrap()
        .contains("unexpected `tool_use_id` found in `web_search_tool_result` blocks: srvtoolu_9"));
    mend(&mut body, Format::Anthropic);
    assert_eq!(body["messages"][1]["content"][0]["type"], "text");
    // A client tool_result never answers a server tool.
    let body = json!({"messages": [
        {"role": "assistant", "content": [search("srvtoolu_3")]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "srvtoolu_3", "content": "x"}]}]});
    assert_eq!(rules(&body, Format::Anthropic), [Rule::KindMismatch]);
}

#[test]
fn synthetic_outputs_hold_only_fields_their_item_type_has() {
    // The Responses API refuses an unknown field ("Unknown parameter: 'input[2].error'.") and a
    // missing required one ("Missing required parameter: 'input[2].result'.").
    let answered = |call: Value| {
        let mut body = json!({"input": [user("go"), call, user("stop")]});
        mend(&mut body, Format::Responses);
        body["input"][2].clone()
    };
    let computer = answered(
        json!({"type": "computer_call", "id": "cu_1", "call_id": "c",
        "action": {"type": "screenshot"}, "pending_safety_checks": [], "status": "completed"}),
    );
    let mut keys: Vec<&str> = computer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "acknowledged_safety_checks",
            "call_id",
            "output",
            "status",
            "type"
        ]
    );
    let program = answered(
        json!({"type": "program", "id": "pg_1", "call_id": "c", "code": "1", "fingerprint": "f"}),
    );
    assert_eq!(program["result"], "aborted");
    assert_eq!(program["status"], "incomplete");
    assert!(program["id"].as_str().unwrap().starts_with("po_"));
    assert!(program.get("output").is_none());
    // The id is derived from the call's: a replayed repair makes the same item.
    assert_eq!(
        program,
        answered(
            json!({"type": "program", "id": "pg_2", "call_id": "c", "code": "2", "fingerprint": "g"})
        )
    );
}

#[test]
fn a_chat_custom_tool_call_names_its_tool_in_custom() {
    let call = |custom: Value| {
        json!({"messages": [{"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": custom}]},
            {"role": "tool", "tool_call_id": "c", "content": "ok"}]})
    };
    assert!(check(&call(json!({"name": "patch", "input": "x"})), None)
        .unwrap()
        .is_clean());
    assert_eq!(
        rules(&call(json!({"input": "x"})), Format::Chat),
        [Rule::MalformedItem]
    );
}

#[test]
fn a_reference_to_an_item_the_body_shows_hides_no_call() {
    // Found by the typed-history property: the reference is a duplicate the repair removes, so
    // the output it seemed to excuse must be judged in the same pass, or a second repair differs.
    let mut body =
        json!({"input": [rs("rs_0"), {"type": "item_reference", "id": "rs_0"}, fco("call_0")]});
    assert!(rules(&body, Format::Responses).contains(&Rule::OrphanOutput));
    mend(&mut body, Format::Responses);
    assert!(check(&body, None).unwrap().changes.is_empty());
    let report = toolseq::repair(&mut body, None, &Default::default()).unwrap();
    assert!(report.changes.is_empty(), "{report}");
    // A reference to an item out of sight still may be the call.
    let body = json!({"input": [{"type": "item_reference", "id": "fc_9"}, fco("call_0")]});
    assert!(check(&body, None).unwrap().is_clean());
}
