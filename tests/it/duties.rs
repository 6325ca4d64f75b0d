//! A receptionist's other duties through the real server: taking messages,
//! handing the caller to a person (`<Dial>`), and keypad answers.

use std::sync::Arc;

use serde_json::json;
use wiremock::MockServer;

use crate::{
    helpers::{TestApp, config, sid, spawn_with_state, spoken},
    llm::{mount_once, text, tool_calls},
};

const CALLER: &str = "+14155550100";
const DESK: &str = "+14155550123";

/// Monday 2026-11-23, 11 AM in New York: the office is open.
fn monday_late_morning() -> frontdesk::clock::Clock {
    Arc::new(|| {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 16, 0, 0)
            .unwrap()
    })
}

async fn app(
    model: &MockServer,
    dir: &std::path::Path,
    clock: frontdesk::clock::Clock,
    extra: &[(&str, &str)],
) -> TestApp {
    let base = format!("{}/v1", model.uri());
    let mut vars = vec![
        ("OPENAI_API_KEY", "sk-test"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("BUSINESS_TIMEZONE", "America/New_York"),
    ];
    vars.extend_from_slice(extra);
    let state = frontdesk::startup::build_state(config(dir, &vars), clock)
        .await
        .unwrap();
    spawn_with_state(state, dir.to_path_buf()).await
}

async fn call(app: &TestApp, call: &str, from: &str) {
    app.twiml("/voice/inbound", &[("CallSid", call), ("From", from)])
        .await;
}

#[tokio::test]
async fn a_message_is_taken_read_back_listed_and_survives_a_restart() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(&model, dir.path(), monday_late_morning(), &[]).await;
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "m1",
                "take_message",
                json!({"name": "Ada Lovelace", "message": "question about her bill",
                       "callback_number": "415 555 0199"}),
            )],
        ),
    )
    .await;
    mount_once(
        &model,
        text("I'll pass that on. We'll call you at 4 1 5, 5 5 5, 0 1 9 9."),
    )
    .await;
    let c = sid(1);
    call(&app, &c, CALLER).await;
    app.say(
        &c,
        "Can you take a message? It's Ada Lovelace about my bill, call me on 415 555 0199",
    )
    .await;
    // The model was given the number to read back digit by digit.
    let b = crate::llm::bodies(&model).await;
    let result = b[1]["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(result.contains("4 1 5, 5 5 5, 0 1 9 9"), "{result}");

    let (status, list) = app.get_json("/messages").await;
    assert_eq!(status, 200);
    let m = &list["messages"][0];
    assert_eq!(m["name"], "Ada Lovelace");
    assert_eq!(m["message"], "question about her bill");
    assert_eq!(m["callback_number"], "4155550199");
    assert_eq!(m["caller_number"], CALLER);
    assert_eq!(m["call_sid"], c.as_str());

    // A second message on another call, with the caller's own number by default.
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "m2",
                "take_message",
                json!({"name": "Alan", "message": "running late"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("Noted.")).await;
    let c2 = sid(2);
    call(&app, &c2, "+14155550111").await;
    app.say(&c2, "tell them Alan is running late").await;

    let tmp = app.stop().await;
    let again = spawn_with_state(
        frontdesk::startup::build_state(config(dir.path(), &[]), monday_late_morning())
            .await
            .unwrap(),
        dir.path().to_path_buf(),
    )
    .await;
    let (_, list) = again.get_json("/messages").await;
    let names: Vec<&str> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Alan", "Ada Lovelace"],
        "newest first, after a restart"
    );
    assert_eq!(list["messages"][0]["callback_number"], "+14155550111");
    let (_, none) = again.get_json("/messages?from=2026-11-24").await;
    assert_eq!(none["messages"], json!([]));
    let (status, _) = again.get_json("/messages?from=yesterday").await;
    assert_eq!(status, 400);
    drop(tmp);
}

