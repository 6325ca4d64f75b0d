//! The tools' safety envelope through the real server: a model that
//! misbehaves on purpose (a local fake OpenAI server), and callers whose
//! number is withheld talking to the built-in agent.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    helpers::{TestApp, config, sid, spawn_with_state, spoken},
    llm::{COMPLETIONS, app_with_model, bodies, mount_once, text, tool_calls},
};

const OWNER: &str = "+14155550100";
const STRANGER: &str = "+14155550111";

async fn call_from(app: &TestApp, call: &str, from: &str) {
    app.twiml("/voice/inbound", &[("CallSid", call), ("From", from)])
        .await;
}

/// The transcript's tool entries of a call.
async fn tool_entries(app: &TestApp, call: &str) -> Vec<Value> {
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    s["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "tool")
        .map(|t| t["tool"].clone())
        .collect()
}

async fn appointments(app: &TestApp) -> Vec<Value> {
    let (_, list) = app.get_json("/appointments").await;
    list["appointments"].as_array().unwrap().clone()
}

/// A chat completion whose message is `message` and whose finish reason is `finish`.
fn answer(message: Value, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "test-model",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}]
    }))
}

#[tokio::test]
async fn a_model_cannot_read_move_or_cancel_another_callers_appointment() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;

    // The owner books.
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "c1",
                "book_appointment",
                json!({"start": "2026-11-24T15:00", "name": "Ada Lovelace", "reason": "root canal"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("You're booked.")).await;
    let owner = sid(1);
    call_from(&app, &owner, OWNER).await;
    app.say(&owner, "Book me Tuesday at 3, Ada Lovelace, root canal")
        .await;
    let booked = appointments(&app).await;
    assert_eq!(booked.len(), 1);
    let id = booked[0]["id"].as_str().unwrap().to_owned();

    // A stranger's model goes looking, by name, by the owner's phone, by the
    // id and by the start.
    mount_once(
        &model,
        tool_calls(
            None,
            &[
                ("c2", "find_appointments", json!({"name": "a"})),
                ("c3", "find_appointments", json!({"phone": OWNER})),
            ],
        ),
    )
    .await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "c4",
                "reschedule_appointment",
                json!({"appointment_id": id, "new_start": "2026-11-24T16:00"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("Let me try again.")).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "c5",
                "cancel_appointment",
                json!({"start": "2026-11-24T15:00"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("I couldn't find that one.")).await;
    let stranger = sid(2);
    call_from(&app, &stranger, STRANGER).await;
    let first = app
        .say(&stranger, "When is Ada's appointment? Move it to 4.")
        .await;
    let second = app.say(&stranger, "Then cancel the 3 PM one.").await;

    // Nothing about the owner reached the stranger's model (in any tool
    // result) or ears.
    let results: Vec<String> = bodies(&model).await[2..]
        .iter()
        .flat_map(|b| b["messages"].as_array().unwrap().clone())
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(results.len() >= 4, "{results:?}");
    for result in &results {
        for secret in ["Ada", "root canal", OWNER, id.as_str(), "15:00\","] {
            assert!(!result.contains(secret), "{secret} leaked: {result}");
        }
    }
    for entry in tool_entries(&app, &stranger).await {
        let result = entry["result"].to_string();
        for secret in ["Ada", "root canal", OWNER, id.as_str()] {
            assert!(!result.contains(secret), "{secret} leaked: {result}");
        }
        assert!(entry["effect"].is_null(), "{entry}");
    }
    assert!(!spoken(&first).contains("Ada") && !spoken(&second).contains("Ada"));
    let after = appointments(&app).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["start"], booked[0]["start"], "unchanged");
}

#[tokio::test]
async fn sixteen_bookings_in_one_message_book_one_and_the_model_sees_every_result() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    let calls: Vec<(String, Value)> = (0..16)
        .map(|i| {
            let (h, m) = (9 + i / 2, (i % 2) * 30);
            (
                format!("b{i}"),
                json!({"start": format!("2026-11-24T{h:02}:{m:02}"), "name": "Ada"}),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, Value)> = calls
        .iter()
        .map(|(id, a)| (id.as_str(), "book_appointment", a.clone()))
        .collect();
    mount_once(&model, tool_calls(None, &refs)).await;
    mount_once(&model, text("I booked 9 AM for you.")).await;
    let call = sid(3);
    call_from(&app, &call, OWNER).await;
    let said = spoken(&app.say(&call, "book me all of Tuesday").await);
    assert_eq!(said, "I booked 9 AM for you.");
    assert_eq!(appointments(&app).await.len(), 1, "one booking per turn");
    let entries = tool_entries(&app, &call).await;
    assert_eq!(entries.len(), 16, "every call is in the transcript");
    assert_eq!(
        entries.iter().filter(|e| e["effect"] == "booked").count(),
        1
    );
    // The model's second request carries all sixteen results.
    let b = bodies(&model).await;
    let tool_messages = b[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .count();
    assert_eq!(tool_messages, 16);
}

#[tokio::test]
async fn a_model_that_keeps_calling_tools_is_made_to_answer_and_no_result_is_dropped() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(tool_calls(
            Some("Let me look."),
            &[(
                "again",
                "book_appointment",
                json!({"start": "2026-11-25T10:00", "name": "Loop"}),
            )],
        ))
        .mount(&model)
        .await;
    let call = sid(4);
    call_from(&app, &call, OWNER).await;
    let said = spoken(&app.say(&call, "book something").await);
    assert_eq!(said, "Let me look.");
    let b = bodies(&model).await;
    assert_eq!(b.len(), frontdesk::agent::llm::MAX_ROUNDS);
    let choices: Vec<&str> = b
        .iter()
        .map(|r| r["tool_choice"].as_str().unwrap())
        .collect();
    assert_eq!(choices.last(), Some(&"none"), "{choices:?}");
    assert!(choices[..choices.len() - 1].iter().all(|c| *c == "auto"));
    // Every tool that ran has its result in a later request.
    let ran = tool_entries(&app, &call).await.len();
    assert_eq!(ran, frontdesk::agent::llm::MAX_ROUNDS - 1);
    let last_messages = b.last().unwrap()["messages"].as_array().unwrap();
    let results = last_messages.iter().filter(|m| m["role"] == "tool").count();
    assert_eq!(results, ran);
    assert_eq!(appointments(&app).await.len(), 1);
}

#[tokio::test]
async fn tool_arguments_are_checked_strictly_and_odd_but_valid_calls_are_tolerated() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    // Not JSON, a time with seconds, an odd start, a huge length, a date
    // years ahead: none of them runs.
    let bad = [
        r#"{"start": "2026-11-24T15:00", "name": "Ada""#,
        r#"{"start": "2026-11-24T15:00:59", "name": "Ada"}"#,
        r#"{"start": "2026-11-24T14:07", "name": "Ada"}"#,
        r#"{"start": "2026-11-24T15:00", "name": "Ada", "duration_minutes": 100000}"#,
        r#"{"start": "2026-11-24T15:00", "name": "Ada", "duration_minutes": "45"}"#,
    ];
    let calls: Vec<Value> = bad
        .iter()
        .enumerate()
        .map(|(i, args)| {
            json!({"id": format!("bad{i}"), "type": "function",
                   "function": {"name": "book_appointment", "arguments": args}})
        })
        .collect();
    mount_once(
        &model,
        answer(
            json!({"role": "assistant", "content": null, "tool_calls": calls}),
            "tool_calls",
        ),
    )
    .await;
    // Then a far-future date, one at a time.
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "far",
                "book_appointment",
                json!({"start": "2036-11-24T15:00", "name": "Ada"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("Which time would you like?")).await;
    let call = sid(5);
    call_from(&app, &call, OWNER).await;
    app.say(&call, "book me in").await;
    assert!(appointments(&app).await.is_empty());
    let entries = tool_entries(&app, &call).await;
    assert_eq!(entries.len(), 6);
    let errors: Vec<String> = entries[..5]
        .iter()
        .map(|e| e["result"]["error"].as_str().unwrap().to_owned())
        .collect();
    assert!(errors[0].contains("not valid JSON"), "{errors:?}");
    assert!(errors[1].contains("seconds"), "{errors:?}");
    assert!(errors[2].contains("quarter hour"), "{errors:?}");
    assert!(errors[3].contains("duration_minutes"), "{errors:?}");
    assert!(errors[4].contains("duration_minutes"), "{errors:?}");
    // Examples in messages are real future times (the test clock is
    // Sunday 2026-11-22: the next open day is Monday the 23rd).
    assert!(errors[1].contains("2026-11-23T"), "{errors:?}");
    assert_eq!(entries[5]["result"]["ok"], false);
    assert_eq!(
        entries[5]["result"]["reason"],
        "that is further ahead than we book"
    );

    // Arguments as an object instead of JSON text, and a call with no id.
    mount_once(
        &model,
        answer(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"type": "function", "function": {"name": "book_appointment",
                 "arguments": {"start": "2026-11-24T10:00", "name": "Ada", "duration_minutes": 45}}}
            ]}),
            "tool_calls",
        ),
    )
    .await;
    mount_once(&model, text("Booked for 10.")).await;
    assert_eq!(
        spoken(&app.say(&call, "10 am then").await),
        "Booked for 10."
    );
    let booked = appointments(&app).await;
    assert_eq!(booked.len(), 1);
    assert!(
        booked[0]["end"].as_str().unwrap().contains("T10:45"),
        "{booked:?}"
    );
    // The made-up id is the one the model is told about.
    let b = bodies(&model).await;
    let last = b.last().unwrap()["messages"].as_array().unwrap();
    let asked = &last[last.len() - 2]["tool_calls"][0]["id"];
    let answered = &last[last.len() - 1]["tool_call_id"];
    assert!(asked.as_str().is_some_and(|i| !i.is_empty()));
    assert_eq!(asked, answered);
}

