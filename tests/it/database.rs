//! `DATABASE_URL`: the real server on a real PostgreSQL (see
//! `postgres.rs`). Appointments, the call log and messages go to the
//! database and come back through the REST API; instances sharing it book
//! a slot once; restarts lose nothing acknowledged; an outage is an apology
//! and a 503, and the server recovers by itself; the schema is created once.

use std::{collections::HashSet, sync::Arc};

use chrono::{TimeZone, Utc};
use frontdesk::{
    postgres::{PgError, Postgres},
    reminders::ReminderBook,
    twilio::number::PhoneNumber,
};

use crate::{
    helpers::{TestApp, sid, spoken, sunday_morning},
    postgres::{Cluster, Proxy, database},
};

/// A server on `url`, in New York time, on Sunday morning 2026-11-22.
async fn app_on(url: &str) -> TestApp {
    TestApp::builder()
        .envs(&[
            ("BUSINESS_TIMEZONE", "America/New_York"),
            ("DATABASE_URL", url),
        ])
        .clock(sunday_morning())
        .spawn()
        .await
}

async fn start_call(app: &TestApp, call: &str, from: &str) {
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call), ("From", from), ("To", "+14155550199")],
    )
    .await;
}

async fn end_call(app: &TestApp, call: &str) {
    let resp = app
        .webhook(
            "/voice/status",
            &[
                ("CallSid", call),
                ("CallStatus", "completed"),
                ("CallDuration", "42"),
            ],
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// Books Monday 2 PM for Ada Lovelace by phone and ends the call.
async fn ada_books_monday_at_two(app: &TestApp, call: &str) {
    start_call(app, call, "+14155550100").await;
    let a = spoken(&app.say(call, "Hi, I'd like to book tomorrow at 2 pm").await);
    assert!(a.contains("May I have your name"), "{a}");
    let a = spoken(&app.say(call, "Ada Lovelace").await);
    assert!(a.contains("Shall I book it?"), "{a}");
    let a = spoken(&app.say(call, "yes").await);
    assert!(a.starts_with("You're all set, Ada Lovelace"), "{a}");
    end_call(app, call).await;
}

/// Leaves a message for the business and ends the call.
async fn grace_leaves_a_message(app: &TestApp, call: &str) {
    start_call(app, call, "+14155550111").await;
    let asked = spoken(&app.say(call, "can i leave a message").await);
    assert!(asked.contains("pass on"), "{asked}");
    let who = spoken(&app.say(call, "please call me about my invoice").await);
    assert!(who.contains("who should I say"), "{who}");
    app.say(call, "it's grace hopper").await;
    end_call(app, call).await;
}

#[tokio::test]
async fn appointments_the_call_log_and_messages_live_in_postgres_and_every_instance_sees_them() {
    let Some(url) = database().await else { return };
    let a = app_on(&url).await;
    let (booking, message) = (sid(1), sid(2));
    ada_books_monday_at_two(&a, &booking).await;
    grace_leaves_a_message(&a, &message).await;

    // Nothing went to SQLite under DATA_DIR.
    for file in ["calendar.db", "calls.db", "messages.db", "reminders.db"] {
        assert!(!a.data_dir.join(file).exists(), "{file} in DATA_DIR");
    }

    // Another instance, with its own DATA_DIR, reads it all back.
    let b = app_on(&url).await;
    for app in [&a, &b] {
        let (status, list) = app.get_json("/appointments").await;
        assert_eq!(status, 200, "{list}");
        let booked = list["appointments"].as_array().unwrap();
        assert_eq!(booked.len(), 1, "{list}");
        assert_eq!(booked[0]["start"], "2026-11-23T14:00:00-05:00");
        assert_eq!(booked[0]["end"], "2026-11-23T14:30:00-05:00");
        assert_eq!(booked[0]["name"], "Ada Lovelace");
        assert_eq!(booked[0]["phone"], "+14155550100");

        let (status, list) = app.get_json("/messages").await;
        assert_eq!(status, 200, "{list}");
        let m = &list["messages"][0];
        assert_eq!(m["message"], "please call me about my invoice", "{list}");
        assert_eq!(m["callback_number"], "+14155550111");
        assert_eq!(m["call_sid"], message.as_str());

        let (status, call) = app.get_json(&format!("/session/{booking}")).await;
        assert_eq!(status, 200, "{call}");
        assert_eq!(call["status"], "completed", "{call}");
        assert_eq!(call["from"], "+14155550100");
        let history = call["conversation_history"].as_array().unwrap();
        assert!(
            history
                .iter()
                .any(|t| t["content"] == "Hi, I'd like to book tomorrow at 2 pm"),
            "{call}"
        );
        let (status, log) = app
            .get_json("/sessions?include_ended=true&number=5550111")
            .await;
        assert_eq!(status, 200, "{log}");
        let found: Vec<&String> = log["sessions"].as_object().unwrap().keys().collect();
        assert_eq!(found, [&message], "{log}");
    }
    // The time Ada booked is taken for callers of the other instance too.
    let c = sid(3);
    start_call(&b, &c, "+14155550122").await;
    let a2 = spoken(&b.say(&c, "can I come in tomorrow at 2 pm").await);
    assert!(!a2.contains("is free"), "{a2}");
}

#[tokio::test]
async fn ten_callers_on_two_instances_racing_for_one_slot_book_it_once_and_restarts_keep_it() {
    let Some(url) = database().await else { return };
    let instances = [Arc::new(app_on(&url).await), Arc::new(app_on(&url).await)];
    let names = [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
        "Edsger Dijkstra",
        "Barbara Liskov",
        "Donald Knuth",
        "Margaret Hamilton",
        "John Backus",
        "Frances Allen",
        "Tony Hoare",
    ];
    // Every caller gets as far as "Shall I book it?" on their instance...
    for (n, name) in names.iter().enumerate() {
        let app = &instances[n % 2];
        let call = sid(100 + n as u32);
        start_call(app, &call, &format!("+1415555{n:04}")).await;
        let ask = spoken(
            &app.say(&call, &format!("book tomorrow at 3 pm, my name is {name}"))
                .await,
        );
        assert!(ask.contains("Shall I book it?"), "{ask}");
    }
    // ...then all say yes at once.
    let callers: Vec<_> = (0..names.len())
        .map(|n| {
            let app = Arc::clone(&instances[n % 2]);
            tokio::spawn(async move {
                let call = sid(100 + n as u32);
                let answer = spoken(&app.say(&call, "yes").await);
                end_call(&app, &call).await;
                (call, answer)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for c in callers {
        let (call, answer) = c.await.unwrap();
        if answer.starts_with("You're all set") {
            winners.push(call);
        } else {
            assert!(answer.contains("was just taken"), "{answer}");
        }
    }
    assert_eq!(winners.len(), 1, "exactly one booking");
    for app in &instances {
        let (_, list) = app.get_json("/appointments").await;
        assert_eq!(list["appointments"].as_array().unwrap().len(), 1, "{list}");
    }

    // Both instances restart (new processes, new DATA_DIRs): nothing
    // acknowledged is lost — the booking, and every ended call.
    for app in instances {
        let app = Arc::into_inner(app).expect("no caller task holds the app");
        drop(app.stop().await);
    }
    let again = [app_on(&url).await, app_on(&url).await];
    for app in &again {
        let (_, list) = app
            .get_json("/appointments?from=2026-11-23&to=2026-11-23")
            .await;
        let booked = list["appointments"].as_array().unwrap();
        assert_eq!(booked.len(), 1, "{list}");
        assert_eq!(booked[0]["start"], "2026-11-23T15:00:00-05:00");
        let (status, call) = app.get_json(&format!("/session/{}", winners[0])).await;
        assert_eq!(status, 200, "{call}");
        let heard: Vec<&str> = call["conversation_history"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["content"].as_str())
            .collect();
        assert!(
            heard.iter().any(|t| t.starts_with("You're all set")),
            "{heard:?}"
        );
        let (_, log) = app.get_json("/sessions?include_ended=true").await;
        assert_eq!(log["sessions"].as_object().unwrap().len(), 10, "{log}");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_an_apology_and_a_503_and_service_resumes_when_it_is_back() {
    let Some(url) = database().await else { return };
    let proxy = Proxy::start(&url).await;
    let app = app_on(&crate::postgres::via(&url, &proxy)).await;
    let call = sid(7);
    start_call(&app, &call, "+14155550100").await;

    proxy.cut();
    let answer = app
        .say(&call, "Can I book tomorrow at 2 pm? My name is Ada")
        .await;
    let said = spoken(&answer);
    assert!(said.contains("can't reach the calendar"), "{said}");
    assert!(answer.contains("<Gather"), "the call goes on: {answer}");
    for path in [
        "/appointments".to_owned(),
        "/messages".to_owned(),
        "/sessions?include_ended=true".to_owned(),
        format!("/session/{}", sid(99)),
    ] {
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("unavailable"),
            "{path}: {body}"
        );
        assert!(body["hint"].is_string(), "{path}: {body}");
    }
    let health = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server stays up");
    // A new caller is still answered, and told the truth about bookings.
    let newcomer = sid(8);
    let hello = app
        .twiml(
            "/voice/inbound",
            &[("CallSid", newcomer.as_str()), ("From", "+14155550144")],
        )
        .await;
    assert!(hello.contains("<Gather"), "{hello}");
    let said = spoken(&app.say(&newcomer, "is tomorrow at 11 am free").await);
    assert!(said.contains("can't reach the calendar"), "{said}");

    // The database is back: pooled connections that died are replaced.
    proxy.restore().await;
    let said = spoken(&app.say(&call, "Can I book tomorrow at 2 pm?").await);
    assert!(said.contains("Shall I book it?"), "{said}");
    let said = spoken(&app.say(&call, "yes").await);
    assert!(said.starts_with("You're all set"), "{said}");
    let (status, body) = app.get_json("/appointments").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appointments"].as_array().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn a_restarted_database_server_is_reconnected_to_and_has_lost_nothing() {
    let Some(cluster) = Cluster::dedicated() else {
        return;
    };
    let url = cluster.database().await;
    let app = app_on(&url).await;
    ada_books_monday_at_two(&app, &sid(40)).await;
    grace_leaves_a_message(&app, &sid(41)).await;

    cluster.restart().await;

    // The pooled connections died with the old server; new ones are made,
    // and the very next caller is served.
    let call = sid(42);
    start_call(&app, &call, "+14155550133").await;
    let a = spoken(
        &app.say(&call, "Can I book tomorrow at 3 pm? My name is Alan Turing")
            .await,
    );
    assert!(a.contains("Shall I book it?"), "{a}");
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.starts_with("You're all set"), "{a}");
    end_call(&app, &call).await;
    let (_, list) = app.get_json("/appointments").await;
    let names: Vec<&str> = list["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["Ada Lovelace", "Alan Turing"], "{list}");
    let (_, messages) = app.get_json("/messages").await;
    assert_eq!(
        messages["messages"].as_array().unwrap().len(),
        1,
        "{messages}"
    );
    for ended in [sid(40), sid(41), call] {
        let (status, body) = app.get_json(&format!("/session/{ended}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "completed");
    }
}

#[tokio::test]
async fn the_schema_is_created_once_however_many_instances_start_and_however_often() {
    let Some(url) = database().await else { return };
    // Four instances starting at once, then one more later.
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Postgres::connect(&url).await })
        })
        .collect();
    for s in starts {
        s.await.unwrap().unwrap();
    }
    let db = Postgres::connect(&url).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), 1);
    db.migrate().await.unwrap();
    let client = db.client().await.unwrap();
    let versions: i64 = client
        .query_one("SELECT count(*) FROM frontdesk.schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 1);
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'frontdesk' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "appointments",
            "call_log",
            "messages",
            "reminders",
            "schema_version"
        ]
    );
    // And a whole server starts on it again without complaint.
    let app = app_on(&url).await;
    let (status, _) = app.get_json("/appointments").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_reminder_is_claimed_by_one_instance_only() {
    let Some(url) = database().await else { return };
    let a = ReminderBook::postgres(Postgres::connect(&url).await.unwrap());
    let b = ReminderBook::postgres(Postgres::connect(&url).await.unwrap());
    let phone = PhoneNumber::parse("+14155550100").unwrap();
    let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap();
    for n in 0..60u32 {
        a.schedule(&format!("apt-{n}"), &phone, at(15, 0), at(14, n % 60))
            .await
            .unwrap();
    }
    a.schedule("apt-later", &phone, at(18, 0), at(17, 0))
        .await
        .unwrap();
    a.schedule("apt-cancelled", &phone, at(16, 0), at(13, 0))
        .await
        .unwrap();
    b.drop_for("apt-cancelled").await.unwrap();

    // Both instances check at the same moment, repeatedly.
    let now = at(15, 0);
    let claims: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|book| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = book.claim_due(now).await.unwrap();
                    if got.is_empty() {
                        break mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.appointment_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claims {
        all.extend(c.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 60, "each due reminder claimed once");
    assert_eq!(distinct.len(), 60);
    assert!(!distinct.contains(&"apt-later".to_owned()));
    assert!(!distinct.contains(&"apt-cancelled".to_owned()));

    // A move reschedules, unsent; the later one comes due in its time.
    b.schedule("apt-0", &phone, at(18, 30), at(17, 30))
        .await
        .unwrap();
    let due = a.claim_due(at(17, 30)).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.appointment_id.as_str()).collect();
    assert_eq!(ids, ["apt-later", "apt-0"], "earliest due first");
    assert_eq!(due[1].start, at(18, 30));
}

#[tokio::test]
async fn two_instances_sharing_the_database_text_each_reminder_once() {
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{method, path},
    };
    let Some(url) = database().await else { return };
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"sid": "SM1", "status": "queued"})),
        )
        .mount(&twilio)
        .await;
    let uri = twilio.uri();
    let reminding = || {
        TestApp::builder()
            .envs(&[
                ("BUSINESS_TIMEZONE", "America/New_York"),
                ("DATABASE_URL", &url),
                ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
                ("TWILIO_AUTH_TOKEN", "secret"),
                ("TWILIO_PHONE_NUMBER", "+14155550199"),
                ("TWILIO_API_BASE_URL", uri.as_str()),
                ("TWILIO_VALIDATE_SIGNATURES", "false"),
                ("SMS_CONFIRMATIONS", "false"),
                ("REMINDER_LEAD_MINUTES", "2880"),
            ])
            .clock(sunday_morning())
            .spawn()
    };
    let instances = [reminding().await, reminding().await];
    // Six appointments on Monday, less than two days (the lead) away: each
    // reminder is due at once, and both instances look for due ones every
    // second.
    for n in 0..6u32 {
        let app = &instances[n as usize % 2];
        let call = sid(200 + n);
        start_call(app, &call, &format!("+1415555{:04}", 300 + n)).await;
        let hour = ["9 am", "10 am", "11 am", "1 pm", "2 pm", "3 pm"][n as usize];
        let ask = spoken(
            &app.say(
                &call,
                &format!("Can I book tomorrow at {hour}? My name is Pat Smith"),
            )
            .await,
        );
        assert!(ask.contains("Shall I book it?"), "{ask}");
        let heard = spoken(&app.say(&call, "yes").await);
        assert!(heard.contains("all set"), "{heard}");
    }
    let texts = || async {
        twilio
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                form_urlencoded::parse(&r.body)
                    .into_owned()
                    .find(|(k, _)| k == "To")
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            })
            .collect::<Vec<String>>()
    };
    for _ in 0..50 {
        if texts().await.len() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Several more rounds of both instances checking.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mut to = texts().await;
    to.sort();
    let expected: Vec<String> = (0..6).map(|n| format!("+1415555{:04}", 300 + n)).collect();
    assert_eq!(to, expected, "each reminder texted once, by one instance");
}