#[tokio::test]
async fn a_caller_who_asks_for_a_person_is_dialled_through_with_a_whisper() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(
        &model,
        dir.path(),
        monday_late_morning(),
        &[("TRANSFER_NUMBER", DESK)],
    )
    .await;
    mount_once(
        &model,
        tool_calls(
            Some("Let me put you through."),
            &[(
                "t1",
                "transfer_call",
                json!({"reason": "a billing question"}),
            )],
        ),
    )
    .await;
    let c = sid(3);
    call(&app, &c, CALLER).await;
    let twiml = app.say(&c, "can I talk to a real person please").await;
    assert_eq!(spoken(&twiml), "Let me put you through.");
    assert!(
        twiml.contains(
            "<Dial action=\"https://frontdesk.example.com/voice/transfer-status\" method=\"POST\" timeout=\"20\">"
        ) && twiml.contains(
            "<Number url=\"https://frontdesk.example.com/voice/transfer-whisper\" method=\"POST\">+14155550123</Number>"
        ),
        "{twiml}"
    );
    assert!(!twiml.contains("<Gather"), "{twiml}");

    // The person who answers hears who and why.
    let whisper = app
        .twiml(
            "/voice/transfer-whisper",
            &[("CallSid", &sid(99)), ("ParentCallSid", &c)],
        )
        .await;
    let said = spoken(&whisper);
    assert!(said.contains("4 1 5, 5 5 5, 0 1 0 0"), "{said}");
    assert!(said.contains("a billing question"), "{said}");

    // Nobody answers: the caller is back and is offered a message.
    for status in ["no-answer", "busy", "failed"] {
        let back = app
            .twiml(
                "/voice/transfer-status",
                &[("CallSid", &c), ("DialCallStatus", status)],
            )
            .await;
        assert!(spoken(&back).contains("take a message"), "{status}: {back}");
        assert!(back.contains("<Gather"), "{back}");
    }
    let (_, s) = app.get_json(&format!("/session/{c}")).await;
    assert_eq!(
        s["conversation_history"][2]["tool"]["name"],
        "transfer_call"
    );
    // A conversation that took place ends the caller's call.
    let done = app
        .twiml(
            "/voice/transfer-status",
            &[("CallSid", &c), ("DialCallStatus", "completed")],
        )
        .await;
    assert!(done.contains("<Hangup/>"), "{done}");
    assert_eq!(
        app.state
            .sessions
            .snapshot(&frontdesk::twilio::webhook::CallSid::parse(&c).unwrap())
            .await
            .unwrap()
            .transfer
            .unwrap()
            .outcome
            .as_deref(),
        Some("completed")
    );
}

#[tokio::test]
async fn without_a_transfer_number_or_after_hours_nobody_is_dialled() {
    for (extra, clock, expected) in [
        (
            vec![],
            monday_late_morning(),
            "nobody can come to the phone",
        ),
        (
            vec![("TRANSFER_NUMBER", DESK)],
            crate::helpers::sunday_morning(),
            "office is closed",
        ),
    ] {
        let model = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let app = app(&model, dir.path(), clock, &extra).await;
        mount_once(
            &model,
            tool_calls(None, &[("t1", "transfer_call", json!({}))]),
        )
        .await;
        mount_once(
            &model,
            text("Nobody is free right now. Can I take a message?"),
        )
        .await;
        let c = sid(4);
        call(&app, &c, CALLER).await;
        let twiml = app.say(&c, "put me through to someone").await;
        assert!(!twiml.contains("<Dial"), "{twiml}");
        assert!(twiml.contains("<Gather"), "{twiml}");
        let (_, s) = app.get_json(&format!("/session/{c}")).await;
        let error = s["conversation_history"][2]["tool"]["result"]["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(error.contains(expected), "{error}");
    }
}

#[tokio::test]
async fn a_keypad_1_confirms_a_booking_and_two_misses_offer_the_keypad() {
    let dir = tempfile::tempdir().unwrap();
    let state = frontdesk::startup::build_state(
        config(dir.path(), &[("BUSINESS_TIMEZONE", "America/New_York")]),
        crate::helpers::sunday_morning(),
    )
    .await
    .unwrap();
    let app = spawn_with_state(state, dir.path().to_path_buf()).await;
    let c = sid(5);
    call(&app, &c, CALLER).await;
    let asked = app
        .say(&c, "Can I book tomorrow at 2 pm? My name is Ada Lovelace")
        .await;
    assert!(asked.contains("input=\"speech dtmf\""), "{asked}");
    assert!(asked.contains("numDigits=\"1\""), "{asked}");
    let confirmed = app
        .twiml("/voice/process-speech", &[("CallSid", &c), ("Digits", "1")])
        .await;
    assert!(spoken(&confirmed).contains("all set"), "{confirmed}");
    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1);

    let first = app.twiml("/voice/process-speech", &[("CallSid", &c)]).await;
    assert!(!spoken(&first).contains("keypad"), "{first}");
    let second = app.twiml("/voice/process-speech", &[("CallSid", &c)]).await;
    assert!(spoken(&second).contains("press 1 for yes"), "{second}");
}

