//! `GET /metrics`: what a Prometheus scrape shows after real calls.

use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{TestApp, config, sid, spawn_app, spawn_with_state, spoken};

/// Scrapes `/metrics`, checking the Prometheus text content type.
async fn scrape(app: &TestApp) -> String {
    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    resp.text().await.unwrap()
}

/// The value of one series (name with labels, exactly as written).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_scrape_after_a_booking_call_shows_its_turns_booking_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("BUSINESS_TIMEZONE", "America/New_York")]);
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    let app = spawn_with_state(state, dir.path().to_path_buf()).await;

    let before = scrape(&app).await;
    assert_eq!(value(&before, "frontdesk_live_calls"), 0.0);
    assert_eq!(
        value(
            &before,
            r#"frontdesk_turns_total{agent="rules",outcome="replied"}"#
        ),
        0.0
    );

    let call = sid(1);
    app.twiml(
        "/voice/inbound",
        &[
            ("CallSid", &call),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    assert_eq!(value(&scrape(&app).await, "frontdesk_live_calls"), 1.0);
    app.say(
        &call,
        "Hi, I'd like to book an appointment tomorrow at 2 pm",
    )
    .await;
    app.say(&call, "Ada Lovelace").await;
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.starts_with("You're all set, Ada Lovelace"), "{a}");
    app.webhook(
        "/voice/status",
        &[
            ("CallSid", &call),
            ("CallStatus", "completed"),
            ("CallDuration", "40"),
        ],
    )
    .await;

    let text = scrape(&app).await;
    assert_eq!(value(&text, "frontdesk_live_calls"), 0.0);
    assert_eq!(
        value(
            &text,
            r#"frontdesk_turns_total{agent="rules",outcome="replied"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"frontdesk_turns_total{agent="rules",outcome="failed"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            r#"frontdesk_turn_latency_seconds_count{answer="reply"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"frontdesk_turn_latency_seconds_bucket{answer="reply",le="+Inf"}"#
        ),
        3.0
    );
    assert_eq!(value(&text, "frontdesk_agent_latency_seconds_count"), 3.0);
    assert_eq!(
        value(
            &text,
            r#"frontdesk_appointment_changes_total{change="booked"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&text, r#"frontdesk_calls_ended_total{reason="completed"}"#),
        1.0
    );
    assert_eq!(value(&text, "frontdesk_holds_total"), 0.0);
    assert_eq!(
        value(
            &text,
            r#"frontdesk_calendar_errors_total{operation="book"}"#
        ),
        0.0
    );
}

#[tokio::test]
async fn twilio_errors_are_counted_by_operation() {
    let twilio = MockServer::start().await;
    let uri = twilio.uri();
    let app = spawn_app(&[
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "twilio-test-token"),
        ("TWILIO_PHONE_NUMBER", "+14155550199"),
        ("TWILIO_API_BASE_URL", uri.as_str()),
    ])
    .await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json",
        ))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "down"})))
        .mount(&twilio)
        .await;
    let resp = app
        .client
        .post(format!("{}/make-call", app.base))
        .json(&json!({"to_number": "+14155550100"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_server_error());
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"frontdesk_twilio_errors_total{operation="create_call"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"frontdesk_twilio_errors_total{operation="hang_up"}"#
        ),
        0.0
    );
}
