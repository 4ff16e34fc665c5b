//! Gemini `generateContent` and Bedrock Converse: each rule with its broken case, the API's
//! refusal in its own words, its repair, and the clean twin a naive checker would flag.

use serde_json::{json, Value};
use toolseq::__private::wire;
use toolseq::{check, repair, Change, Format, RepairOptions, Rule};

fn rules(body: &Value, f: Format) -> Vec<Rule> {
    check(body, Some(f))
        .unwrap()
        .violations
        .iter()
        .map(|v| v.rule)
        .collect()
}

fn errors(body: &Value) -> Vec<String> {
    let report = check(body, None).unwrap();
    report
        .violations
        .iter()
        .map(|v| report.api_error(v).unwrap_or_default())
        .collect()
}

/// Repairs, checks nothing repairable is left, and that a second repair changes nothing.
fn mend(body: &mut Value) -> toolseq::Report {
    let report = repair(body, None, &RepairOptions::default()).unwrap();
    let after = check(body, Some(report.detection.format)).unwrap();
    assert!(
        after.violations.iter().all(|v| !v.repairable()),
        "{after}\n{body:#}"
    );
    let once = body.clone();
    let again = repair(body, None, &RepairOptions::default()).unwrap();
    assert!(again.changes.is_empty(), "{again}");
    assert_eq!(*body, once);
    report
}

// --- Gemini ---------------------------------------------------------------------------------

fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

fn model_text(text: &str) -> Value {
    json!({"role": "model", "parts": [{"text": text}]})
}

fn call(name: &str, id: Option<&str>) -> Value {
    let mut c = json!({"functionCall": {"name": name, "args": {"city": "Paris"}}});
    if let Some(id) = id {
        c["functionCall"]["id"] = json!(id);
    }
    c
}

fn resp(name: &str, id: Option<&str>) -> Value {
    let mut r = json!({"functionResponse": {"name": name, "response": {"output": name}}});
    if let Some(id) = id {
        r["functionResponse"]["id"] = json!(id);
    }
    r
}

fn turn(role: &str, parts: Vec<Value>) -> Value {
    json!({"role": role, "parts": parts})
}

fn gemini(contents: Vec<Value>) -> Value {
    json!({"contents": contents, "generationConfig": {"temperature": 0}})
}

#[test]
fn gemini_is_detected_from_contents() {
    let body = gemini(vec![user("hi")]);
    let d = wire::detect(&body).unwrap();
    assert_eq!(d.format, Format::Gemini);
    let bare = json!([user("hi"), turn("model", vec![call("f", None)])]);
    assert_eq!(wire::detect(&bare).unwrap().format, Format::Gemini);
}

#[test]
fn gemini_parallel_calls_without_ids_pair_by_name_and_rank_in_any_order() {
    let in_order = gemini(vec![
        user("weather in two cities"),
        turn(
            "model",
            vec![
                json!({"text": "checking"}),
                call("weather", None),
                call("time", None),
                call("weather", None),
            ],
        ),
        turn(
            "user",
            vec![
                resp("weather", None),
                resp("time", None),
                resp("weather", None),
            ],
        ),
        model_text("done"),
    ]);
    assert!(check(&in_order, None).unwrap().is_clean());
    let out_of_order = gemini(vec![
        user("weather in two cities"),
        turn(
            "model",
            vec![
                call("weather", None),
                call("time", None),
                call("weather", None),
            ],
        ),
        turn(
            "user",
            vec![
                resp("time", None),
                resp("weather", None),
                resp("weather", None),
            ],
        ),
        model_text("done"),
    ]);
    assert!(check(&out_of_order, None).unwrap().is_clean());
    // With ids, order does not matter either, and a response may leave its id out.
    let ids = gemini(vec![
        user("go"),
        turn("model", vec![call("a", Some("c1")), call("b", Some("c2"))]),
        turn("user", vec![resp("b", Some("c2")), resp("a", None)]),
    ]);
    assert!(
        check(&ids, None).unwrap().is_clean(),
        "{}",
        check(&ids, None).unwrap()
    );
}

