//! Many calls at once, and the call log across a restart.

use std::sync::Arc;

use crate::helpers::{TestApp, sid, spawn_app, spawn_app_in, spoken};

#[tokio::test]
async fn a_hundred_concurrent_calls_keep_their_own_transcripts() {
    let app = std::sync::Arc::new(spawn_app(&[]).await);
    let mut tasks = Vec::new();
    for n in 0..100u32 {
        let app = std::sync::Arc::clone(&app);
        tasks.push(tokio::spawn(async move {
            let call = sid(1000 + n);
            app.twiml(
                "/voice/inbound",
                &[("CallSid", call.as_str()), ("From", "+14155550100")],
            )
            .await;
            for turn in 0..3 {
                let answer = app
                    .say(&call, &format!("caller {n} turn {turn} what time is it"))
                    .await;
                assert!(spoken(&answer).starts_with("It's"), "{answer}");
            }
            call
        }));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        let call = task.await.unwrap();
        let (_, s) = app.get_json(&format!("/session/{call}")).await;
        let history = s["conversation_history"].as_array().unwrap();
        assert_eq!(history.len(), 7, "{call}");
        let mine: Vec<String> = history
            .iter()
            .filter(|t| t["role"] == "user")
            .map(|t| t["content"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (0..3)
            .map(|t| format!("caller {n} turn {t} what time is it"))
            .collect();
        assert_eq!(mine, want);
    }
    let (_, list) = app.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 100);
    assert_eq!(list["sessions"].as_object().unwrap().len(), 100);
}

#[tokio::test]
async fn ended_calls_survive_a_restart() {
    let app = spawn_app(&[]).await;
    let dir = app.data_dir.clone();
    let call = sid(20);
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call.as_str()), ("From", "+14155550100")],
    )
    .await;
    app.say(&call, "what day is it").await;
    let resp = app
        .webhook(
            "/voice/status",
            &[
                ("CallSid", call.as_str()),
                ("CallStatus", "completed"),
                ("CallDuration", "31"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 204);
    let keep = app.stop().await;

    let again = spawn_app_in(dir, &[]).await;
    let (status, s) = again.get_json(&format!("/session/{call}")).await;
    assert_eq!(status, 200);
    assert_eq!(s["status"], "completed");
    assert_eq!(s["duration_seconds"], 31);
    assert_eq!(s["conversation_history"][1]["content"], "what day is it");
    let (_, list) = again.get_json("/sessions?include_ended=true").await;
    assert_eq!(list["active_sessions"], 0);
    assert!(list["sessions"][&call].is_object());
    drop(keep);
}

#[tokio::test]
async fn calls_that_never_report_an_end_expire_into_the_log() {
    let app = spawn_app(&[("SESSION_IDLE_TIMEOUT_SECONDS", "1")]).await;
    let call = sid(21);
    app.twiml("/voice/inbound", &[("CallSid", call.as_str())])
        .await;
    app.say(&call, "hello").await;
    assert_eq!(app.state.sessions.live_count().await, 1);
    assert_eq!(app.state.turns.len(), 1);
    // The server's own sweep (every second here) moves it to the log.
    let mut waited = 0;
    while app.state.sessions.live_count().await > 0 || !app.state.turns.is_empty() {
        assert!(
            waited < 50,
            "the idle call and its turn slot were never swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["end_reason"], "idle-timeout");
    assert_eq!(s["conversation_history"][1]["content"], "hello");
    let (_, list) = app.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 0);
}

#[tokio::test]
async fn idle_expiry_follows_the_servers_clock_not_the_wall() {
    // A clock the test moves: an hour of silence passes in no time.
    let offset = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let start = chrono::Utc::now();
    let moved = Arc::clone(&offset);
    let clock: frontdesk::clock::Clock = Arc::new(move || {
        start + chrono::Duration::seconds(moved.load(std::sync::atomic::Ordering::SeqCst))
    });
    let app = TestApp::builder()
        .env("SESSION_IDLE_TIMEOUT_SECONDS", "600")
        .clock(clock)
        .spawn()
        .await;
    let (quiet, busy) = (sid(22), sid(23));
    for call in [&quiet, &busy] {
        app.twiml("/voice/inbound", &[("CallSid", call.as_str())])
            .await;
    }
    let idle = std::time::Duration::from_secs(600);
    offset.store(599, std::sync::atomic::Ordering::SeqCst);
    app.say(&busy, "hello").await;
    assert_eq!(app.state.sessions.expire_idle(idle).await, 0);

    offset.store(601, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.state.sessions.expire_idle(idle).await, 1);
    let (_, list) = app.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 1);
    assert!(list["sessions"][&busy].is_object());
    let (_, s) = app.get_json(&format!("/session/{quiet}")).await;
    assert_eq!(s["end_reason"], "idle-timeout");
    assert_eq!(
        s["ended_at"]
            .as_str()
            .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()),
        Some(start + chrono::Duration::seconds(601))
    );

    offset.store(599 + 601, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.state.sessions.expire_idle(idle).await, 1);
    assert_eq!(app.state.sessions.live_count().await, 0);
}

#[tokio::test]
async fn root_and_health_answer() {
    let app = spawn_app(&[]).await;
    let (status, root) = app.get_json("/").await;
    assert_eq!(status, 200);
    assert_eq!(root["status"], "ok");
    assert_eq!(root["public_url"], crate::helpers::PUBLIC_URL);
    assert_eq!(root["active_sessions"], 0);
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_call_keeps_the_conversation_going() {
    let app = spawn_app(&[]).await;
    let dir = app.data_dir.clone();
    let call = sid(22);
    app.twiml("/voice/inbound", &[("CallSid", call.as_str())])
        .await;
    app.say(&call, "what time is it").await;
    let keep = app.stop().await;

    let again = spawn_app_in(dir, &[]).await;
    let (_, s) = again.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["end_reason"], "server-stopped");
    let answer = again.say(&call, "thanks, bye").await;
    assert!(answer.contains("<Hangup/>"));
    let (_, list) = again.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 1);
    let resp = again
        .webhook(
            "/voice/status",
            &[("CallSid", call.as_str()), ("CallStatus", "completed")],
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (_, s) = again.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["status"], "completed");
    assert_eq!(s["conversation_history"].as_array().unwrap().len(), 5);
    drop(keep);
}
