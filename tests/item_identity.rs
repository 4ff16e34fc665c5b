//! Responses item identity: ids the API refuses, and items it cannot look up when nothing is
//! stored. Each broken body beside the clean twin a naive checker would flag.

use serde_json::{json, Value};
use toolseq::{check, repair, Change, Format, RepairOptions, Rule};

fn rules(body: &Value) -> Vec<(Rule, usize)> {
    check(body, Some(Format::Responses))
        .unwrap()
        .violations
        .iter()
        .map(|v| (v.rule, v.index))
        .collect()
}

fn call(id: Option<&str>) -> Value {
    let mut c =
        json!({"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"});
    if let Some(id) = id {
        c["id"] = json!(id);
    }
    c
}

fn output() -> Value {
    json!({"type": "function_call_output", "call_id": "call_1", "output": "a.txt"})
}

fn user() -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]})
}

/// Repairs, checks the result clean, and returns the input items and what changed.
fn fixed(body: &Value) -> (Vec<Value>, Vec<Change>) {
    let mut b = body.clone();
    let report = repair(&mut b, Some(Format::Responses), &RepairOptions::default()).unwrap();
    assert!(
        check(&b, Some(Format::Responses)).unwrap().is_clean(),
        "{b:#}"
    );
    (b["input"].as_array().unwrap().clone(), report.changes)
}

#[test]
fn an_id_the_client_made_up_is_refused_and_dropped_where_it_is_optional() {
    // Codex replaying a message under its own UUID (openai/codex#33176): "Invalid
    // 'input[371].id': '019f629b-…'. Expected an ID that begins with 'msg'."
    let message = json!({"type": "message", "role": "assistant", "id": "019f629b-43ee-7a82-acb1-3071dbffbdad",
        "content": [{"type": "output_text", "text": "done"}]});
    let body =
        json!({"model": "gpt-5", "input": [user(), message, call(Some("call_1")), output()]});
    assert_eq!(
        rules(&body),
        [(Rule::InvalidItemId, 1), (Rule::InvalidItemId, 2)]
    );
    let report = check(&body, None).unwrap();
    let said = report.to_string();
    assert!(
        said.contains("Expected an ID that begins with 'msg'."),
        "{said}"
    );
    assert!(
        said.contains("Expected an ID that begins with 'fc'."),
        "{said}"
    );
    let (items, changes) = fixed(&body);
    assert!(items.iter().all(|i| i.get("id").is_none()), "{items:?}");
    assert_eq!(items.len(), 4);
    assert_eq!(changes.len(), 2);

    // The clean twins: ids the API made, and no id at all.
    let msg = json!({"type": "message", "role": "assistant", "id": "msg_1",
        "content": [{"type": "output_text", "text": "done"}]});
    for twin in [
        json!({"input": [user(), msg, call(Some("fc_1")), output()]}),
        json!({"input": [user(), call(None), output()]}),
    ] {
        assert!(rules(&twin).is_empty(), "{twin:#}");
    }
}

#[test]
fn an_empty_id_is_refused_and_only_an_optional_one_is_dropped() {
    // "Invalid 'input[2].id': ''. Expected an ID that contains letters, numbers, underscores,
    // or dashes."
    let search = json!({"type": "web_search_call", "id": "", "status": "completed"});
    let body = json!({"input": [user(), call(Some("")), output(), search]});
    assert_eq!(
        rules(&body),
        [(Rule::InvalidItemId, 1), (Rule::InvalidItemId, 3)]
    );
    let report = check(&body, None).unwrap();
    assert!(report
        .to_string()
        .contains("Invalid 'input[1].id': ''. Expected an ID that contains letters"));
    assert!(report.violations[0].repairable());
    // A server-executed item needs its id: reported, left as it is.
    assert!(!report.violations[1].repairable());
    let mut b = body.clone();
    repair(&mut b, None, &RepairOptions::default()).unwrap();
    assert_eq!(b["input"][1].get("id"), None);
    assert_eq!(b["input"][3], body["input"][3]);
}