#[test]
fn gemini_missing_response_is_answered_with_a_named_error_response() {
    let mut body = gemini(vec![
        user("go"),
        turn("model", vec![call("weather", None), call("time", None)]),
        turn("user", vec![resp("weather", None)]),
        user("hurry"),
    ]);
    // Two client turns in a row, which Gemini refuses too: only a model turn between mends it.
    assert_eq!(
        rules(&body, Format::Gemini),
        [Rule::MissingOutput, Rule::RolesNotAlternating]
    );
    assert_eq!(
        errors(&body),
        ["Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.", "Please ensure that multiturn requests alternate between user and model."]
    );
    let report = mend(&mut body);
    assert!(matches!(report.changes[0], Change::Inserted { .. }));
    let parts = &body["contents"][2]["parts"];
    assert_eq!(parts[1]["functionResponse"]["name"], "time");
    assert!(
        parts[1]["functionResponse"].get("id").is_none(),
        "no id invented: {parts:#}"
    );
    assert_eq!(parts[1]["functionResponse"]["response"]["error"], "aborted");
    // The call with an id is answered with its id.
    let mut body = gemini(vec![
        user("go"),
        turn("model", vec![call("ls", Some("c9"))]),
        user("stop"),
    ]);
    mend(&mut body);
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["id"],
        "c9"
    );
    assert_eq!(body["contents"][2]["role"], "user");
    assert_eq!(body["contents"][3], user("stop"));
}

#[test]
fn gemini_surplus_and_late_responses() {
    // A response no call asked for: the call turn was compacted away.
    let mut body = gemini(vec![
        user("go"),
        turn("user", vec![resp("ls", Some("gone"))]),
        user("next"),
    ]);
    assert_eq!(
        rules(&body, Format::Gemini),
        [Rule::OrphanOutput, Rule::RolesNotAlternating]
    );
    assert_eq!(
        errors(&body),
        ["Please ensure that function response turn comes immediately after a function call turn.", "Please ensure that multiturn requests alternate between user and model."]
    );
    let report = mend(&mut body);
    assert!(matches!(
        report.changes[0],
        Change::Removed {
            rule: Rule::OrphanOutput,
            ..
        }
    ));
    assert_eq!(body["contents"], json!([user("go"), user("next")]));

    // Two responses for one call.
    let body = gemini(vec![
        user("go"),
        turn("model", vec![call("ls", None)]),
        turn("user", vec![resp("ls", None), resp("ls", None)]),
    ]);
    assert_eq!(rules(&body, Format::Gemini), [Rule::OrphanOutput]);

    // A response turn that is not right after its call turn.
    let mut body = gemini(vec![
        user("go"),
        turn("model", vec![call("ls", None)]),
        model_text("still thinking"),
        turn("user", vec![resp("ls", None)]),
    ]);
    let found = rules(&body, Format::Gemini);
    assert!(found.contains(&Rule::InterleavedMessage), "{found:?}");
    mend(&mut body);
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["name"],
        "ls"
    );
    assert_eq!(body["contents"][3], model_text("still thinking"));
}