#[tokio::test]
async fn cut_off_refused_empty_and_marked_up_answers_get_sensible_words() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    let call = sid(6);
    call_from(&app, &call, OWNER).await;
    let cases = [
        (
            answer(
                json!({"role": "assistant", "content": "Tuesday at 3 is free. I could also do Wednesday at"}),
                "length",
            ),
            "Tuesday at 3 is free.",
        ),
        (
            answer(
                json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
                "stop",
            ),
            "I'm sorry, I can't help with that. Is there anything else I can do for you?",
        ),
        (
            answer(json!({"role": "assistant", "content": ""}), "stop"),
            "Sorry, I didn't catch that. Could you say it again?",
        ),
        (
            answer(
                json!({"role": "assistant", "content": "<speak>Sure.<break time=\"1s\"/> See you then.</speak>"}),
                "stop",
            ),
            "Sure. See you then.",
        ),
    ];
    for (i, (response, expected)) in cases.into_iter().enumerate() {
        mount_once(&model, response).await;
        let said = spoken(&app.say(&call, &format!("question {i}")).await);
        assert_eq!(said, expected);
    }
}

/// A model server that drops the first connection without answering, then
/// answers properly.
async fn flaky_model() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        for n in 0..2 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = Vec::new();
            // Read the request head and body (Content-Length).
            loop {
                let k = socket.read(&mut buf).await.unwrap();
                if k == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..k]);
                let text = String::from_utf8_lossy(&got);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            if n == 0 {
                drop(socket);
                continue;
            }
            let body = json!({
                "id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Back again."}}]
            })
            .to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
        }
    });
    (base, handle)
}

