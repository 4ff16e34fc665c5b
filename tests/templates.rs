//! The chat templates of self-hosted servers (profile `self-hosted`: vLLM, SGLang, llama.cpp),
//! each refusal in the template's own words and beside its clean twin: the model maker's API
//! takes every one of these histories; only the template rendering them on a server refuses.

use serde_json::{json, Value};
mod common;

use common::rules;
use toolseq::{check, check_for, repair, Format, RepairOptions, Rule};

/// The history as a self-hosted server sees it; `fix` leaves it as it is (nothing to mend
/// without inventing the model's or the user's words).
fn served(body: &Value) -> toolseq::Report {
    let report = check_for(body, Some(Format::Chat), "vllm").unwrap();
    let mut b = body.clone();
    let opts = RepairOptions::default()
        .model("llama.cpp")
        .placeholders(true);
    let fixed = repair(&mut b, Some(Format::Chat), &opts).unwrap();
    assert!(fixed.changes.is_empty(), "{fixed}");
    assert_eq!(&b, body);
    report
}

const DEVSTRAL: &str = "mistralai/Devstral-Small-2-24B-Instruct-2512";

fn ls_call() -> Value {
    call("a1b2c3d4e")
}

fn ls_result() -> Value {
    result("a1b2c3d4e")
}

// Nine letters and digits: Mistral's own id rule holds, so only the template speaks.
fn call(id: &str) -> Value {
    json!({"role": "assistant", "content": null, "tool_calls": [{"id": id,
        "type": "function", "function": {"name": "ls", "arguments": "{}"}}]})
}

fn result(id: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": "a.txt"})
}

#[test]
fn mistral_templates_want_the_users_and_the_models_words_to_take_turns() {
    // The refusal: llama.cpp `Jinja Exception: After the optional system message, conversation
    // roles must alternate user and assistant roles except for tool calls and results.` (the
    // template of Devstral and Ministral 2512, which skips messages with `tool_calls` and tool
    // messages and counts the rest). Seen with opencode's three system messages
    // (anomalyco/opencode#5034) and with a session resumed right after tool results.
    let words = "After the optional system message, conversation roles must alternate user and assistant roles except for tool calls and results.";
    let user = |t: &str| json!({"role": "user", "content": t});
    let assistant = |t: &str| json!({"role": "assistant", "content": t});
    let system = |t: &str| json!({"role": "system", "content": t});
    let body = |messages: Vec<Value>| json!({"model": DEVSTRAL, "messages": messages});

    let after_results = body(vec![
        system("you are a coder"),
        user("list the files"),
        ls_call(),
        ls_result(),
        user("now delete a.txt"),
    ]);
    let report = served(&after_results);
    assert_eq!(rules(&report), [(Rule::RolesNotAlternating, 4)], "{report}");
    assert!(report.to_string().contains(words), "{report}");
    let evidence = &report.profile.as_ref().unwrap().evidence;
    assert!(evidence.contains("Mistral's chat template"), "{evidence}");
    // Mistral's own API takes it, and so does every server without the profile.
    assert!(check(&after_results, None).unwrap().is_clean());

    let broken = [
        // Two system messages (opencode), the second one not first.
        (
            vec![system("a"), system("b"), user("go"), assistant("ok")],
            vec![1],
        ),
        // Two user messages in a row (a client that sends standing context apart).
        (vec![user("context"), user("go"), assistant("ok")], vec![1]),
        // The model speaks first.
        (vec![assistant("hello"), user("go")], vec![0]),
        // Two replies in a row, with calls between them.
        (
            vec![
                user("go"),
                assistant("let me look"),
                ls_call(),
                ls_result(),
                assistant("a.txt"),
            ],
            vec![4],
        ),
        // A developer message is no system message to this template.
        (
            vec![json!({"role": "developer", "content": "x"}), user("go")],
            vec![0],
        ),
    ];
    for (messages, at) in broken {
        let report = served(&body(messages.clone()));
        let want: Vec<_> = at.iter().map(|&i| (Rule::RolesNotAlternating, i)).collect();
        assert_eq!(rules(&report), want, "{messages:?}\n{report}");
    }

    // The twins a naive alternation check flags: calls and results between the user's words
    // and the model's reply, parallel results, a reply with text and calls at once, a system
    // message first.
    let fine = [
        vec![
            system("you are a coder"),
            user("list the files"),
            ls_call(),
            ls_result(),
            assistant("a.txt"),
            user("now delete it"),
        ],
        vec![
            user("go"),
            ls_call(),
            ls_result(),
            call("f5g6h7i8j"),
            result("f5g6h7i8j"),
        ],
        vec![
            user("go"),
            json!({"role": "assistant", "content": "looking", "tool_calls": ls_call()["tool_calls"]}),
            ls_result(),
        ],
        vec![user("go")],
    ];
    for messages in fine {
        let report = served(&body(messages.clone()));
        assert!(report.is_clean(), "{messages:?}\n{report}");
    }
    // Mistral's tokenizer holds a server's call ids to Mistral's rule too ("Tool call id was
    // call_1 but must be a-z, A-Z, 0-9, with a length of 9."), renamed as for Mistral's API.
    let openai_ids = body(vec![
        user("go"),
        call("call_1"),
        result("call_1"),
        assistant("a"),
    ]);
    let report = check_for(&openai_ids, Some(Format::Chat), "vllm").unwrap();
    assert_eq!(
        rules(&report),
        [(Rule::InvalidCallId, 1), (Rule::InvalidCallId, 2)],
        "{report}"
    );
    // Another model on the same server renders another template.
    let qwen3 = json!({"model": "Qwen/Qwen3-8B", "messages": [
        user("list"), ls_call(), ls_result(), user("delete")]});
    assert!(served(&qwen3).is_clean());
}