#[test]
fn gemini_call_turn_must_follow_the_user_or_responses() {
    let body = gemini(vec![
        user("go"),
        model_text("let me look"),
        turn("model", vec![call("ls", None)]),
        turn("user", vec![resp("ls", None)]),
    ]);
    assert_eq!(
        rules(&body, Format::Gemini),
        [
            Rule::RolesNotAlternating,
            Rule::CallWithoutPrecedingUserTurn
        ]
    );
    assert_eq!(
        errors(&body),
        ["Please ensure that multiturn requests alternate between user and model.", "Please ensure that function call turn comes immediately after a user turn or after a function response turn."]
    );
    let report = check(&body, None).unwrap();
    assert!(!report.violations[0].repairable());
    // Not made up: repair leaves it, and says so.
    let mut fixed = body.clone();
    repair(&mut fixed, None, &RepairOptions::default()).unwrap();
    assert_eq!(fixed, body);
    // The clean twins: right after the user, and right after a response turn.
    let clean = gemini(vec![
        user("go"),
        turn(
            "model",
            vec![json!({"text": "let me look"}), call("ls", None)],
        ),
        turn("user", vec![resp("ls", None)]),
        turn("model", vec![call("cat", None)]),
        turn("user", vec![resp("cat", None)]),
        model_text("done"),
    ]);
    assert!(check(&clean, None).unwrap().is_clean());
    // A conversation cannot open with calls.
    let first = gemini(vec![
        turn("model", vec![call("ls", None)]),
        turn("user", vec![resp("ls", None)]),
    ]);
    assert_eq!(
        rules(&first, Format::Gemini),
        [Rule::CallWithoutPrecedingUserTurn]
    );
}

#[test]
fn gemini_response_turn_holds_only_responses() {
    // Gemini takes results and text in one turn and answers with an empty candidate; split,
    // the text would be a second client turn in a row, which it refuses with HTTP 400
    // (NousResearch/hermes-agent#79791, after google-gemini/gemini-cli#28700). So the turn is
    // reported and left, unless placeholders are opted in: then a model turn goes between.
    let body = gemini(vec![
        user("go"),
        turn("model", vec![call("ls", None), call("pwd", None)]),
        turn(
            "user",
            vec![
                resp("ls", None),
                json!({"text": "also, be quick"}),
                resp("pwd", None),
            ],
        ),
    ]);
    assert_eq!(rules(&body, Format::Gemini), [Rule::MixedResultTurn]);
    assert!(!check(&body, None).unwrap().violations[0].repairable());
    let mut left = body.clone();
    assert!(mend(&mut left).changes.is_empty());
    assert_eq!(left, body);

    let opts = RepairOptions::default().placeholders(true);
    let mut split = body.clone();
    let report = repair(&mut split, None, &opts).unwrap();
    assert!(report.changes.iter().any(|c| matches!(
        c,
        Change::Separated {
            rule: Rule::MixedResultTurn,
            index: 2,
            blocks: 1,
            ..
        }
    )));
    assert!(report
        .changes
        .iter()
        .any(|c| matches!(c, Change::Placeholder { field: "turn", .. })));
    assert_eq!(
        split["contents"][2],
        turn("user", vec![resp("ls", None), resp("pwd", None)])
    );
    assert_eq!(split["contents"][3]["role"], "model");
    assert_eq!(split["contents"][4], user("also, be quick"));
    assert!(check(&split, None).unwrap().is_clean(), "{split:#}");
    let once = split.clone();
    assert!(repair(&mut split, None, &opts).unwrap().changes.is_empty());
    assert_eq!(split, once);
}