/// The form fields of a request to the fake Twilio.
fn form(req: &wiremock::Request) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(&req.body).into_owned().collect()
}

/// An app talking to a fake Twilio, with `extra` settings.
async fn twilio_app(
    twilio: &MockServer,
    dir: &std::path::Path,
    clock: frontdesk::clock::Clock,
    extra: &[(&str, &str)],
) -> TestApp {
    let uri = twilio.uri();
    let mut vars = vec![
        ("BUSINESS_TIMEZONE", "America/New_York"),
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", "secret"),
        ("TWILIO_PHONE_NUMBER", "+14155550199"),
        ("TWILIO_API_BASE_URL", uri.as_str()),
        ("TWILIO_VALIDATE_SIGNATURES", "false"),
    ];
    vars.extend_from_slice(extra);
    let state = frontdesk::startup::build_state(config(dir, &vars), clock)
        .await
        .unwrap();
    spawn_with_state(state, dir.to_path_buf()).await
}

async fn texting_app(twilio: &MockServer, dir: &std::path::Path) -> TestApp {
    let app = twilio_app(twilio, dir, crate::helpers::sunday_morning(), &[]).await;
    assert!(
        app.state.config.duties.sms_confirmations,
        "on with credentials"
    );
    app
}

/// Waits until the session has `n` texts.
async fn texts(app: &TestApp, call: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let (_, s) = app.get_json(&format!("/session/{call}")).await;
        let texts = s["texts"].as_array().cloned().unwrap_or_default();
        if texts.len() >= n {
            return texts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no {n} texts on {call}");
}

#[tokio::test]
async fn a_booking_move_and_cancel_each_text_the_caller_in_business_time() {
    use wiremock::{
        Mock, ResponseTemplate,
        matchers::{method, path},
    };
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM123", "status": "queued"})),
        )
        .mount(&twilio)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let app = texting_app(&twilio, dir.path()).await;
    let c = sid(6);
    call(&app, &c, CALLER).await;
    app.say(&c, "Can I book tomorrow at 2 pm? My name is Ada Lovelace")
        .await;
    assert!(spoken(&app.say(&c, "yes").await).contains("all set"));
    let sent = texts(&app, &c, 1).await;
    assert_eq!(sent[0]["sid"], "SM123");
    let requests = twilio.received_requests().await.unwrap();
    let f = form(&requests[0]);
    assert_eq!(f["To"], CALLER);
    assert_eq!(f["From"], "+14155550199");
    assert_eq!(
        f["Body"],
        "Acme Dental: you're booked for Monday, November 23rd at 2 PM. \
         To change or cancel it, call us at +14155550199."
    );

    app.say(&c, "Actually I need to move my appointment").await;
    app.say(&c, "Tuesday at 10 am").await;
    app.say(&c, "yes").await;
    app.say(&c, "And please cancel my appointment").await;
    app.say(&c, "yes").await;
    let sent = texts(&app, &c, 3).await;
    let bodies: Vec<String> = sent
        .iter()
        .map(|t| t["body"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        bodies[1].contains("moved to Tuesday, November 24th at 10 AM"),
        "{bodies:?}"
    );
    assert!(
        bodies[2].contains("on Tuesday, November 24th at 10 AM is cancelled"),
        "{bodies:?}"
    );
    assert_eq!(twilio.received_requests().await.unwrap().len(), 3);

    // Withheld callers get no text.
    let anon = sid(7);
    call(&app, &anon, "Anonymous").await;
    app.say(&anon, "Book Wednesday at 11 am, this is Grace Hopper")
        .await;
    assert!(spoken(&app.say(&anon, "yes").await).contains("all set"));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(twilio.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_refused_text_is_kept_in_the_session_and_the_booking_stands() {
    use wiremock::{
        Mock, ResponseTemplate,
        matchers::{method, path},
    };
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21610, "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400
        })))
        .mount(&twilio)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let app = texting_app(&twilio, dir.path()).await;
    let c = sid(8);
    call(&app, &c, CALLER).await;
    app.say(&c, "Can I book tomorrow at 2 pm? My name is Ada Lovelace")
        .await;
    let heard = spoken(&app.say(&c, "yes").await);
    assert!(heard.contains("all set"), "{heard}");
    assert!(
        !heard.contains("21610") && !heard.contains("text"),
        "{heard}"
    );
    let sent = texts(&app, &c, 1).await;
    let error = sent[0]["error"].as_str().unwrap();
    assert!(
        error.contains("unsubscribed") && error.contains("STOP"),
        "{error}"
    );
    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1);
    assert_eq!(
        twilio.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );
}