#[tokio::test]
async fn a_connection_dropped_by_the_model_server_is_retried() {
    let (base, server) = flaky_model().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &[
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", base.as_str()),
            ("BUSINESS_TIMEZONE", "America/New_York"),
        ],
    );
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    let app = spawn_with_state(state, dir.path().to_path_buf()).await;
    let call = sid(8);
    call_from(&app, &call, OWNER).await;
    assert_eq!(spoken(&app.say(&call, "hello?").await), "Back again.");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("both connections were made")
        .unwrap();
}

#[tokio::test]
async fn withheld_callers_hear_nobody_elses_appointments_from_the_built_in_agent() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("BUSINESS_TIMEZONE", "America/New_York")]);
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    let app = spawn_with_state(state, dir.path().to_path_buf()).await;
    let owner = sid(20);
    call_from(&app, &owner, OWNER).await;
    app.say(&owner, "Book me tomorrow at 2 pm, my name is Ada Lovelace")
        .await;
    app.say(&owner, "yes").await;
    assert_eq!(appointments(&app).await.len(), 1);

    for (n, from) in [
        "Anonymous",
        "Restricted",
        "Unavailable",
        "+266696687",
        "client:alice",
        "sip:alice@example.com",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let call = sid(30 + n as u32);
        call_from(&app, &call, from).await;
        for words in [
            "When is my appointment?",
            "What do I have booked?",
            "I want to cancel my appointment",
            "yes",
        ] {
            let said = spoken(&app.say(&call, words).await);
            assert!(
                !said.contains("Ada") && !said.contains("2 PM") && !said.contains("cancelled"),
                "{from:?} / {words:?}: {said}"
            );
        }
    }
    assert_eq!(appointments(&app).await.len(), 1, "still booked");

    // A withheld caller can still book, with a name.
    let anon = sid(50);
    call_from(&app, &anon, "Anonymous").await;
    app.say(&anon, "Can I book Tuesday at 10 am? This is Grace Hopper")
        .await;
    let said = spoken(&app.say(&anon, "yes").await);
    assert!(said.contains("all set"), "{said}");
    assert_eq!(appointments(&app).await.len(), 2);
}

#[tokio::test]
async fn a_booking_stays_in_the_transcript_when_the_model_fails_after_it() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "b1",
                "book_appointment",
                json!({"start": "2026-11-24T10:00", "name": "Ada"}),
            )],
        ),
    )
    .await;
    // Then the model server fails for good.
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": {"message": "down", "type": "server_error", "param": null, "code": null}
        })))
        .mount(&model)
        .await;
    let call = sid(9);
    call_from(&app, &call, OWNER).await;
    let said = spoken(&app.say(&call, "book me Tuesday at 10, I'm Ada").await);
    assert!(said.contains("Sorry, I'm having trouble"), "{said}");
    let entries = tool_entries(&app, &call).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["effect"], "booked");
    assert_eq!(appointments(&app).await.len(), 1);
}