#[test]
fn gemini_code_execution_and_thoughts_pair_with_nothing() {
    let body = gemini(vec![
        user("compute"),
        turn(
            "model",
            vec![
                json!({"text": "thinking", "thought": true}),
                json!({"executableCode": {"language": "PYTHON", "code": "1+1"}}),
                json!({"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "2"}}),
                json!({"text": "2", "thoughtSignature": "c2ln"}),
            ],
        ),
    ]);
    assert!(check(&body, None).unwrap().is_clean());
    // A part Gemini does not know is reported, never passed.
    let odd = gemini(vec![turn("user", vec![json!({"mystery": 1})])]);
    let report = check(&odd, None).unwrap();
    assert_eq!(report.violations[0].rule, Rule::MalformedItem);
    assert_eq!(
        report.location(&report.violations[0]),
        "contents[0].parts[0]"
    );
}

#[test]
fn gemini_is_read_whole_not_line_by_line() {
    let mut skel = wire::empty_skeleton(Format::Gemini);
    assert!(wire::push_item(&mut skel, &user("hi"), Format::Gemini).is_err());
    assert!(!Format::Gemini.incremental());
}

// --- Bedrock --------------------------------------------------------------------------------

fn text(t: &str) -> Value {
    json!({"text": t})
}

fn tool_use(id: &str) -> Value {
    json!({"toolUse": {"toolUseId": id, "name": "ls", "input": {"path": "."}}})
}

fn tool_result(id: &str) -> Value {
    json!({"toolResult": {"toolUseId": id, "content": [{"text": format!("out {id}")}], "status": "success"}})
}

fn msg(role: &str, content: Vec<Value>) -> Value {
    json!({"role": role, "content": content})
}

fn bedrock(messages: Vec<Value>) -> Value {
    json!({"modelId": "anthropic.claude", "messages": messages, "inferenceConfig": {"maxTokens": 100},
        "toolConfig": {"tools": [{"toolSpec": {"name": "ls", "inputSchema": {"json": {}}}}]}})
}

#[test]
fn bedrock_is_detected_from_its_blocks_and_never_called_clean_when_broken() {
    let body = bedrock(vec![
        msg("user", vec![text("list")]),
        msg("assistant", vec![tool_use("t1")]),
        msg("user", vec![text("stop")]),
    ]);
    let report = check(&body, None).unwrap();
    assert_eq!(report.detection.format, Format::Bedrock);
    assert!(!report.is_clean());
    // Text alone, no tools: still Bedrock (blocks without `type`).
    let plain = json!({"messages": [msg("user", vec![text("hi")])]});
    assert_eq!(wire::detect(&plain).unwrap().format, Format::Bedrock);
}

#[test]
fn bedrock_parallel_calls_answered_in_one_message_in_any_order_are_clean() {
    for order in [["t1", "t2"], ["t2", "t1"]] {
        let body = bedrock(vec![
            msg("user", vec![text("list two")]),
            msg(
                "assistant",
                vec![text("sure"), tool_use("t1"), tool_use("t2")],
            ),
            msg("user", vec![tool_result(order[0]), tool_result(order[1])]),
            msg("assistant", vec![text("done")]),
        ]);
        assert!(
            check(&body, None).unwrap().is_clean(),
            "{}",
            check(&body, None).unwrap()
        );
    }
}

#[test]
fn bedrock_missing_result_is_answered_with_an_error_result() {
    let mut body = bedrock(vec![
        msg("user", vec![text("list two")]),
        msg("assistant", vec![tool_use("t1"), tool_use("t2")]),
        msg("user", vec![tool_result("t1")]),
    ]);
    assert_eq!(rules(&body, Format::Bedrock), [Rule::MissingOutput]);
    assert_eq!(
        errors(&body),
        ["Expected toolResult blocks at messages.2.content for the following Ids: t2"]
    );
    mend(&mut body);
    assert_eq!(
        body["messages"][2]["content"][1],
        json!({"toolResult": {"toolUseId": "t2", "content": [{"text": "aborted"}], "status": "error"}})
    );
    // The user's next message holds text: the results get a message of their own before it.
    // Bedrock wants roles to alternate, and text cannot join the results: what is left is
    // reported, not hidden.
    let mut body = bedrock(vec![
        msg("user", vec![text("go")]),
        msg("assistant", vec![tool_use("t1")]),
        msg("user", vec![text("stop")]),
    ]);
    mend(&mut body);
    assert_eq!(
        body["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        "t1"
    );
    assert_eq!(body["messages"][3], msg("user", vec![text("stop")]));
    assert_eq!(rules(&body, Format::Bedrock), [Rule::RolesNotAlternating]);
    assert_eq!(
        errors(&body),
        ["A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."]
    );
}

#[test]
fn bedrock_split_results_are_merged_into_the_next_message() {
    let mut body = bedrock(vec![
        msg("user", vec![text("list two")]),
        msg("assistant", vec![tool_use("t1"), tool_use("t2")]),
        msg("user", vec![tool_result("t1")]),
        msg("user", vec![tool_result("t2")]),
    ]);
    assert_eq!(rules(&body, Format::Bedrock), [Rule::SplitResults]);
    assert_eq!(
        errors(&body),
        ["Expected toolResult blocks at messages.2.content for the following Ids: t2"]
    );
    mend(&mut body);
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        body["messages"][2],
        msg("user", vec![tool_result("t1"), tool_result("t2")])
    );
}

#[test]
fn bedrock_more_results_than_calls() {
    let mut body = bedrock(vec![
        msg("user", vec![text("list")]),
        msg("assistant", vec![tool_use("t1")]),
        msg(
            "user",
            vec![tool_result("t1"), tool_result("t1"), tool_result("zz")],
        ),
    ]);
    assert_eq!(
        rules(&body, Format::Bedrock),
        [Rule::DuplicateOutput, Rule::OrphanOutput]
    );
    assert_eq!(
        errors(&body)[1],
        "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn."
    );
    let report = mend(&mut body);
    let removed = report
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Removed { .. }))
        .count();
    assert_eq!(removed, 2);
    assert_eq!(body["messages"][2], msg("user", vec![tool_result("t1")]));
}

