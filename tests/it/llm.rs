//! The LLM agent against a local fake OpenAI-compatible server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{TestApp, config, sid, spawn_with_state, spoken};

pub(crate) const COMPLETIONS: &str = "/v1/chat/completions";

pub(crate) async fn app_with_model(
    model: &MockServer,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> TestApp {
    let base = format!("{}/v1", model.uri());
    let mut vars = vec![
        ("OPENAI_API_KEY", "sk-test"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("OPENAI_MODEL", "test-model"),
        ("BUSINESS_TIMEZONE", "America/New_York"),
    ];
    vars.extend_from_slice(extra);
    let config = config(dir, &vars);
    assert_eq!(config.agent, frontdesk::config::AgentKind::Llm);
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    spawn_with_state(state, dir.to_path_buf()).await
}

pub(crate) fn text(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}]
    }))
}

pub(crate) fn tool_calls(content: Option<&str>, calls: &[(&str, &str, Value)]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
                     "message": {"role": "assistant", "content": content,
                                 "tool_calls": calls.iter().map(|(id, name, args)| json!({
                                     "id": id, "type": "function",
                                     "function": {"name": name, "arguments": args.to_string()}
                                 })).collect::<Vec<_>>()}}]
    }))
}

pub(crate) async fn mount_once(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

pub(crate) async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

pub(crate) async fn start(app: &TestApp, call: &str) {
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call), ("From", "+14155550100")],
    )
    .await;
}

