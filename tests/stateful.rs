//! Responses bodies whose calls may live server-side (`previous_response_id`, `conversation`,
//! `item_reference`): toolseq must never turn such a request into one the API refuses.

use proptest::prelude::*;
use serde_json::{json, Value};
use toolseq::ledger::Ledger;
use toolseq::{check, repair, Finding, Guard, RepairOptions, Rule};

/// What a client sends after the model asked for two calls: only their outputs.
fn continuation() -> Value {
    json!({"model": "gpt-5", "previous_response_id": "resp_68a1",
           "input": [
               {"type": "function_call_output", "call_id": "call_a", "output": "a.txt"},
               {"type": "function_call_output", "call_id": "call_b", "output": "b.txt"}]})
}

#[test]
fn outputs_answering_a_stored_response_are_clean_and_left_byte_for_byte() {
    for field in ["previous_response_id", "conversation"] {
        let mut body = continuation();
        if field == "conversation" {
            let obj = body.as_object_mut().unwrap();
            obj.remove("previous_response_id");
            obj.insert("conversation".into(), json!("conv_123"));
        }
        let text = serde_json::to_string(&body).unwrap();
        let report = check(&body, None).unwrap();
        assert!(report.is_clean(), "{field}: {report}");
        assert_eq!(report.findings.len(), 2);
        assert!(
            matches!(&report.findings[0], Finding::ServerSide { call_id, reason, .. }
            if call_id == "call_a" && *reason == field)
        );
        let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
        assert!(report.changes.is_empty());
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
        let (sent, report) = Guard::new(&Ledger::new())
            .prepare_with("c", || body.clone())
            .unwrap();
        assert!(report.is_clean());
        assert_eq!(serde_json::to_string(&sent).unwrap(), text);
    }
}

#[test]
fn the_same_outputs_without_a_stored_response_are_orphans() {
    let mut body = continuation();
    body.as_object_mut().unwrap().remove("previous_response_id");
    let report = check(&body, None).unwrap();
    assert_eq!(report.count(Rule::OrphanOutput), 2);
    // A null `previous_response_id` stores nothing either.
    body["previous_response_id"] = Value::Null;
    assert_eq!(check(&body, None).unwrap().count(Rule::OrphanOutput), 2);
}

#[test]
fn a_stored_response_does_not_excuse_a_call_in_the_body() {
    // The new call is in the body: its output must be too, whatever the server holds.
    let mut body = json!({"previous_response_id": "resp_1", "input": [
        {"type": "function_call_output", "call_id": "call_a", "output": "ok"},
        {"type": "function_call", "call_id": "call_new", "name": "ls", "arguments": "{}"},
        {"type": "message", "role": "user", "content": "stop"}]});
    let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].rule, Rule::MissingOutput);
    assert_eq!(body["input"][0]["call_id"], "call_a");
    assert_eq!(body["input"][2]["type"], "function_call_output");
}

#[test]
fn outputs_that_may_answer_referenced_items_are_left_alone() {
    for reference in [
        json!({"type": "item_reference", "id": "fc_01"}),
        json!({"id": "fc_01"}),
    ] {
        let mut body = json!({"input": [
            {"type": "message", "role": "user", "content": "go"},
            reference,
            {"type": "function_call_output", "call_id": "call_a", "output": "done"}]});
        let before = body.clone();
        let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
        assert!(report.is_clean(), "{report}");
        assert_eq!(body, before);
        assert!(matches!(
            &report.findings[..],
            [Finding::ServerSide {
                reason: "item_reference",
                ..
            }]
        ));
    }
}

/// Calls in the body draw ids from `call_0..3`; outputs also from `srv_0..3`, which no body call
/// uses: the server's calls.
#[derive(Debug, Clone)]
enum Step {
    Call(u8),
    Output(u8),
    ServerOutput(u8),
    User,
    Reference,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4u8).prop_map(Step::Call),
        3 => (0..4u8).prop_map(Step::Output),
        3 => (0..4u8).prop_map(Step::ServerOutput),
        2 => Just(Step::User),
        1 => Just(Step::Reference),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn repair_changes_nothing_the_server_could_have_paired(
        steps in prop::collection::vec(step(), 0..30),
        stored in prop_oneof![Just(Some("previous_response_id")), Just(Some("conversation")), Just(None)],
    ) {
        let mut n = 0;
        let items: Vec<Value> = steps.iter().map(|s| {
            n += 1;
            match s {
                Step::Call(k) => json!({"type": "function_call", "call_id": format!("call_{k}"), "name": "f", "arguments": "{}"}),
                Step::Output(k) => json!({"type": "function_call_output", "call_id": format!("call_{k}"), "output": format!("o{n}")}),
                Step::ServerOutput(k) => json!({"type": "function_call_output", "call_id": format!("srv_{k}"), "output": format!("s{n}")}),
                Step::User => json!({"type": "message", "role": "user", "content": format!("m{n}")}),
                Step::Reference => json!({"type": "item_reference", "id": format!("fc_{n}")}),
            }
        }).collect();
        let mut body = json!({"input": items});
        if let Some(field) = stored {
            body[field] = json!("resp_or_conv_1");
        }
        let server_side = stored.is_some() || steps.iter().any(|s| matches!(s, Step::Reference));
        let kept = |b: &Value| -> Vec<Value> {
            b["input"].as_array().unwrap().iter()
                .filter(|i| i["call_id"].as_str().is_some_and(|c| c.starts_with("srv_")) || i["type"] == "item_reference")
                .cloned().collect()
        };
        let before = kept(&body);
        let report = repair(&mut body, None, &RepairOptions::default()).unwrap();
        if server_side {
            // Every output the server could pair, and every reference, survives unchanged and in order.
            prop_assert_eq!(kept(&body), before);
            prop_assert_eq!(report.count(Rule::OrphanOutput), 0);
        } else {
            prop_assert!(kept(&body).is_empty());
        }
        let left: Vec<_> = check(&body, None).unwrap().violations.into_iter().filter(|v| v.repairable()).collect();
        prop_assert!(left.is_empty(), "{:?}", left);
    }
}

#[test]
fn bodies_once_refused_are_read_and_never_called_clean() {
    // Bedrock Converse: a call with no result, which used to be read as Chat and called clean.
    let bedrock = json!({"messages": [
        {"role": "user", "content": [{"text": "list files"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "ls", "input": {}}}]},
        {"role": "user", "content": [{"text": "never mind"}]}]});
    let report = check(&bedrock, None).unwrap();
    assert_eq!(report.detection.format, toolseq::Format::Bedrock);
    assert_eq!(report.count(Rule::MissingOutput), 1, "{report}");
    let gemini = json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}}]}]});
    assert!(!check(&gemini, None).unwrap().is_clean());
    // A body no format holds is refused, and the body is left as it was.
    let odd =
        json!({"messages": [{"role": "user", "content": [{"mystery": {"toolUseId": "t1"}}]}]});
    let mut body = odd.clone();
    assert!(repair(&mut body, None, &RepairOptions::default()).is_err());
    assert_eq!(body, odd);
    // A Chat body with typed content parts is still read.
    let chat = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
    assert!(check(&chat, None).unwrap().is_clean());
}

#[test]
fn a_forced_format_reports_blocks_it_does_not_understand() {
    let bedrock = json!({"messages": [
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "ls", "input": {}}}]},
        {"role": "user", "content": [{"text": "never mind"}]}]});
    let report = check(&bedrock, Some(toolseq::Format::Anthropic)).unwrap();
    assert_eq!(report.count(Rule::MalformedItem), 2, "{report}");
}