#[test]
fn bedrock_text_beside_results_moves_to_a_following_user_message() {
    let mut body = bedrock(vec![
        msg("user", vec![text("list")]),
        msg("assistant", vec![tool_use("t1")]),
        msg(
            "user",
            vec![
                text("before"),
                tool_result("t1"),
                text("after"),
                json!({"image": {"format": "png", "source": {"bytes": "AA=="}}}),
            ],
        ),
    ]);
    assert_eq!(
        rules(&body, Format::Bedrock),
        [Rule::MixedResultTurn, Rule::MixedResultTurn]
    );
    assert_eq!(
        errors(&body)[0],
        "messages.2.content: Conversation blocks and tool result blocks cannot be provided in the same turn."
    );
    let report = mend(&mut body);
    assert!(report.changes.iter().any(|c| matches!(
        c,
        Change::Separated {
            rule: Rule::MixedResultTurn,
            index: 2,
            blocks: 3,
            ..
        }
    )));
    assert_eq!(body["messages"][2], msg("user", vec![tool_result("t1")]));
    assert_eq!(body["messages"][3]["content"][0], text("before"));
    assert_eq!(body["messages"][3]["content"][1], text("after"));
    assert!(body["messages"][3]["content"][2].get("image").is_some());
    assert_eq!(rules(&body, Format::Bedrock), [Rule::RolesNotAlternating]);
    // The assistant's text beside its calls is not a mixed turn.
    let clean = bedrock(vec![
        msg("user", vec![text("go")]),
        msg("assistant", vec![text("ok"), tool_use("t1")]),
        msg("user", vec![tool_result("t1")]),
    ]);
    assert!(check(&clean, None).unwrap().is_clean());
}