/// A clock the test moves by hand.
struct HandClock(std::sync::atomic::AtomicI64);

impl HandClock {
    fn at(t: chrono::DateTime<chrono::Utc>) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicI64::new(t.timestamp())))
    }
    fn set(&self, t: chrono::DateTime<chrono::Utc>) {
        self.0
            .store(t.timestamp(), std::sync::atomic::Ordering::SeqCst);
    }
    fn clock(self: &Arc<Self>) -> frontdesk::clock::Clock {
        let me = Arc::clone(self);
        Arc::new(move || {
            chrono::DateTime::from_timestamp(me.0.load(std::sync::atomic::Ordering::SeqCst), 0)
                .unwrap()
        })
    }
}

async fn reminding_app(
    twilio: &MockServer,
    dir: &std::path::Path,
    clock: frontdesk::clock::Clock,
    channel: &str,
) -> TestApp {
    let extra = [
        ("SMS_CONFIRMATIONS", "false"),
        ("REMINDER_LEAD_MINUTES", "1440"),
        ("REMINDER_CHANNEL", channel),
    ];
    twilio_app(twilio, dir, clock, &extra).await
}

/// The bodies of the texts the fake Twilio received, after waiting for `n`.
async fn texted(twilio: &MockServer, n: usize) -> Vec<String> {
    for _ in 0..50 {
        let got = twilio.received_requests().await.unwrap();
        if got.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| form(r).get("Body").cloned().unwrap_or_default())
        .collect()
}

async fn book(app: &TestApp, n: u32, words: &str) -> String {
    let c = sid(n);
    call(app, &c, CALLER).await;
    app.say(&c, words).await;
    let heard = spoken(&app.say(&c, "yes").await);
    assert!(heard.contains("all set"), "{heard}");
    c
}

#[tokio::test]
async fn reminders_go_out_once_at_their_lead_time_and_never_for_cancelled_appointments() {
    use chrono::TimeZone;
    use wiremock::{
        Mock, ResponseTemplate,
        matchers::{method, path},
    };
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"})),
        )
        .mount(&twilio)
        .await;
    let dir = tempfile::tempdir().unwrap();
    // Sunday 2026-11-22, 10 AM in New York.
    let hand = HandClock::at(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 15, 0, 0)
            .unwrap(),
    );
    let app = reminding_app(&twilio, dir.path(), hand.clock(), "sms").await;

    // Due at booking: Monday 9 AM is less than a day away.
    book(
        &app,
        10,
        "Can I book tomorrow at 9 am? My name is Ada Lovelace",
    )
    .await;
    let sent = texted(&twilio, 1).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("Hi Ada, this is Acme Dental reminding you of your appointment on Monday, November 23rd at 9 AM."),
        "{sent:?}"
    );
    // Due later: Tuesday 4 PM is due Monday 4 PM; Tuesday 3 PM is cancelled.
    book(
        &app,
        11,
        "Can I book Tuesday at 4 pm? My name is Alan Turing",
    )
    .await;
    let c = sid(12);
    call(&app, &c, "+14155550111").await;
    app.say(&c, "Can I book Tuesday at 3 pm? My name is Grace Hopper")
        .await;
    assert!(spoken(&app.say(&c, "yes").await).contains("all set"));
    app.say(&c, "Actually please cancel my appointment").await;
    app.say(&c, "yes").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(texted(&twilio, 1).await.len(), 1, "nothing else is due yet");

    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 2, "{list}");
    // A restart, then the clock reaches Monday 4:30 PM: both remaining
    // reminders' times have come, the cancelled one's too.
    let tmp = app.stop().await;
    hand.set(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 21, 30, 0)
            .unwrap(),
    );
    let again = reminding_app(&twilio, dir.path(), hand.clock(), "sms").await;
    let sent = texted(&twilio, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let sent_after = texted(&twilio, 2).await;
    assert_eq!(sent, sent_after, "nothing more");
    assert_eq!(
        sent.len(),
        2,
        "Ada's once, Alan's once, Grace's never: {sent:?}"
    );
    assert!(
        sent[1].contains("Hi Alan") && sent[1].contains("Tuesday, November 24th at 4 PM"),
        "{sent:?}"
    );
    drop(again);
    drop(tmp);
}

