//! Whole Gather-mode calls through the webhooks.

use crate::helpers::{PUBLIC_URL, sid, spawn_app, spoken};

#[tokio::test]
async fn outbound_call_runs_several_turns_then_goodbye_then_completed() {
    let app = spawn_app(&[
        ("SPEECH_LANGUAGE", "en-GB"),
        ("TTS_VOICE", "Polly.Amy"),
        ("SILENCE_THRESHOLD_SECONDS", "6"),
    ])
    .await;
    let call = sid(1);
    let answer = app
        .twiml(
            "/voice/outbound",
            &[
                ("CallSid", call.as_str()),
                ("From", "+14155550199"),
                ("To", "+14155550100"),
                ("CallStatus", "in-progress"),
                ("Direction", "outbound-api"),
            ],
        )
        .await;
    assert!(spoken(&answer).contains("Acme Dental"), "{answer}");
    let gather = format!(
        r#"<Gather input="speech dtmf" action="{PUBLIC_URL}/voice/process-speech" method="POST" timeout="6" speechTimeout="auto" language="en-GB" actionOnEmptyResult="true" numDigits="1" partialResultCallback="{PUBLIC_URL}/voice/partial-speech" partialResultCallbackMethod="POST">"#
    );
    assert!(answer.contains(&gather), "{answer}");
    assert!(
        answer.contains(r#"<Say voice="Polly.Amy" language="en-GB">"#),
        "{answer}"
    );

    let time = app.say(&call, "What time is it?").await;
    assert!(spoken(&time).starts_with("It's "), "{time}");
    assert!(time.contains("<Gather"));
    let date = app.say(&call, "And what day is it today?").await;
    assert!(spoken(&date).starts_with("Today is "), "{date}");
    let help = app.say(&call, "What can you do?").await;
    assert!(spoken(&help).contains("receptionist"), "{help}");

    let bye = app.say(&call, "Thanks, that's all. Bye!").await;
    assert!(bye.contains("<Hangup/>"), "{bye}");
    assert!(!bye.contains("<Gather"), "{bye}");

    let (status, live) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(status, 200);
    let history = live["conversation_history"].as_array().unwrap();
    let roles: Vec<&str> = history
        .iter()
        .map(|t| t["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert_eq!(history[1]["content"], "What time is it?");
    assert_eq!(history[1]["confidence"], 0.91);
    assert!(history[1]["timestamp"].as_str().unwrap().contains('T'));
    assert_eq!(live["to"], "+14155550100");
    assert_eq!(live["direction"], "outbound");

    let resp = app
        .webhook(
            "/voice/status",
            &[
                ("CallSid", call.as_str()),
                ("CallStatus", "completed"),
                ("CallDuration", "73"),
                ("SequenceNumber", "3"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 204);

    let (_, list) = app.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 0);
    assert!(list["sessions"].as_object().unwrap().is_empty());
    assert!(app.state.turns.is_empty(), "nothing kept for an ended call");
    let (status, ended) = app.get_json(&format!("/sessions/{call}")).await;
    assert_eq!(status, 200);
    assert_eq!(ended["status"], "completed");
    assert_eq!(ended["duration_seconds"], 73);
    assert_eq!(ended["conversation_history"].as_array().unwrap().len(), 9);
    let (_, with_ended) = app.get_json("/sessions?include_ended=true").await;
    assert_eq!(with_ended["sessions"][&call]["status"], "completed");
    assert_eq!(with_ended["sessions"][&call]["message_count"], 9);
}

#[tokio::test]
async fn silent_caller_is_reprompted_then_hung_up() {
    let app = spawn_app(&[]).await;
    let call = sid(2);
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call.as_str()), ("From", "+14155550100")],
    )
    .await;
    for expected in ["didn't hear", "press 1 for yes"] {
        let again = app
            .twiml(
                "/voice/process-speech",
                &[("CallSid", call.as_str()), ("SpeechResult", "")],
            )
            .await;
        assert!(spoken(&again).contains(expected), "{again}");
        assert!(again.contains("<Gather"));
    }
    // Speaking resets the count.
    app.say(&call, "hello").await;
    for _ in 0..2 {
        let again = app
            .twiml("/voice/process-speech", &[("CallSid", call.as_str())])
            .await;
        assert!(again.contains("<Gather"), "{again}");
    }
    let last = app
        .twiml(
            "/voice/process-speech",
            &[("CallSid", call.as_str()), ("SpeechResult", "   ")],
        )
        .await;
    assert!(last.contains("<Hangup/>"), "{last}");
    assert!(!last.contains("<Gather"));
    assert!(spoken(&last).contains("Goodbye"));
}

#[tokio::test]
async fn silence_limit_is_configurable() {
    let app = spawn_app(&[("MAX_SILENT_TURNS", "1")]).await;
    let call = sid(3);
    app.twiml("/voice/inbound", &[("CallSid", call.as_str())])
        .await;
    let last = app
        .twiml("/voice/process-speech", &[("CallSid", call.as_str())])
        .await;
    assert!(last.contains("<Hangup/>"), "{last}");
}

#[tokio::test]
async fn every_final_status_ends_the_session_with_its_duration() {
    let app = spawn_app(&[]).await;
    for (n, status) in ["completed", "busy", "failed", "no-answer", "canceled"]
        .into_iter()
        .enumerate()
    {
        let call = sid(100 + n as u32);
        app.twiml("/voice/inbound", &[("CallSid", call.as_str())])
            .await;
        let resp = app
            .webhook(
                "/voice/status",
                &[
                    ("CallSid", call.as_str()),
                    ("CallStatus", status),
                    ("CallDuration", "5"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 204);
        let (_, s) = app.get_json(&format!("/session/{call}")).await;
        assert_eq!(s["status"], status);
        assert_eq!(s["duration_seconds"], 5);
        assert!(s["ended_at"].is_string());
    }
    let (_, list) = app.get_json("/").await;
    assert_eq!(list["active_sessions"], 0);
}

#[tokio::test]
async fn unknown_requests_get_a_fallback_not_an_error() {
    let app = spawn_app(&[]).await;
    let call = sid(4);
    let answer = app
        .say(&call, "Can you recommend a good pizza place?")
        .await;
    assert!(spoken(&answer).contains("Sorry"), "{answer}");
    assert!(answer.contains("<Gather"));
}

#[tokio::test]
async fn time_is_told_in_the_business_time_zone() {
    use chrono::TimeZone;
    // 19:05 UTC on Tuesday is 4:05 AM on Wednesday in Tokyo.
    let clock: frontdesk::clock::Clock = std::sync::Arc::new(|| {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 24, 19, 5, 0)
            .unwrap()
    });
    let app = crate::helpers::TestApp::builder()
        .env("BUSINESS_TIMEZONE", "Asia/Tokyo")
        .clock(clock)
        .spawn()
        .await;
    let time = spoken(&app.say(&sid(5), "what time is it").await);
    assert!(time.starts_with("It's 4:05 AM"), "{time}");
    let day = spoken(&app.say(&sid(5), "what's the date").await);
    assert!(day.contains("Wednesday, November 25th"), "{day}");
}