#[test]
fn bedrock_ids_outside_the_pattern_are_rewritten_on_both_sides() {
    let long = "x".repeat(65);
    let mut body = bedrock(vec![
        msg("user", vec![text("go")]),
        msg(
            "assistant",
            vec![tool_use("functions.ls:0"), tool_use(&long)],
        ),
        msg(
            "user",
            vec![tool_result("functions.ls:0"), tool_result(&long)],
        ),
    ]);
    let found = rules(&body, Format::Bedrock);
    assert_eq!(
        found.iter().filter(|r| **r == Rule::InvalidCallId).count(),
        2,
        "{found:?}"
    );
    assert_eq!(
        found.iter().filter(|r| **r == Rule::CallIdTooLong).count(),
        2,
        "{found:?}"
    );
    mend(&mut body);
    let new = body["messages"][1]["content"][0]["toolUse"]["toolUseId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(new.starts_with("tooluse_") && new.len() <= 64);
    assert_eq!(
        body["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        new.as_str()
    );
    // The clean twin: an id at the limit of the pattern.
    let ok = "a-Z_9".repeat(12) + "abcd";
    assert_eq!(ok.len(), 64);
    let clean = bedrock(vec![
        msg("user", vec![text("go")]),
        msg("assistant", vec![tool_use(&ok)]),
        msg("user", vec![tool_result(&ok)]),
    ]);
    assert!(check(&clean, None).unwrap().is_clean());
}

#[test]
fn bedrock_roles_alternate() {
    let body = bedrock(vec![
        msg("user", vec![text("a")]),
        msg("user", vec![text("b")]),
        msg("assistant", vec![text("c")]),
        msg("assistant", vec![text("d")]),
    ]);
    assert_eq!(
        rules(&body, Format::Bedrock),
        [Rule::RolesNotAlternating, Rule::RolesNotAlternating]
    );
    assert!(!check(&body, None).unwrap().violations[0].repairable());
    // Other formats do not ask for it.
    let chat =
        json!({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]});
    assert!(check(&chat, None).unwrap().is_clean());
}

#[test]
fn bedrock_error_result_needs_content() {
    let body = bedrock(vec![
        msg("user", vec![text("go")]),
        msg("assistant", vec![tool_use("t1")]),
        msg(
            "user",
            vec![json!({"toolResult": {"toolUseId": "t1", "content": [], "status": "error"}})],
        ),
    ]);
    let report = check(&body, None).unwrap();
    assert_eq!(rules(&body, Format::Bedrock), [Rule::InvalidOutputShape]);
    let v = &report.violations[0];
    assert_eq!(v.call_id.as_deref(), Some("t1"));
    assert_eq!(
        report.api_error(v).unwrap(),
        "The content field at messages.2.content.0.toolResult cannot be empty when status value is error."
    );
    // Repaired with a text that says only what the result said: the tool failed.
    let mut fixed = body.clone();
    let repaired = repair(&mut fixed, None, &RepairOptions::default()).unwrap();
    assert!(
        matches!(
            repaired.changes[..],
            [Change::Reshaped {
                field: "content",
                ..
            }]
        ),
        "{repaired}"
    );
    let result = &fixed["messages"][2]["content"][0]["toolResult"];
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["content"],
        json!([{"text": "the tool failed and returned no details"}])
    );
    assert!(check(&fixed, None).unwrap().is_clean());
    // The clean twin: an empty success result.
    let clean = bedrock(vec![
        msg("user", vec![text("go")]),
        msg("assistant", vec![tool_use("t1")]),
        msg(
            "user",
            vec![json!({"toolResult": {"toolUseId": "t1", "content": [], "status": "success"}})],
        ),
    ]);
    assert!(check(&clean, None).unwrap().is_clean());
}

#[test]
fn bedrock_blocks_it_does_not_know_are_reported() {
    let body = bedrock(vec![msg(
        "user",
        vec![
            json!({"type": "text", "text": "anthropic style"}),
            tool_result("t1"),
        ],
    )]);
    let report = check(&body, Some(Format::Bedrock)).unwrap();
    assert!(report
        .violations
        .iter()
        .any(|v| v.rule == Rule::MalformedItem));
    assert!(!report.is_clean());
}

