//! The latency ledger in `GET /session/{call_sid}`: one entry per answered
//! caller turn, with the model's and the tools' share and the holds.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::MockServer;

use crate::{
    helpers::{config, sid, spawn_with_state, spoken},
    llm::{app_with_model, mount_once, start, text, tool_calls},
};

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Checks what holds for every entry: the order of the times and the parts
/// within the whole.
fn check_entry(e: &Value) {
    let received =
        chrono::DateTime::parse_from_rfc3339(e["received_at"].as_str().unwrap()).unwrap();
    let replied = chrono::DateTime::parse_from_rfc3339(e["replied_at"].as_str().unwrap()).unwrap();
    assert!(received <= replied, "{e}");
    assert!(ms(&e["total_ms"]) >= ms(&e["agent_ms"]), "{e}");
    assert!(ms(&e["agent_ms"]) >= ms(&e["llm_ms"]), "{e}");
}

#[tokio::test]
async fn each_answered_turn_is_in_the_ledger_and_the_log_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("BUSINESS_TIMEZONE", "America/New_York")]);
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    let app = spawn_with_state(state, dir.path().to_path_buf()).await;
    let call = sid(41);
    app.twiml(
        "/voice/inbound",
        &[
            ("CallSid", &call),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["ledger"], json!([]), "a greeting is not a turn");
    assert_eq!(s["latency"], Value::Null);

    app.say(
        &call,
        "Hi, I'd like to book an appointment tomorrow at 2 pm",
    )
    .await;
    app.say(&call, "Ada Lovelace").await;
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.starts_with("You're all set"), "{a}");

    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    let ledger = s["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 3, "{s}");
    for e in ledger {
        check_entry(e);
        assert_eq!(e["held"], false);
        assert_eq!(e["llm_requests"], 0, "the built-in agent asks no model");
        assert_eq!(ms(&e["llm_ms"]), 0.0);
    }
    assert!(
        ledger[2]["tool_calls"].as_u64().unwrap() >= 1,
        "the booking turn called a tool: {}",
        ledger[2]
    );
    let totals: Vec<f64> = ledger.iter().map(|e| ms(&e["total_ms"])).collect();
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(s["latency"]["turns"], 3);
    assert_eq!(ms(&s["latency"]["p50_ms"]), sorted[1]);
    assert_eq!(ms(&s["latency"]["max_ms"]), sorted[2]);
    assert_eq!(s["latency"]["held"], 0);

    app.webhook(
        "/voice/status",
        &[("CallSid", &call), ("CallStatus", "completed")],
    )
    .await;
    let (_, logged) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(logged["status"], "completed");
    assert_eq!(
        logged["ledger"], s["ledger"],
        "the call log keeps the ledger"
    );
}

#[tokio::test]
async fn a_held_llm_turn_shows_its_hold_model_requests_and_tool_calls() {
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_model(&model, dir.path(), &[("TURN_BUDGET_MS", "200")]).await;
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
    // Slower than the webhook's budget: the caller is put on hold once.
    mount_once(
        &model,
        text("You're booked for Monday at 2 PM.").set_delay(Duration::from_millis(700)),
    )
    .await;
    let call = sid(42);
    start(&app, &call).await;
    let mut answer = app
        .say(&call, "This is Ada Lovelace, can I come in tomorrow at 2?")
        .await;
    let mut holds = 0;
    while answer.contains("<Redirect") {
        holds += 1;
        assert!(holds <= 5, "{answer}");
        answer = app
            .twiml("/voice/continue", &[("CallSid", call.as_str())])
            .await;
    }
    assert!(holds >= 1, "the slow answer was held");
    assert_eq!(spoken(&answer), "You're booked for Monday at 2 PM.");

    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    let ledger = s["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 1, "{s}");
    let e = &ledger[0];
    check_entry(e);
    assert_eq!(e["held"], true);
    assert_eq!(e["llm_requests"], 3);
    assert_eq!(e["tool_calls"], 2);
    assert!(ms(&e["llm_ms"]) > 0.0, "{e}");
    assert!(ms(&e["tool_ms"]) > 0.0, "{e}");
    assert_eq!(s["latency"]["held"], 1);

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "frontdesk_llm_requests_total 3",
        "frontdesk_llm_retries_total 0",
        &format!("frontdesk_holds_total {holds}"),
        r#"frontdesk_turn_latency_seconds_count{answer="hold"} 1"#,
        r#"frontdesk_turns_total{agent="llm",outcome="replied"} 1"#,
        r#"frontdesk_appointment_changes_total{change="booked"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}
