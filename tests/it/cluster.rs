//! Several instances, one phone line: two servers sharing one Redis
//! (`REDIS_URL`) and one data directory serve the same calls, whichever
//! instance each webhook lands on.

use std::time::Duration;

use serde_json::json;
use wiremock::MockServer;

use crate::{
    helpers::{TestApp, sid, spoken},
    llm::{app_with_model, mount_once, start, text, tool_calls},
    redis_engine,
    speculation::{metric, partial, requests_reach},
};

const TOKEN: &str = "cluster-test-token-0123456789abcdef";

/// Two instances on `redis`, sharing `dir` and the model.
async fn pair(
    redis: &redis_engine::Redis,
    model: &MockServer,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> (TestApp, TestApp) {
    let mut vars = vec![("REDIS_URL", redis.url.as_str()), ("API_TOKEN", TOKEN)];
    vars.extend_from_slice(extra);
    let a = app_with_model(model, dir, &vars).await;
    let b = app_with_model(model, dir, &vars).await;
    (a, b)
}

fn said(session: &serde_json::Value) -> Vec<(String, String)> {
    session["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] != "tool")
        .map(|t| {
            (
                t["role"].as_str().unwrap().to_owned(),
                t["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_call_whose_turns_alternate_between_two_instances_keeps_one_history() {
    let Some(redis) = redis_engine::start("alternating turns") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[]).await;
    for answer in ["Answer one.", "Answer two.", "Answer three."] {
        mount_once(&model, text(answer)).await;
    }
    let call = sid(1);
    start(&a, &call).await;
    assert_eq!(spoken(&b.say(&call, "first question").await), "Answer one.");
    assert_eq!(
        spoken(&a.say(&call, "second question").await),
        "Answer two."
    );
    assert_eq!(
        spoken(&b.say(&call, "third question").await),
        "Answer three."
    );

    // Each instance's model request carried the whole conversation so far.
    let bodies = crate::llm::bodies(&model).await;
    let last = bodies.last().unwrap()["messages"].as_array().unwrap();
    let users: Vec<_> = last
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        ["first question", "second question", "third question"]
    );

    // Both instances show the same call, with one history.
    let (_, from_a) = a.get_json(&format!("/session/{call}")).await;
    let (_, from_b) = b.get_json(&format!("/session/{call}")).await;
    let history = said(&from_a);
    assert_eq!(history, said(&from_b));
    assert_eq!(
        history.len(),
        7,
        "greeting and three exchanges: {history:?}"
    );
    assert_eq!(history[1], ("user".into(), "first question".into()));
    assert_eq!(history[6], ("assistant".into(), "Answer three.".into()));
    assert_eq!(from_a["ledger"].as_array().unwrap().len(), 3);
    let (_, list) = b.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 1);
    assert!(list["sessions"][&call].is_object(), "{list}");
}

#[tokio::test]
async fn a_held_turn_is_answered_by_the_other_instance() {
    let Some(redis) = redis_engine::start("held turn") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[("TURN_BUDGET_MS", "200")]).await;
    mount_once(
        &model,
        text("Here is the slow answer.").set_delay(Duration::from_millis(900)),
    )
    .await;
    let call = sid(2);
    start(&a, &call).await;
    let held = a.say(&call, "a hard question").await;
    assert!(held.contains("<Redirect"), "held first: {held}");
    let mut answer = String::new();
    for _ in 0..10 {
        answer = b
            .twiml("/voice/continue", &[("CallSid", call.as_str())])
            .await;
        if !answer.contains("<Redirect") {
            break;
        }
    }
    assert_eq!(spoken(&answer), "Here is the slow answer.");
    assert_eq!(crate::llm::bodies(&model).await.len(), 1);
    let (_, s) = b.get_json(&format!("/session/{call}")).await;
    let ledger = s["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 1, "{s}");
    assert_eq!(ledger[0]["held"], true);
}

#[tokio::test]
async fn a_retried_webhook_on_the_other_instance_replays_instead_of_booking_again() {
    let Some(redis) = redis_engine::start("retried webhook") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[]).await;
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
    let call = sid(3);
    start(&a, &call).await;
    let form = [
        ("CallSid", call.as_str()),
        ("SpeechResult", "Book me Tuesday at 10, I'm Ada. Yes."),
    ];
    let post = |app: &TestApp| {
        app.client
            .post(format!("{}/voice/process-speech", app.base))
            .header("I-Twilio-Idempotency-Token", "tok-1")
            .form(&form)
            .send()
    };
    // The retry lands on the other instance while the turn still runs...
    let first = post(&a);
    let retry = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(&b).await
    };
    let (x, y) = tokio::join!(first, retry);
    let (x, y) = (
        x.unwrap().text().await.unwrap(),
        y.unwrap().text().await.unwrap(),
    );
    assert_eq!(spoken(&x), "You're booked for Tuesday at 10 AM.");
    assert_eq!(x, y);
    // ...and again after it finished.
    let z = post(&b).await.unwrap().text().await.unwrap();
    assert_eq!(x, z);
    assert_eq!(crate::llm::bodies(&model).await.len(), 2, "one turn ran");
    let (_, list) = b.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1);
    let (_, s) = a.get_json(&format!("/session/{call}")).await;
    let users = said(&s).iter().filter(|(r, _)| r == "user").count();
    assert_eq!(users, 1, "the retry is not a second caller turn");
    assert_eq!(
        s["ledger"].as_array().unwrap().len(),
        1,
        "one turn, one ledger entry, though two instances answered it"
    );
}