#[tokio::test]
async fn a_reminder_call_greets_with_the_appointment_and_asks_keep_move_or_cancel() {
    use chrono::TimeZone;
    use wiremock::{
        Mock, ResponseTemplate,
        matchers::{method, path},
    };
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "CA0000000000000000000000000000abcd", "status": "queued",
            "to": CALLER, "from": "+14155550199"
        })))
        .mount(&twilio)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let hand = HandClock::at(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 15, 0, 0)
            .unwrap(),
    );
    let app = reminding_app(&twilio, dir.path(), hand.clock(), "call").await;
    book(
        &app,
        20,
        "Can I book tomorrow at 9 am? My name is Ada Lovelace",
    )
    .await;
    let requests = texted(&twilio, 1).await;
    assert_eq!(requests.len(), 1);
    let placed = form(&twilio.received_requests().await.unwrap()[0]);
    assert_eq!(placed["To"], CALLER);
    assert_eq!(placed["MachineDetection"], "DetectMessageEnd");
    assert_eq!(
        placed["Url"],
        "https://frontdesk.example.com/voice/outbound"
    );
    // When the call is answered, the greeting is the reminder.
    let answer = app
        .twiml(
            "/voice/outbound",
            &[
                ("CallSid", "CA0000000000000000000000000000abcd"),
                ("To", CALLER),
                ("Direction", "outbound-api"),
            ],
        )
        .await;
    let said = spoken(&answer);
    assert!(
        said.contains("Hi Ada") && said.contains("keep it, move it or cancel it"),
        "{said}"
    );
}

#[tokio::test]
async fn the_built_in_receptionist_puts_callers_through_and_takes_messages() {
    let dir = tempfile::tempdir().unwrap();
    let state = frontdesk::startup::build_state(
        config(
            dir.path(),
            &[
                ("BUSINESS_TIMEZONE", "America/New_York"),
                ("TRANSFER_NUMBER", DESK),
            ],
        ),
        monday_late_morning(),
    )
    .await
    .unwrap();
    let app = spawn_with_state(state, dir.path().to_path_buf()).await;
    let c = sid(30);
    call(&app, &c, CALLER).await;
    let through = app.say(&c, "um can i speak to a real person please").await;
    assert!(through.contains("+14155550123</Number>"), "{through}");
    // Nobody answers: the caller leaves a message instead.
    let back = app
        .twiml(
            "/voice/transfer-status",
            &[("CallSid", &c), ("DialCallStatus", "no-answer")],
        )
        .await;
    assert!(spoken(&back).contains("take a message"), "{back}");
    let asked = spoken(&app.say(&c, "can i leave a message").await);
    assert!(asked.contains("pass on"), "{asked}");
    let name = spoken(&app.say(&c, "please tell them my tooth still hurts").await);
    assert!(name.contains("who should I say"), "{name}");
    let done = spoken(&app.say(&c, "it's ada lovelace").await);
    assert!(done.contains("4 1 5, 5 5 5, 0 1 0 0"), "{done}");
    let (_, list) = app.get_json("/messages").await;
    assert_eq!(
        list["messages"][0]["message"],
        "please tell them my tooth still hurts"
    );
    assert_eq!(list["messages"][0]["callback_number"], CALLER);

    // Without a transfer number the receptionist offers a message straight away.
    let dir2 = tempfile::tempdir().unwrap();
    let state = frontdesk::startup::build_state(
        config(dir2.path(), &[("BUSINESS_TIMEZONE", "America/New_York")]),
        monday_late_morning(),
    )
    .await
    .unwrap();
    let app2 = spawn_with_state(state, dir2.path().to_path_buf()).await;
    let c2 = sid(31);
    call(&app2, &c2, CALLER).await;
    let said = app2.say(&c2, "could you put me through to someone").await;
    assert!(!said.contains("<Dial"), "{said}");
    assert!(
        spoken(&said).contains("nobody can come to the phone"),
        "{said}"
    );
}