#[test]
fn a_reasoning_item_under_a_foreign_id_goes_with_its_followers_id() {
    // jlcodes99/cockpit-tools#2090: "Invalid 'input[66].id': 'item_df7e…'. Expected an ID that
    // begins with 'rs'."
    let reasoning = json!({"type": "reasoning", "id": "item_df7e40c3f04fc8ade5c3800e", "summary": [],
        "encrypted_content": "gAAA"});
    let body = json!({"input": [user(), reasoning, call(Some("fc_1")), output()]});
    assert_eq!(rules(&body), [(Rule::InvalidItemId, 1)]);
    let (items, changes) = fixed(&body);
    assert_eq!(items, [user(), call(None), output()]);
    assert!(changes.iter().any(|c| matches!(
        c,
        Change::Removed {
            rule: Rule::InvalidItemId,
            ..
        }
    )));
}

#[test]
fn with_store_false_a_reasoning_item_needs_its_encrypted_content() {
    // vercel/ai#7543, anomalyco/opencode#7724: "Item with id 'rs_…' not found. Items are not
    // persisted when `store` is set to false. Try again with `store` set to true, or remove
    // this item from your input."
    let by_id =
        json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": null});
    let body = json!({"model": "gpt-5", "store": false,
        "input": [user(), by_id.clone(), call(Some("fc_1")), output()]});
    assert_eq!(rules(&body), [(Rule::UnpersistedItem, 1)]);
    let said = check(&body, None).unwrap().to_string();
    assert!(
        said.contains(
            "Item with id 'rs_1' not found. Items are not persisted when `store` is set to false."
        ),
        "{said}"
    );
    let (items, _) = fixed(&body);
    assert_eq!(items, [user(), call(None), output()]);
    // The same body read from its text, as `toolseq check` reads a file, finds the same.
    let text = serde_json::to_string(&body).unwrap();
    let skel = toolseq::__private::wire::read_text_body(&text)
        .unwrap()
        .unwrap()
        .skel;
    let found: Vec<Rule> = toolseq::__private::rules::check(&skel)
        .iter()
        .map(|v| v.rule)
        .collect();
    assert_eq!(found, [Rule::UnpersistedItem]);

    // The clean twins: the content sent along, or a stored response the API can look up.
    let with_content =
        json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"});
    for twin in [
        json!({"store": false, "input": [user(), with_content, call(Some("fc_1")), output()]}),
        json!({"store": true, "input": [user(), by_id.clone(), call(Some("fc_1")), output()]}),
        json!({"input": [user(), by_id, call(Some("fc_1")), output()]}),
    ] {
        assert!(rules(&twin).is_empty(), "{twin:#}");
        let text = serde_json::to_string(&twin).unwrap();
        let skel = toolseq::__private::wire::read_text_body(&text)
            .unwrap()
            .unwrap()
            .skel;
        assert!(
            toolseq::__private::rules::check(&skel).is_empty(),
            "{twin:#}"
        );
    }
}

#[test]
fn a_reasoning_models_stored_items_need_their_reasoning_even_when_none_is_shown() {
    // cline/cline#12242 (gpt-5.5), continuedev/continue#10018 and #11466: "Item 'fc_…' of type
    // 'function_call' was provided without its required 'reasoning' item: 'rs_…'.", and the same
    // for a 'message', from clients that replay ids and drop reasoning items.
    let answer = json!({"type": "message", "role": "assistant", "id": "msg_2",
        "content": [{"type": "output_text", "text": "one file"}]});
    let items = json!([user(), call(Some("fc_1")), output(), answer]);
    let body = |model: &str| json!({"model": model, "input": items});
    let report = check(&body("gpt-5.5"), None).unwrap();
    assert_eq!(
        report.profile.as_ref().unwrap().profile,
        toolseq::Profile::OpenaiReasoning
    );
    assert_eq!(
        rules(&body("gpt-5.5")),
        [(Rule::MissingReasoning, 1), (Rule::MissingReasoning, 3)]
    );
    assert!(report.to_string().contains(
        "Item 'fc_1' of type 'function_call' was provided without its required 'reasoning' item"
    ));
    let (fixed, _) = fixed(&body("o3"));
    assert!(fixed.iter().all(|i| i.get("id").is_none()), "{fixed:?}");

    // The twins: models that do not reason, and Codex's `store: false`, where nothing is
    // stored for the API to look up.
    for model in ["gpt-4.1", "gpt-5-chat-latest"] {
        assert!(rules(&body(model)).is_empty(), "{model}");
    }
    let codex = json!({"model": "gpt-5", "store": false, "input": items});
    assert!(rules(&codex).is_empty());
}