#[tokio::test]
async fn checks_availability_then_books_with_exact_tool_messages() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_1",
                "check_availability",
                json!({"date": "2026-11-23"}),
            )],
        ),
    )
    .await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_2",
                "book_appointment",
                json!({"start": "2026-11-23T14:00", "name": "Ada Lovelace"}),
            )],
        ),
    )
    .await;
    mount_once(
        &model,
        text("**Done!** You're booked for Monday, November 23rd at 2 PM. 🎉"),
    )
    .await;

    let call = sid(1);
    start(&app, &call).await;
    let answer = app
        .say(
            &call,
            "Hi, this is Ada Lovelace, can I come in tomorrow at 2?",
        )
        .await;
    assert_eq!(
        spoken(&answer),
        "Done! You're booked for Monday, November 23rd at 2 PM."
    );
    assert!(answer.contains("<Gather"));

    let requests = model.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].headers["authorization"], "Bearer sk-test");
    let b = bodies(&model).await;
    assert_eq!(b[0]["model"], "test-model");
    let names: Vec<&str> = b[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, frontdesk::agent::tools::TOOL_NAMES);
    let system = b[0]["messages"][0]["content"].as_str().unwrap();
    for needle in [
        "Acme Dental",
        "Sunday, November 22nd",
        "2026-11-22",
        "10 AM",
        "America/New_York",
        "9 AM to 5 PM",
        "+14155550100",
        "one question at a time",
    ] {
        assert!(
            system.contains(needle),
            "system prompt lacks {needle:?}: {system}"
        );
    }
    // The conversation: greeting, then the caller.
    assert_eq!(b[0]["messages"][1]["role"], "assistant");
    assert_eq!(
        b[0]["messages"][2],
        json!({"role": "user", "content": "Hi, this is Ada Lovelace, can I come in tomorrow at 2?"})
    );
    // Second request: the tool call and its result, matched by id.
    let m = b[1]["messages"].as_array().unwrap();
    assert_eq!(m[3]["role"], "assistant");
    assert_eq!(m[3]["tool_calls"][0]["id"], "call_1");
    assert_eq!(m[4]["role"], "tool");
    assert_eq!(m[4]["tool_call_id"], "call_1");
    let result: Value = serde_json::from_str(m[4]["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["free"][0], "09:00");
    assert_eq!(result["free"].as_array().unwrap().len(), 16);
    // Third: the booking's result.
    let m = b[2]["messages"].as_array().unwrap();
    assert_eq!(m[6]["tool_call_id"], "call_2");
    let booked: Value = serde_json::from_str(m[6]["content"].as_str().unwrap()).unwrap();
    assert_eq!(booked["ok"], true);
    assert_eq!(booked["spoken"], "Monday, November 23rd at 2 PM");

    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"][0]["name"], "Ada Lovelace");
    assert_eq!(list["appointments"][0]["phone"], "+14155550100");

    // The transcript shows what the agent did.
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    let roles: Vec<&str> = s["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["assistant", "user", "tool", "tool", "assistant"]);
    let tool = &s["conversation_history"][3]["tool"];
    assert_eq!(tool["name"], "book_appointment");
    assert_eq!(tool["id"], "call_2");
    assert_eq!(tool["effect"], "booked");
    assert_eq!(tool["result"]["booked"], true);

    // The next turn replays those tool calls to the model as they were.
    mount_once(&model, text("You're welcome!")).await;
    app.say(&call, "thanks").await;
    let b = bodies(&model).await;
    let m = b[3]["messages"].as_array().unwrap();
    assert_eq!(m[3]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(m[4]["tool_call_id"], "call_1");
    assert_eq!(m[5]["tool_call_id"], "call_2");
    assert_eq!(
        m[6]["content"],
        "Done! You're booked for Monday, November 23rd at 2 PM."
    );
    assert_eq!(m[7]["content"], "thanks");
}

#[tokio::test]
async fn a_slow_model_is_held_and_redirected_and_the_caller_still_gets_the_answer() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        text("Yes, we are open on Monday.").set_delay(Duration::from_secs(20)),
    )
    .await;
    let call = sid(2);
    start(&app, &call).await;

    let started = Instant::now();
    let mut answer = app.say(&call, "Are you open on Monday?").await;
    let mut slowest = started.elapsed();
    let mut holds = 0;
    while answer.contains("<Redirect") {
        holds += 1;
        assert!(holds <= 4, "too many holds: {answer}");
        assert!(spoken(&answer).contains("moment"), "{answer}");
        assert!(
            answer.contains(">https://frontdesk.example.com/voice/continue</Redirect>"),
            "{answer}"
        );
        let t = Instant::now();
        answer = app
            .twiml("/voice/continue", &[("CallSid", call.as_str())])
            .await;
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        holds >= 2,
        "a 20 s model needs more than one hold ({holds})"
    );
    assert_eq!(spoken(&answer), "Yes, we are open on Monday.");
    assert!(answer.contains("<Gather"));
    // Twilio's clock: no webhook took anywhere near 15 seconds.
    assert!(
        slowest < Duration::from_secs(12),
        "a webhook took {slowest:?}"
    );
    assert_eq!(
        model.received_requests().await.unwrap().len(),
        1,
        "one turn, one model call"
    );
}

#[tokio::test]
async fn model_errors_are_retried_then_apologised_for_and_the_call_goes_on() {
    for status in [500u16, 429] {
        let model = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let app = app_with_model(&model, dir.path(), &[]).await;
        Mock::given(method("POST"))
            .and(path(COMPLETIONS))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "error": {"message": "upstream trouble", "type": "server_error", "param": null, "code": null}
            })))
            .mount(&model)
            .await;
        let call = sid(3);
        start(&app, &call).await;
        let answer = app.say(&call, "Can I book an appointment?").await;
        let said = spoken(&answer);
        assert!(said.contains("Sorry, I'm having trouble"), "{said}");
        assert!(
            !said.contains(&status.to_string()),
            "no error codes for the caller: {said}"
        );
        assert!(answer.contains("<Gather"), "the call goes on");
        assert_eq!(
            model.received_requests().await.unwrap().len(),
            4,
            "{status}: the first try and three retries with backoff"
        );

        // Then the model recovers and the conversation continues.
        model.reset().await;
        mount_once(&model, text("How can I help?")).await;
        assert_eq!(spoken(&app.say(&call, "hello?").await), "How can I help?");
    }
}