#[tokio::test]
async fn an_instance_killed_mid_call_leaves_the_call_to_the_other() {
    let Some(redis) = redis_engine::start("killed instance") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[]).await;
    mount_once(&model, text("Before the crash.")).await;
    mount_once(&model, text("After the crash.")).await;
    let call = sid(4);
    start(&a, &call).await;
    assert_eq!(
        spoken(&a.say(&call, "hello there").await),
        "Before the crash."
    );
    a.kill();
    assert_eq!(
        spoken(&b.say(&call, "are you still there").await),
        "After the crash."
    );
    let (_, s) = b.get_json(&format!("/session/{call}")).await;
    let history = said(&s);
    assert_eq!(history.len(), 5, "{history:?}");
    assert_eq!(history[1].1, "hello there");
    // The call ends on the surviving instance and goes to the shared log.
    let status = b
        .webhook(
            "/voice/status",
            &[("CallSid", call.as_str()), ("CallStatus", "completed")],
        )
        .await;
    assert_eq!(status.status(), 204);
    let (_, list) = b.get_json("/sessions").await;
    assert_eq!(list["active_sessions"], 0);
    let (code, logged) = b.get_json(&format!("/session/{call}")).await;
    assert_eq!(code, 200);
    assert_eq!(logged["end_reason"], "completed");
    assert_eq!(said(&logged).len(), 5);
}

#[tokio::test]
async fn an_idle_call_is_logged_once_though_both_instances_sweep() {
    let Some(redis) = redis_engine::start("idle sweep") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // One clock for both instances, moved by the test.
    let offset = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let moved = std::sync::Arc::clone(&offset);
    let clock: frontdesk::clock::Clock = std::sync::Arc::new(move || {
        crate::helpers::sunday_morning()()
            + chrono::Duration::seconds(moved.load(std::sync::atomic::Ordering::SeqCst))
    });
    let (a, b) = rules_pair(&redis, dir.path(), clock).await;
    let (quiet, busy) = (sid(5), sid(15));
    for call in [&quiet, &busy] {
        a.twiml("/voice/inbound", &[("CallSid", call.as_str())])
            .await;
    }
    let idle = Duration::from_secs(600);
    offset.store(599, std::sync::atomic::Ordering::SeqCst);
    b.say(&busy, "hello").await;
    offset.store(601, std::sync::atomic::Ordering::SeqCst);
    let (x, y) = tokio::join!(
        a.state.sessions.expire_idle(idle),
        b.state.sessions.expire_idle(idle)
    );
    assert_eq!(x + y, 1, "exactly one instance logs the quiet call");
    assert_eq!(a.state.sessions.live_count().await, 1);
    let (code, logged) = b.get_json(&format!("/session/{quiet}")).await;
    assert_eq!(code, 200);
    assert_eq!(logged["end_reason"], "idle-timeout");
    let (_, list) = a.get_json("/sessions").await;
    assert!(list["sessions"][&busy].is_object(), "{list}");
}

