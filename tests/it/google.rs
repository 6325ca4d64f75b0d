//! The Google Calendar backend against a local fake of Google's endpoints.

use serde_json::json;

use crate::{
    fake_google::FakeGoogle,
    helpers::{TestApp, config, sid, spoken},
};

async fn app_with_google(google: &FakeGoogle, dir: &std::path::Path) -> TestApp {
    let creds = google.credentials(dir);
    let url = google.calendar_url();
    TestApp::builder()
        .data_dir(dir)
        .env("USE_MOCK_CALENDAR", "false")
        .env("GOOGLE_APPLICATION_CREDENTIALS", creds.to_str().unwrap())
        .env("GOOGLE_CALENDAR_ID", "clinic@example.com")
        .env("GOOGLE_CALENDAR_BASE_URL", &url)
        .env("BUSINESS_TIMEZONE", "America/New_York")
        .clock(crate::helpers::sunday_morning())
        .spawn()
        .await
}

#[tokio::test]
async fn booking_moving_and_cancelling_go_to_google_calendar() {
    let google = FakeGoogle::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_google(&google, dir.path()).await;
    let call = sid(1);
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call.as_str()), ("From", "+14155550100")],
    )
    .await;

    let a = spoken(
        &app.say(
            &call,
            "Can I book tomorrow at 2 pm? My name is Ada Lovelace",
        )
        .await,
    );
    assert!(
        a.contains("Monday, November 23rd at 2 PM for Ada Lovelace. Shall I book it?"),
        "{a}"
    );
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.starts_with("You're all set"), "{a}");

    {
        let s = google.state.lock().unwrap();
        assert!(
            s.tokens_issued >= 1,
            "the service account fetched a token from token_uri"
        );
        assert!(
            s.requests
                .iter()
                .any(|(m, p, _)| m == "POST" && p == "/calendar/v3/freeBusy")
        );
        let (_, path, body) = s
            .requests
            .iter()
            .find(|(m, p, _)| m == "POST" && p.ends_with("/events"))
            .expect("events.insert");
        assert_eq!(path, "/calendar/v3/calendars/clinic@example.com/events");
        assert_eq!(body["start"]["dateTime"], "2026-11-23T19:00:00Z");
        assert_eq!(body["start"]["timeZone"], "America/New_York");
        assert_eq!(body["end"]["dateTime"], "2026-11-23T19:30:00Z");
        assert_eq!(
            body["extendedProperties"]["private"]["frontdesk_name"],
            "Ada Lovelace"
        );
        assert_eq!(
            body["extendedProperties"]["private"]["frontdesk_phone"],
            "+14155550100"
        );
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .contains("Ada Lovelace")
        );
        assert!(
            body.get("attendees").is_none(),
            "a service account cannot invite attendees"
        );
    }

    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"][0]["id"], "evt0001");
    assert_eq!(
        list["appointments"][0]["start"],
        "2026-11-23T14:00:00-05:00"
    );
    assert_eq!(list["appointments"][0]["name"], "Ada Lovelace");

    // Taken: the calendar already has this time.
    let other = sid(2);
    app.twiml(
        "/voice/inbound",
        &[("CallSid", other.as_str()), ("From", "+14155550111")],
    )
    .await;
    let a = spoken(&app.say(&other, "book tomorrow at 2 pm please").await);
    assert!(a.contains("already taken"), "{a}");

    let a = spoken(
        &app.say(
            &call,
            "actually, can I move my appointment to Wednesday at 11?",
        )
        .await,
    );
    assert!(
        a.contains("to Wednesday, November 25th at 11 AM. Shall I do that?"),
        "{a}"
    );
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.starts_with("Done."), "{a}");
    {
        let s = google.state.lock().unwrap();
        let (_, path, body) = s
            .requests
            .iter()
            .find(|(m, _, _)| m == "PATCH")
            .expect("events.patch");
        assert_eq!(
            path,
            "/calendar/v3/calendars/clinic@example.com/events/evt0001"
        );
        assert_eq!(body["start"]["dateTime"], "2026-11-25T16:00:00Z");
    }

    let a = spoken(&app.say(&call, "sorry, I need to cancel it after all").await);
    assert!(
        a.contains("cancel your appointment on Wednesday, November 25th at 11 AM?"),
        "{a}"
    );
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.contains("is cancelled"), "{a}");
    assert!(
        google
            .state
            .lock()
            .unwrap()
            .requests
            .iter()
            .any(|(m, p, _)| m == "DELETE" && p.ends_with("/evt0001"))
    );
    let (_, list) = app.get_json("/appointments").await;
    assert_eq!(list["appointments"], json!([]));
}

#[tokio::test]
async fn google_errors_become_words_the_caller_hears_not_crashes() {
    let google = FakeGoogle::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_google(&google, dir.path()).await;
    let call = sid(3);
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call.as_str()), ("From", "+14155550100")],
    )
    .await;

    google.state.lock().unwrap().fail_with = Some(500);
    let answer = app
        .say(&call, "Can I book tomorrow at 2 pm? My name is Ada")
        .await;
    assert!(
        spoken(&answer).contains("can't reach the calendar"),
        "{answer}"
    );
    assert!(answer.contains("<Gather"), "the call goes on");

    // An inaccessible calendar is reported, never treated as free.
    {
        let mut s = google.state.lock().unwrap();
        s.fail_with = None;
        s.freebusy_error = Some("notFound".into());
    }
    let answer = spoken(&app.say(&call, "what about Tuesday at 10").await);
    assert!(answer.contains("can't reach the calendar"), "{answer}");

    let (status, body) = app.get_json("/appointments").await;
    assert_eq!(status, 200, "{body}");
    google.state.lock().unwrap().fail_with = Some(503);
    let (status, body) = app.get_json("/appointments").await;
    assert_eq!(status, 503, "a calendar that fails is unavailable: {body}");
    assert!(body["error"].as_str().unwrap().contains("Google Calendar"));
}

#[tokio::test]
async fn a_bad_credentials_file_stops_startup_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("creds.json");
    std::fs::write(&bad, "{\"hello\": 1}").unwrap();
    let config = config(
        dir.path(),
        &[
            ("USE_MOCK_CALENDAR", "false"),
            ("GOOGLE_APPLICATION_CREDENTIALS", bad.to_str().unwrap()),
        ],
    );
    let err = frontdesk::startup::build_state(config, frontdesk::clock::system_clock())
        .await
        .err()
        .expect("must fail");
    assert!(
        err.to_string()
            .contains("service-account key or an OAuth client file"),
        "{err}"
    );
}