#[tokio::test]
async fn end_call_hangs_up_after_the_goodbye() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        tool_calls(
            Some("Thanks for calling, goodbye!"),
            &[("call_9", "end_call", json!({"reason": "done"}))],
        ),
    )
    .await;
    let call = sid(4);
    start(&app, &call).await;
    let answer = app.say(&call, "that's all, bye").await;
    assert_eq!(spoken(&answer), "Thanks for calling, goodbye!");
    assert!(
        answer.contains("<Hangup/>") && !answer.contains("<Gather"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_retried_webhook_does_not_book_twice() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_1",
                "book_appointment",
                json!({"start": "2026-11-24T10:00", "name": "Ada"}),
            )],
        ),
    )
    .await;
    mount_once(
        &model,
        text("You're booked for Tuesday at 10 AM.").set_delay(Duration::from_millis(300)),
    )
    .await;
    let call = sid(5);
    start(&app, &call).await;
    let form = [
        ("CallSid", call.as_str()),
        ("SpeechResult", "Book me Tuesday at 10, I'm Ada. Yes."),
    ];
    let post = |token: Option<&'static str>| {
        let mut req = app
            .client
            .post(format!("{}/voice/process-speech", app.base))
            .form(&form);
        if let Some(t) = token {
            req = req.header("I-Twilio-Idempotency-Token", t);
        }
        req.send()
    };
    // Twilio's retry arrives while the first is still running (same utterance)...
    let (a, b) = tokio::join!(post(Some("tok-1")), post(None));
    let (a, b) = (
        a.unwrap().text().await.unwrap(),
        b.unwrap().text().await.unwrap(),
    );
    assert_eq!(spoken(&a), "You're booked for Tuesday at 10 AM.");
    assert_eq!(a, b);
    // ...and again after it finished (same idempotency token).
    let c = post(Some("tok-1")).await.unwrap().text().await.unwrap();
    assert_eq!(a, c);

    assert_eq!(
        model.received_requests().await.unwrap().len(),
        2,
        "one turn: a tool round and the answer"
    );
    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1);
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    let users = s["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "user")
        .count();
    assert_eq!(users, 1, "the retry is not a second caller turn");
}

#[tokio::test]
async fn turns_of_one_call_never_overlap() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        text("First answer.").set_delay(Duration::from_millis(700)),
    )
    .await;
    mount_once(&model, text("Second answer.")).await;
    let call = sid(6);
    start(&app, &call).await;
    let (a, b) = tokio::join!(app.say(&call, "first question"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.say(&call, "second question").await
    });
    assert_eq!(spoken(&a), "First answer.");
    assert_eq!(spoken(&b), "Second answer.");
    // The second turn started only after the first was done: its request
    // carries the first answer.
    let b2 = &bodies(&model).await[1];
    let contents: Vec<&str> = b2["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(contents.contains(&"First answer."), "{contents:?}");
}

#[tokio::test]
async fn a_model_slower_than_the_turn_deadline_gets_one_apology_and_the_next_turn_goes_on() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Deadline: 300 ms + one hold of 750 ms, less a 75 ms margin.
    let app = app_with_model(
        &model,
        dir.path(),
        &[("TURN_BUDGET_MS", "300"), ("MAX_HOLDS", "1")],
    )
    .await;
    mount_once(
        &model,
        text("Here is the late answer.").set_delay(Duration::from_secs(5)),
    )
    .await;
    mount_once(&model, text("Yes, we are open on Monday.")).await;
    let call = sid(7);
    start(&app, &call).await;
    let first = app.say(&call, "Are you open on Monday?").await;
    assert!(first.contains("<Redirect"), "{first}");
    let second = app
        .twiml("/voice/continue", &[("CallSid", call.as_str())])
        .await;
    assert!(
        spoken(&second).contains("Sorry, I'm having trouble"),
        "{second}"
    );
    assert!(
        second.contains("<Gather") && !second.contains("<Redirect"),
        "{second}"
    );
    // The caller's next words are answered: nothing is stuck behind the
    // abandoned turn.
    let third = app.say(&call, "Are you open on Monday?!").await;
    assert_eq!(spoken(&third), "Yes, we are open on Monday.");
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    let said: Vec<&str> = s["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "assistant")
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    let apologies = said.iter().filter(|t| t.contains("trouble")).count();
    assert_eq!(apologies, 1, "one apology for one failed turn: {said:?}");
    assert!(!said.contains(&"Here is the late answer."), "{said:?}");
}