#[tokio::test]
async fn a_stopping_instance_leaves_its_live_calls_to_the_others() {
    let Some(redis) = redis_engine::start("draining") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[]).await;
    mount_once(&model, text("Still here.")).await;
    let call = sid(6);
    start(&a, &call).await;
    a.stop().await;
    assert_eq!(spoken(&b.say(&call, "hello?").await), "Still here.");
    let (_, s) = b.get_json(&format!("/session/{call}")).await;
    assert!(s["end_reason"].is_null(), "still live: {s}");
    // The same session goes on, greeting included: not logged and begun anew.
    let history = said(&s);
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history[0].0, "assistant");
    assert_eq!(history[1], ("user".into(), "hello?".into()));
}

/// Two instances with the built-in receptionist on `redis`, sharing `dir`
/// and `clock`.
async fn rules_pair(
    redis: &redis_engine::Redis,
    dir: &std::path::Path,
    clock: frontdesk::clock::Clock,
) -> (TestApp, TestApp) {
    let spawn = || {
        TestApp::builder()
            .envs(&[
                ("REDIS_URL", redis.url.as_str()),
                ("API_TOKEN", TOKEN),
                ("BUSINESS_TIMEZONE", "America/New_York"),
            ])
            .data_dir(dir)
            .clock(std::sync::Arc::clone(&clock))
            .spawn()
    };
    (spawn().await, spawn().await)
}

