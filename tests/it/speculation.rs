//! Speculative turns on Twilio's partial results, and short holds, against
//! a fake OpenAI-compatible model with set delays.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::MockServer;

use crate::{
    fake_google::FakeGoogle,
    helpers::{TestApp, sid, spoken},
    llm::{app_with_model, bodies, mount_once, start, text, tool_calls},
};

/// Posts one partial result; asserts Twilio gets its immediate 204.
pub(crate) async fn partial(app: &TestApp, call: &str, seq: u32, stable: &str, stability: &str) {
    let seq = seq.to_string();
    let resp = app
        .webhook(
            "/voice/partial-speech",
            &[
                ("CallSid", call),
                ("SequenceNumber", seq.as_str()),
                ("StableSpeechResult", stable),
                ("UnstableSpeechResult", stable),
                ("Stability", stability),
            ],
        )
        .await;
    assert_eq!(resp.status(), 204, "partial {seq}");
}

/// Waits (bounded) until the model has received `n` requests.
pub(crate) async fn requests_reach(model: &MockServer, n: usize) {
    for _ in 0..200 {
        if model.received_requests().await.unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the model never received {n} requests");
}

async fn request_count(model: &MockServer) -> usize {
    model.received_requests().await.unwrap().len()
}

/// The last user message of a model request.
fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub(crate) async fn metric(app: &TestApp, line: &str) -> String {
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no {line} in {text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned()
}

async fn session(app: &TestApp, call: &str) -> Value {
    app.get_json(&format!("/session/{call}")).await.1
}

/// The transcript as (role, content) pairs, tool entries by tool name.
async fn transcript(app: &TestApp, call: &str) -> Vec<(String, String)> {
    session(app, call).await["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["role"].as_str().unwrap().to_owned(),
                t["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn appointments(app: &TestApp) -> Value {
    app.get_json("/appointments").await.1
}

#[tokio::test]
async fn partial_results_are_taken_in_order_and_stale_or_retried_ones_change_nothing() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(
        &model,
        dir.path(),
        &[
            ("TWILIO_AUTH_TOKEN", "test-auth-token"),
            ("HOLD_AFTER_MS", "300"),
        ],
    )
    .await;
    mount_once(
        &model,
        text("Yes, we are open on Monday.").set_delay(Duration::from_millis(300)),
    )
    .await;
    let call = sid(1);
    start(&app, &call).await;

    // Signature-checked like every /voice/* webhook.
    let unsigned = app
        .client
        .post(format!("{}/voice/partial-speech", app.base))
        .form(&[("CallSid", call.as_str()), ("SequenceNumber", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);

    partial(&app, &call, 0, "Are you", "0.9").await;
    // Out of order: number 3 arrives before 1 and 2, which then change nothing.
    partial(&app, &call, 3, "Are you open on Monday", "0.9").await;
    partial(&app, &call, 1, "Are you open", "0.9").await;
    partial(&app, &call, 2, "Are you open on Tuesday", "0.9").await;
    // Twilio's retry of number 3.
    partial(&app, &call, 3, "Are you open on Monday", "0.9").await;
    requests_reach(&model, 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        request_count(&model).await,
        1,
        "one speculation, started once"
    );
    assert_eq!(
        last_user(&bodies(&model).await[0]),
        "Are you open on Monday"
    );
    // Nothing of it is in the transcript before the final words.
    assert_eq!(transcript(&app, &call).await.len(), 1, "only the greeting");

    let answer = app.say(&call, "Are you open on Monday?").await;
    assert_eq!(spoken(&answer), "Yes, we are open on Monday.");
    assert!(
        answer.contains(
            "partialResultCallback=\"https://frontdesk.example.com/voice/partial-speech\""
        )
    );
    assert_eq!(request_count(&model).await, 1);
    assert_eq!(
        metric(&app, "frontdesk_speculations_total{result=\"hit\"}").await,
        "1"
    );
}

#[tokio::test]
async fn the_same_final_words_take_the_finished_speculation_at_once() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A 600 ms model and a 300 ms hold budget: only speculation can answer
    // without a hold.
    let app = app_with_model(&model, dir.path(), &[("HOLD_AFTER_MS", "300")]).await;
    mount_once(
        &model,
        text("We open at 9 AM on Monday.").set_delay(Duration::from_millis(600)),
    )
    .await;
    let call = sid(2);
    start(&app, &call).await;
    partial(
        &app,
        &call,
        0,
        "Um, what time do you open on Monday",
        "0.92",
    )
    .await;
    requests_reach(&model, 1).await;
    tokio::time::sleep(Duration::from_millis(900)).await;

    let answer = app.say(&call, "What time do you open on Monday?").await;
    assert!(!answer.contains("<Redirect"), "no hold: {answer}");
    assert_eq!(spoken(&answer), "We open at 9 AM on Monday.");
    assert_eq!(
        request_count(&model).await,
        1,
        "one request for one completion"
    );
    let said = transcript(&app, &call).await;
    assert_eq!(
        said[1..],
        [
            ("user".into(), "What time do you open on Monday?".into()),
            ("assistant".into(), "We open at 9 AM on Monday.".into()),
        ]
    );
    let s = session(&app, &call).await;
    let entry = &s["ledger"][0];
    assert_eq!(entry["speculative"], true, "{entry}");
    assert_eq!(entry["held"], false, "{entry}");
    assert!(entry["head_start_ms"].as_f64().unwrap() > 0.0, "{entry}");
}

#[tokio::test]
async fn without_speculation_a_slow_model_means_a_short_hold_then_the_reply() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(
        &model,
        dir.path(),
        &[("HOLD_AFTER_MS", "300"), ("SPECULATIVE_TURNS", "false")],
    )
    .await;
    mount_once(
        &model,
        text("We open at 9 AM on Monday.").set_delay(Duration::from_millis(1500)),
    )
    .await;
    let call = sid(3);
    start(&app, &call).await;
    partial(&app, &call, 0, "What time do you open on Monday", "0.92").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(request_count(&model).await, 0, "speculation is off");

    let held = app.say(&call, "What time do you open on Monday?").await;
    assert!(held.contains("<Redirect"), "{held}");
    assert!(spoken(&held).contains("moment"), "{held}");
    assert!(!spoken(&held).contains("calendar"), "{held}");
    let answer = app
        .twiml("/voice/continue", &[("CallSid", call.as_str())])
        .await;
    assert_eq!(spoken(&answer), "We open at 9 AM on Monday.");
    assert_eq!(session(&app, &call).await["ledger"][0]["held"], true);
}

#[tokio::test]
async fn a_turn_held_while_a_calendar_tool_runs_hears_a_calendar_phrase() {
    let model = MockServer::start().await;
    let google = FakeGoogle::start().await;
    // The calendar answers long after the hold budget, which is long
    // enough for the model's first (instant) answer on a loaded machine.
    google.state.lock().unwrap().freebusy_delay = Some(Duration::from_millis(2500));
    let dir = tempfile::tempdir().unwrap();
    let creds = google.credentials(dir.path());
    let url = google.calendar_url();
    let app = app_with_model(
        &model,
        dir.path(),
        &[
            ("HOLD_AFTER_MS", "800"),
            ("USE_MOCK_CALENDAR", "false"),
            ("GOOGLE_APPLICATION_CREDENTIALS", creds.to_str().unwrap()),
            ("GOOGLE_CALENDAR_ID", "clinic@example.com"),
            ("GOOGLE_CALENDAR_BASE_URL", &url),
        ],
    )
    .await;
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
    mount_once(&model, text("Monday has 9 AM and 10 AM free.")).await;
    let call = sid(4);
    start(&app, &call).await;
    let held = app.say(&call, "What do you have free on Monday?").await;
    assert!(held.contains("<Redirect"), "{held}");
    assert!(spoken(&held).contains("calendar"), "{held}");
    let answer = app
        .twiml("/voice/continue", &[("CallSid", call.as_str())])
        .await;
    assert_eq!(spoken(&answer), "Monday has 9 AM and 10 AM free.");
}

#[tokio::test]
async fn a_booking_started_on_partial_results_waits_for_the_final_words() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[("HOLD_AFTER_MS", "2000")]).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_b",
                "book_appointment",
                json!({"start": "2026-11-23T14:00", "name": "Ada Lovelace"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("You're booked for Monday at 2 PM.")).await;
    let call = sid(5);
    start(&app, &call).await;
    let words = "Please book me Monday at 2 PM, my name is Ada Lovelace";
    partial(&app, &call, 0, words, "0.95").await;
    requests_reach(&model, 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(appointments(&app).await["appointments"], json!([]));
    assert_eq!(request_count(&model).await, 1, "the booking has not run");
    assert_eq!(transcript(&app, &call).await.len(), 1);

    let answer = app.say(&call, &format!("{words}.")).await;
    assert_eq!(spoken(&answer), "You're booked for Monday at 2 PM.");
    let booked = appointments(&app).await;
    assert!(booked.to_string().contains("Ada Lovelace"), "{booked}");
    let said = transcript(&app, &call).await;
    let roles: Vec<&str> = said.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        ["assistant", "user", "tool", "assistant"],
        "{said:?}"
    );
    assert_eq!(said[1].1, format!("{words}."));
}

#[tokio::test]
async fn different_final_words_drop_the_speculation_and_nothing_it_asked_for_happens() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[("HOLD_AFTER_MS", "2000")]).await;
    // The speculation asks to book 2 PM; the caller ends up saying 3 PM.
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_2pm",
                "book_appointment",
                json!({"start": "2026-11-23T14:00", "name": "Ada Lovelace"}),
            )],
        ),
    )
    .await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_3pm",
                "book_appointment",
                json!({"start": "2026-11-23T15:00", "name": "Ada Lovelace"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("You're booked for Monday at 3 PM.")).await;
    let call = sid(6);
    start(&app, &call).await;
    partial(
        &app,
        &call,
        0,
        "Book me Monday at 2 PM, I'm Ada Lovelace",
        "0.95",
    )
    .await;
    requests_reach(&model, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let answer = app
        .say(&call, "Book me Monday at 3 PM, I'm Ada Lovelace.")
        .await;
    assert_eq!(spoken(&answer), "You're booked for Monday at 3 PM.");
    let booked = appointments(&app).await.to_string();
    assert!(
        booked.contains("T15:00") || booked.contains("15:00"),
        "{booked}"
    );
    assert!(
        !booked.contains("14:00"),
        "the speculation booked nothing: {booked}"
    );
    let b = bodies(&model).await;
    assert_eq!(b.len(), 3);
    assert_eq!(
        last_user(&b[1]),
        "Book me Monday at 3 PM, I'm Ada Lovelace."
    );
    let said = transcript(&app, &call).await;
    assert!(
        !said
            .iter()
            .any(|(_, c)| c.contains("2 PM") || c.contains("14:00")),
        "no trace of the dropped speculation: {said:?}"
    );
    assert_eq!(
        metric(&app, "frontdesk_speculations_total{result=\"miss\"}").await,
        "1"
    );
    assert_eq!(
        metric(&app, "frontdesk_speculation_wasted_llm_requests_total").await,
        "1"
    );
    let entry = &session(&app, &call).await["ledger"][0];
    assert_eq!(entry["speculative"], false, "{entry}");
    assert_eq!(entry["speculations_dropped"], 1, "{entry}");
}

#[tokio::test]
async fn a_caller_who_keeps_talking_restarts_the_speculation_once_per_change() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[("HOLD_AFTER_MS", "2000")]).await;
    mount_once(
        &model,
        text("Tomorrow at 2 PM is free.").set_delay(Duration::from_millis(300)),
    )
    .await;
    mount_once(
        &model,
        text("Tomorrow at 2 PM is free for a cleaning.").set_delay(Duration::from_millis(300)),
    )
    .await;
    let call = sid(7);
    start(&app, &call).await;
    partial(&app, &call, 0, "Is tomorrow at 2 PM free", "0.9").await;
    requests_reach(&model, 1).await;
    partial(&app, &call, 1, "Is tomorrow at 2 PM free", "0.9").await;
    // A pause, then more words: the stable text grows.
    partial(&app, &call, 2, "Is tomorrow at 2 PM free for a", "0.9").await;
    partial(
        &app,
        &call,
        3,
        "Is tomorrow at 2 PM free for a cleaning",
        "0.9",
    )
    .await;
    requests_reach(&model, 2).await;
    partial(
        &app,
        &call,
        4,
        "Is tomorrow at 2 PM free for a cleaning",
        "0.9",
    )
    .await;
    partial(
        &app,
        &call,
        5,
        "is tomorrow at 2 pm free for a cleaning",
        "0.95",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(request_count(&model).await, 2, "one restart for one change");

    let answer = app
        .say(&call, "Is tomorrow at 2 PM free for a cleaning?")
        .await;
    assert_eq!(spoken(&answer), "Tomorrow at 2 PM is free for a cleaning.");
    assert_eq!(request_count(&model).await, 2);
    assert_eq!(
        last_user(&bodies(&model).await[1]),
        "Is tomorrow at 2 PM free for a cleaning"
    );
    assert_eq!(
        metric(&app, "frontdesk_speculations_total{result=\"hit\"}").await,
        "1"
    );
    assert_eq!(
        metric(&app, "frontdesk_speculations_total{result=\"miss\"}").await,
        "1"
    );
    let entry = &session(&app, &call).await["ledger"][0];
    assert_eq!(entry["speculative"], true, "{entry}");
    assert_eq!(entry["speculations_dropped"], 1, "{entry}");
}