#[tokio::test]
async fn sslmode_require_never_falls_back_to_an_unencrypted_connection() {
    let Some(url) = database().await else { return };
    // The test cluster speaks no TLS at all.
    let e = Postgres::connect(&format!("{url}?sslmode=require"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("TLS") || e.contains("sslmode"), "{e}");
    // Without it, the same database is fine.
    Postgres::connect(&format!("{url}?sslmode=prefer"))
        .await
        .unwrap();
}

#[tokio::test]
async fn frontdesk_check_online_reads_the_schema_version_and_creates_nothing() {
    use frontdesk::check::{self, Outcome};
    let Some(url) = database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = |probes: &[check::Probe]| {
        probes
            .iter()
            .find(|p| p.name == "database")
            .expect("a database probe")
            .outcome
            .clone()
    };
    let config = crate::helpers::config(dir.path(), &[("DATABASE_URL", &url)]);
    match database(&check::online(&config).await) {
        Outcome::Ok(what) => assert!(what.contains("created at the first start"), "{what}"),
        other => panic!("{other:?}"),
    }
    // The check created nothing: the schema is still missing.
    let db = Postgres::pool(&url).unwrap();
    assert!(db.schema_version().await.is_err());
    Postgres::connect(&url).await.unwrap();
    match database(&check::online(&config).await) {
        Outcome::Ok(what) => assert!(what.contains("schema frontdesk at version 1"), "{what}"),
        other => panic!("{other:?}"),
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = crate::postgres::url(free, "frontdesk");
    let config = crate::helpers::config(dir.path(), &[("DATABASE_URL", &nowhere)]);
    match database(&check::online(&config).await) {
        Outcome::Failed { problem, fix } => {
            assert!(problem.contains("unavailable"), "{problem}");
            assert!(fix.contains("DATABASE_URL"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    let config = crate::helpers::config(dir.path(), &[]);
    assert!(matches!(
        database(&check::online(&config).await),
        Outcome::Skipped(_)
    ));
}

#[tokio::test]
async fn a_database_that_never_answers_is_given_up_on_within_the_operation_timeout() {
    // A listener that accepts and then says nothing, like a hung server.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let db = Postgres::pool(&crate::postgres::url(port, "frontdesk")).unwrap();
    // It gives up by itself (QUERY_TIMEOUT) rather than hang; the outer
    // limit only keeps a broken build from hanging the test run.
    let e = tokio::time::timeout(std::time::Duration::from_secs(60), db.schema_version())
        .await
        .expect("the operation gives up by itself")
        .unwrap_err();
    assert!(matches!(e, PgError::Timeout), "{e:?}");
    assert!(e.is_unavailable());
    held.abort();
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_at_start_stops_startup_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::helpers::config(
        dir.path(),
        &[(
            "DATABASE_URL",
            &format!("postgres://frontdesk:s3cret@127.0.0.1:{port}/frontdesk"),
        )],
    );
    let err = match frontdesk::startup::build_state(config, sunday_morning()).await {
        Ok(_) => panic!("started without its database"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(err.contains("unavailable"), "{err}");
    assert!(
        !err.contains("s3cret"),
        "the password stays out of messages: {err}"
    );
}