#[tokio::test]
async fn ten_callers_racing_for_one_slot_through_two_instances_book_it_once() {
    let Some(redis) = redis_engine::start("racing callers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = rules_pair(&redis, dir.path(), crate::helpers::sunday_morning()).await;
    let apps = std::sync::Arc::new(vec![a, b]);
    // Each webhook of a call lands on the other instance than the last.
    assert_eq!(
        crate::scheduling::race_for_three_pm(std::sync::Arc::clone(&apps), 10).await,
        1
    );
    for app in apps.iter() {
        let (_, list) = app.get_json("/appointments").await;
        assert_eq!(list["appointments"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn restarting_both_instances_loses_no_booking_and_no_ended_call() {
    let Some(redis) = redis_engine::start("restart both") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = rules_pair(&redis, dir.path(), crate::helpers::sunday_morning()).await;
    let (ended, live) = (sid(200), sid(201));
    for call in [&ended, &live] {
        a.twiml(
            "/voice/inbound",
            &[("CallSid", call.as_str()), ("From", "+14155550123")],
        )
        .await;
    }
    let ask = spoken(
        &b.say(&ended, "book tomorrow at 11 am, my name is Sam Lee")
            .await,
    );
    assert!(ask.contains("Shall I book it?"), "{ask}");
    let done = spoken(&a.say(&ended, "yes").await);
    assert!(done.starts_with("You're all set"), "{done}");
    b.webhook(
        "/voice/status",
        &[("CallSid", ended.as_str()), ("CallStatus", "completed")],
    )
    .await;
    b.say(&live, "hello").await;
    a.stop().await;
    b.stop().await;

    let (a, b) = rules_pair(&redis, dir.path(), crate::helpers::sunday_morning()).await;
    let (_, list) = a.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1, "{list}");
    let (code, logged) = b.get_json(&format!("/session/{ended}")).await;
    assert_eq!(code, 200);
    assert_eq!(logged["end_reason"], "completed");
    // The call still going on is still live, with its history, on both.
    let (_, s) = a.get_json(&format!("/session/{live}")).await;
    assert!(s["end_reason"].is_null(), "{s}");
    assert_eq!(said(&s)[1], ("user".into(), "hello".into()));
}

#[tokio::test]
async fn when_redis_goes_away_the_caller_hears_an_apology_and_the_server_stays_up() {
    let Some(redis) = redis_engine::start("redis down") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = pair(&redis, &model, dir.path(), &[]).await;
    let call = sid(7);
    start(&a, &call).await;
    drop(redis);
    let answer = a.say(&call, "hello?").await;
    assert_eq!(spoken(&answer), frontdesk::turns::APOLOGY);
    assert!(answer.contains("<Gather"), "the call goes on: {answer}");
    assert!(crate::llm::bodies(&model).await.is_empty());
    let health = a
        .bare_client
        .get(format!("{}/health", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> bool {
    std::process::Command::new("sh")
        .args([
            "-c",
            &format!("PATH=$PATH:/usr/sbin:/sbin command -v {program}"),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_cluster_script_serves_a_call_through_the_balancer_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let pg = std::path::Path::new("/usr/lib/postgresql");
    let missing: Vec<&str> = [
        ("haproxy", installed("haproxy")),
        ("redis-server", installed("redis-server")),
        ("curl", installed("curl")),
        ("postgresql", pg.exists()),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("scripts/cluster.sh needs {missing:?}; CI must install them");
        }
        eprintln!("skipping the cluster script test: {missing:?} not installed");
        return;
    }
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh");
    let mut child = std::process::Command::new("bash")
        .arg(script)
        .env("FRONTDESK_BIN", env!("CARGO_BIN_EXE_frontdesk"))
        .env("BALANCER_PORT", ports[0].to_string())
        .env("PORT_A", ports[1].to_string())
        .env("PORT_B", ports[2].to_string())
        .env("REDIS_PORT", ports[3].to_string())
        .env("PG_PORT", ports[4].to_string())
        .env("API_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    // Wait for the script to say everything runs (it prints the URLs).
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    // Read everything it prints (a closed pipe would stop it), and hand
    // over what it printed up to the URLs.
    let (tx, ready) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            printed.push_str(&line);
            if line.contains("API token")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(printed.clone());
            }
            line.clear();
        }
    });
    let printed = tokio::time::timeout(Duration::from_secs(90), ready)
        .await
        .expect("the script starts within 90 s")
        .expect("the script prints its URLs");
    let balancer = format!("http://127.0.0.1:{}", ports[0]);
    assert!(printed.contains(&balancer), "{printed}");
    // HAProxy's first health checks may still be running.
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..50 {
        if client
            .get(format!("{balancer}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the balancer answers");

    // A call whose webhooks go round robin over both instances.
    let call = sid(300);
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        client.post(format!("{balancer}{path}")).form(&form).send()
    };
    let greeting = post(
        "/voice/inbound",
        vec![("CallSid", call.clone()), ("From", "+14155550142".into())],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(greeting.contains("<Gather"), "{greeting}");
    for words in [
        "What time is it?",
        "What day is it today?",
        "Thanks, goodbye",
    ] {
        let answer = post(
            "/voice/process-speech",
            vec![("CallSid", call.clone()), ("SpeechResult", words.into())],
        )
        .await
        .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // Each instance shows the whole call: the greeting and three exchanges.
    for port in [ports[1], ports[2]] {
        let s: serde_json::Value = client
            .get(format!("http://127.0.0.1:{port}/session/{call}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(said(&s).len(), 7, "instance on {port}: {s}");
    }

    // Ctrl-C stops everything it started.
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let stopped = tokio::task::spawn_blocking(move || child.wait());
    tokio::time::timeout(Duration::from_secs(30), stopped)
        .await
        .expect("the script stops within 30 s")
        .unwrap()
        .unwrap();
    for port in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "port {port} still open after Ctrl-C"
        );
    }
}

#[tokio::test]
async fn a_speculation_on_one_instance_becomes_the_turn_when_the_final_words_land_on_the_other() {
    let Some(redis) = redis_engine::start("speculation across instances") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[("HOLD_AFTER_MS", "400")]).await;
    mount_once(
        &model,
        text("We open at 9 AM on Monday.").set_delay(Duration::from_millis(500)),
    )
    .await;
    let call = sid(8);
    start(&a, &call).await;
    partial(&a, &call, 0, "Um, what time do you open on Monday", "0.9").await;
    requests_reach(&model, 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Nothing of the speculation is in the transcript yet, on either instance.
    let (_, s) = b.get_json(&format!("/session/{call}")).await;
    assert_eq!(said(&s).len(), 1, "only the greeting: {s}");

    let answer = b.say(&call, "What time do you open on Monday?").await;
    assert!(!answer.contains("<Redirect"), "no hold: {answer}");
    assert_eq!(spoken(&answer), "We open at 9 AM on Monday.");
    assert_eq!(
        crate::llm::bodies(&model).await.len(),
        1,
        "the speculation's one request is the turn's"
    );
    let (_, s) = a.get_json(&format!("/session/{call}")).await;
    assert_eq!(
        said(&s)[1..],
        [
            ("user".into(), "What time do you open on Monday?".into()),
            ("assistant".into(), "We open at 9 AM on Monday.".into()),
        ]
    );
    assert_eq!(s["ledger"].as_array().unwrap().len(), 1, "{s}");
}

#[tokio::test]
async fn other_final_words_on_the_other_instance_drop_the_speculation_and_its_booking() {
    let Some(redis) = redis_engine::start("speculation dropped across instances") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&redis, &model, dir.path(), &[("HOLD_AFTER_MS", "400")]).await;
    // The speculation asks to book 2 PM; the caller's final words ask for
    // 3 PM, which the second answer books.
    mount_once(
        &model,
        tool_calls(
            None,
            &[(
                "call_1",
                "book_appointment",
                json!({"start": "2026-11-24T14:00", "name": "Ada"}),
            )],
        ),
    )
    .await;
    mount_once(&model, text("Which day would suit you?")).await;
    let call = sid(9);
    start(&a, &call).await;
    partial(&a, &call, 0, "Book me Tuesday at 2 PM, I'm Ada", "0.9").await;
    requests_reach(&model, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let answer = b.say(&call, "Actually, what days are you open?").await;
    let mut answer = spoken(&answer);
    for _ in 0..10 {
        if answer != "Which day would suit you?" {
            answer = spoken(
                &b.twiml("/voice/continue", &[("CallSid", call.as_str())])
                    .await,
            );
        }
    }
    assert_eq!(answer, "Which day would suit you?");
    // Give a dropped speculation time to do what it must not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, list) = a.get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 0, "{list}");
    assert_eq!(
        metric(&a, "frontdesk_speculations_total{result=\"miss\"}").await,
        "1",
        "the speculating instance dropped its work"
    );
    let (_, s) = a.get_json(&format!("/session/{call}")).await;
    assert_eq!(
        said(&s)[1..],
        [
            ("user".into(), "Actually, what days are you open?".into()),
            ("assistant".into(), "Which day would suit you?".into()),
        ]
    );
}

#[tokio::test]
async fn a_turn_for_a_call_no_instance_has_seen_starts_its_session() {
    let Some(redis) = redis_engine::start("unknown call") else {
        return;
    };
    let model = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_a, b) = pair(&redis, &model, dir.path(), &[]).await;
    mount_once(&model, text("Hello there.")).await;
    let call = sid(10);
    // The call's first webhook here is a turn (say, Redis was emptied).
    let answer = b
        .twiml(
            "/voice/process-speech",
            &[
                ("CallSid", call.as_str()),
                ("From", "+14155550177"),
                ("SpeechResult", "hello"),
            ],
        )
        .await;
    assert_eq!(spoken(&answer), "Hello there.");
    let (_, s) = b.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["from"], "+14155550177", "{s}");
    assert_eq!(
        said(&s),
        [
            ("user".into(), "hello".into()),
            ("assistant".into(), "Hello there.".into()),
        ]
    );
}