#[test]
fn unknown_shapes_are_refused_with_what_was_not_understood() {
    for body in [
        json!({"prompt": "hi"}),
        json!({"messages": [{"role": "user", "content": [{"mystery": 1}]}]}),
        json!({"messages": "hi"}),
        json!(42),
    ] {
        let err = check(&body, None).unwrap_err().to_string();
        assert!(err.starts_with("not a conversation history"), "{err}");
    }
    let err = check(&json!({"prompt": "hi", "n": 1}), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt"), "{err}");
}

#[test]
fn a_placeholder_model_turn_lets_the_users_text_follow_results_where_turns_alternate() {
    // Bedrock: "A conversation must alternate between user and assistant roles."; the user
    // wrote while the tool ran, and the client stored the text as its own message.
    let body = bedrock(vec![
        msg("user", vec![text("go")]),
        msg("assistant", vec![tool_use("t1")]),
        msg("user", vec![tool_result("t1")]),
        msg("user", vec![text("and then?")]),
    ]);
    assert_eq!(rules(&body, Format::Bedrock), [Rule::RolesNotAlternating]);
    let mut left = body.clone();
    assert!(mend(&mut left).changes.is_empty(), "not without asking");
    let opts = RepairOptions::default().placeholders(true);
    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &opts).unwrap();
    assert!(
        matches!(
            report.changes[..],
            [Change::Placeholder {
                field: "turn",
                index: 3,
                ..
            }]
        ),
        "{report}"
    );
    assert_eq!(fixed["messages"][3]["role"], "assistant");
    assert_eq!(fixed["messages"][4], body["messages"][3]);
    assert!(check(&fixed, None).unwrap().is_clean(), "{fixed:#}");
    let once = fixed.clone();
    assert!(repair(&mut fixed, None, &opts).unwrap().changes.is_empty());
    assert_eq!(fixed, once);
    // Two texts in a row are not the tools' doing: no turn is made up for them.
    let texts = bedrock(vec![
        msg("user", vec![text("a")]),
        msg("user", vec![text("b")]),
    ]);
    let mut same = texts.clone();
    assert!(repair(&mut same, None, &opts).unwrap().changes.is_empty());
    assert_eq!(same, texts);
}

#[test]
fn a_gemini_history_that_lost_its_start_gets_a_placeholder_user_turn_when_asked() {
    // A trimmed history that opens with the model's calls: "Please ensure that function call
    // turn comes immediately after a user turn or after a function response turn."
    let body = gemini(vec![
        turn("model", vec![call("ls", None)]),
        turn("user", vec![resp("ls", None)]),
    ]);
    assert_eq!(
        rules(&body, Format::Gemini),
        [Rule::CallWithoutPrecedingUserTurn]
    );
    let mut left = body.clone();
    assert!(mend(&mut left).changes.is_empty(), "not without asking");
    let opts = RepairOptions::default().placeholders(true);
    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &opts).unwrap();
    assert!(
        matches!(
            report.changes[..],
            [Change::Placeholder {
                field: "turn",
                index: 0,
                ..
            }]
        ),
        "{report}"
    );
    assert_eq!(fixed["contents"][0]["role"], "user");
    assert_eq!(fixed["contents"][1], body["contents"][0]);
    assert!(check(&fixed, None).unwrap().is_clean(), "{fixed:#}");
    let once = fixed.clone();
    assert!(repair(&mut fixed, None, &opts).unwrap().changes.is_empty());
    assert_eq!(fixed, once);
}

#[test]
fn a_bedrock_conversation_opens_with_the_user() {
    // elastic/kibana#246393: "A conversation must start with a user message. Try again with a
    // conversation that starts with a user message."
    let body = bedrock(vec![
        msg("assistant", vec![text("Hello, how can I help?")]),
        msg("user", vec![text("list the files")]),
    ]);
    assert_eq!(rules(&body, Format::Bedrock), [Rule::OpensWithModel]);
    assert_eq!(
        errors(&body),
        ["A conversation must start with a user message. Try again with a conversation that starts with a user message."]
    );
    let mut left = body.clone();
    assert!(mend(&mut left).changes.is_empty(), "not without asking");
    let opts = RepairOptions::default().placeholders(true);
    let mut fixed = body.clone();
    let report = repair(&mut fixed, None, &opts).unwrap();
    assert!(
        matches!(
            report.changes[..],
            [Change::Placeholder {
                rule: Rule::OpensWithModel,
                index: 0,
                ..
            }]
        ),
        "{report}"
    );
    assert_eq!(fixed["messages"][0]["role"], "user");
    assert!(check(&fixed, None).unwrap().is_clean(), "{fixed:#}");
    // The twin: the user first.
    let twin = bedrock(vec![
        msg("user", vec![text("hi")]),
        msg("assistant", vec![text("hello")]),
    ]);
    assert!(check(&twin, None).unwrap().is_clean());
}