#[test]
fn qwen_templates_from_3_5_want_a_user_query() {
    // `No user query found in messages.`: Qwen 3.5's template looks back from the end for a user
    // message that is not a `<tool_response>`, and raises without one. Seen after compactions
    // and trimmed windows that dropped the user's message (a Codex stand-in gateway keeping the
    // last 8 messages; an agent whose compaction kept only the system prompt and tools).
    let body = |model: &str, messages: Value| json!({"model": model, "messages": messages});
    let no_user = json!([{"role": "system", "content": "you are a coder"}, ls_call(), ls_result()]);
    for model in [
        "Qwen/Qwen3.5-27B",
        "qwen3.5:9b",
        "Qwen3.6-35B-A3B",
        "unsloth/Qwen3_5-4B-GGUF",
    ] {
        let report = served(&body(model, no_user.clone()));
        assert_eq!(
            rules(&report),
            [(Rule::NoUserQuery, 0)],
            "{model}\n{report}"
        );
        assert!(report
            .to_string()
            .contains("No user query found in messages."));
    }
    // A tool response sent as the user's text is no query either.
    let wrapped = json!([{"role": "user", "content": "<tool_response>\na.txt\n</tool_response>"},
        {"role": "user", "content": [{"type": "text", "text": "<tool_response>b"},
            {"type": "text", "text": "</tool_response>"}]}]);
    assert_eq!(
        rules(&served(&body("Qwen/Qwen3.5-27B", wrapped))),
        [(Rule::NoUserQuery, 0)]
    );

    // The twins: one query anywhere before the calls; Qwen 3's template, which does not check;
    // the same history without the server named.
    let with_query = json!([{"role": "user", "content": "list the files"}, ls_call(), ls_result()]);
    assert!(served(&body("Qwen/Qwen3.5-27B", with_query)).is_clean());
    let mentions = json!([{"role": "user", "content": "what does <tool_response> mean?"}]);
    assert!(served(&body("Qwen/Qwen3.5-27B", mentions)).is_clean());
    for model in ["Qwen/Qwen3-8B", "qwen3-coder-30b", "Qwen2.5-72B"] {
        assert!(served(&body(model, no_user.clone())).is_clean(), "{model}");
    }
    assert!(check(&body("Qwen/Qwen3.5-27B", no_user), None)
        .unwrap()
        .is_clean());
}

#[test]
fn an_empty_text_block_that_sets_cache_control_is_worded_as_anthropic_words_it() {
    // anthropics/claude-code#54013: a screenshot pasted with no text, "400
    // invalid_request_error: cache_control cannot be set for empty text blocks".
    let body = |text: &str| {
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
            {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]}]})
    };
    let report = check(&body(""), None).unwrap();
    assert_eq!(rules(&report), [(Rule::BlankTextBlock, 0)]);
    let text = report.to_string();
    assert!(
        text.contains("messages.0.content: cache_control cannot be set for empty text blocks"),
        "{text}"
    );
    // Whitespace with the cache mark keeps the text's wording; text in the block is clean.
    let spaces = check(&body(" "), None).unwrap().to_string();
    assert!(spaces.contains("text content blocks must contain non-whitespace text"));
    assert!(check(&body("what is this?"), None).unwrap().is_clean());
}