#[tokio::test]
async fn a_final_transcript_without_words_drops_the_speculation() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_b",
                "book_appointment",
                json!({"start": "2026-11-23T14:00", "name": "Ada Lovelace"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("Are you open on Monday? Yes.")).await;
    let call = sid(8);
    start(&app, &call).await;
    partial(
        &app,
        &call,
        0,
        "Book me Monday at 2 PM, I'm Ada Lovelace",
        "0.95",
    )
    .await;
    requests_reach(&model, 1).await;
    let reprompt = app
        .twiml("/voice/process-speech", &[("CallSid", call.as_str())])
        .await;
    assert!(spoken(&reprompt).contains("didn't hear"), "{reprompt}");
    assert_eq!(
        metric(&app, "frontdesk_speculations_total{result=\"miss\"}").await,
        "1"
    );
    assert_eq!(appointments(&app).await["appointments"], json!([]));
    // The call's next words are not stuck behind the dropped work.
    let answer = app.say(&call, "Are you open on Monday?").await;
    assert_eq!(spoken(&answer), "Are you open on Monday? Yes.");
    assert_eq!(appointments(&app).await["appointments"], json!([]));
}

#[tokio::test]
async fn the_call_log_shows_a_turn_that_started_early() {
    let Some(mut browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[]).await;
    mount_once(&model, text("We open at 9 AM on Monday.")).await;
    let call = sid(9);
    start(&app, &call).await;
    partial(&app, &call, 0, "What time do you open on Monday", "0.92").await;
    requests_reach(&model, 1).await;
    let answer = app.say(&call, "What time do you open on Monday?").await;
    assert_eq!(spoken(&answer), "We open at 9 AM on Monday.");
    app.webhook(
        "/voice/status",
        &[("CallSid", call.as_str()), ("CallStatus", "completed")],
    )
    .await;

    crate::dashboard::log_in(&mut browser, &app).await;
    let entry = format!("document.querySelector('#log-list li[data-call-sid=\"{call}\"]')");
    browser.wait_for(&entry).await;
    browser.eval(&format!("{entry}.click()")).await;
    browser
        .wait_for("document.querySelector('#call-detail table.ledger')")
        .await;
    let ledger = browser
        .eval("document.querySelector('#call-detail table.ledger').innerText")
        .await;
    let ledger = ledger.as_str().unwrap();
    assert!(ledger.contains("started early"), "{ledger}");
    assert!(ledger.contains(" ms ahead"), "{ledger}");
}
