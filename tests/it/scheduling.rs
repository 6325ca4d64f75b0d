//! Booking by phone through the webhooks, the built-in calendar's
//! durability, and GET /appointments.

use std::{path::Path, sync::Arc};

use crate::helpers::{TestApp, config, sid, spawn_with_state, spoken};

async fn app_in(dir: &Path) -> TestApp {
    let config = config(dir, &[("BUSINESS_TIMEZONE", "America/New_York")]);
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    spawn_with_state(state, dir.to_path_buf()).await
}

async fn start_call(app: &TestApp, call: &str, from: &str) {
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call), ("From", from), ("To", "+14155550199")],
    )
    .await;
}

#[tokio::test]
async fn a_caller_books_by_phone_and_the_booking_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path()).await;
    let call = sid(1);
    start_call(&app, &call, "+14155550100").await;
    let a = spoken(
        &app.say(
            &call,
            "Hi, I'd like to book an appointment tomorrow at 2 pm",
        )
        .await,
    );
    assert!(
        a.contains("Monday, November 23rd at 2 PM is free. May I have your name"),
        "{a}"
    );
    let a = spoken(&app.say(&call, "Ada Lovelace").await);
    assert!(a.contains("for Ada Lovelace. Shall I book it?"), "{a}");
    let a = spoken(&app.say(&call, "yes").await);
    assert!(a.starts_with("You're all set, Ada Lovelace"), "{a}");

    let (status, list) = app.get_json("/appointments").await;
    assert_eq!(status, 200);
    assert_eq!(list["timezone"], "America/New_York");
    assert_eq!(
        list["appointments"][0]["start"],
        "2026-11-23T14:00:00-05:00"
    );
    assert_eq!(list["appointments"][0]["end"], "2026-11-23T14:30:00-05:00");
    assert_eq!(list["appointments"][0]["name"], "Ada Lovelace");
    assert_eq!(list["appointments"][0]["phone"], "+14155550100");
    drop(app.stop().await);

    let again = app_in(dir.path()).await;
    let (_, list) = again
        .get_json("/appointments?from=2026-11-23&to=2026-11-23")
        .await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1, "{list}");
    let (_, none) = again
        .get_json("/appointments?from=2026-11-24&to=2026-11-30")
        .await;
    assert!(none["appointments"].as_array().unwrap().is_empty());

    // The caller rings back and moves it.
    let call = sid(2);
    start_call(&again, &call, "+14155550100").await;
    let a = spoken(
        &again
            .say(&call, "Can I move my appointment to Wednesday at 11?")
            .await,
    );
    assert!(
        a.contains("to Wednesday, November 25th at 11 AM. Shall I do that?"),
        "{a}"
    );
    let a = spoken(&again.say(&call, "yes please").await);
    assert!(a.starts_with("Done."), "{a}");
    let (_, list) = again.get_json("/appointments").await;
    assert_eq!(
        list["appointments"][0]["start"],
        "2026-11-25T11:00:00-05:00"
    );
}

/// `callers` callers, each from their own number, ask for tomorrow at 3 PM
/// and confirm, all at once; a call's webhooks take turns over `apps` (one
/// server, or several instances). Returns how many heard their booking
/// confirmed: every other one must have heard that the slot was just taken.
pub(crate) async fn race_for_three_pm(apps: Arc<Vec<TestApp>>, callers: u32) -> usize {
    let mut calls = Vec::new();
    for n in 0..callers {
        let apps = Arc::clone(&apps);
        calls.push(tokio::spawn(async move {
            let on = |k: u32| &apps[((n + k) as usize) % apps.len()];
            let call = sid(100 + n);
            start_call(on(0), &call, &format!("+1415555{n:04}")).await;
            let ask = spoken(
                &on(1)
                    .say(
                        &call,
                        &format!(
                            "book tomorrow at 3 pm, my name is Pat {}",
                            char::from(b'A' + n as u8)
                        ),
                    )
                    .await,
            );
            assert!(ask.contains("Shall I book it?"), "{ask}");
            spoken(&on(2).say(&call, "yes").await)
        }));
    }
    let mut booked = 0;
    for c in calls {
        let answer = c.await.unwrap();
        if answer.starts_with("You're all set") {
            booked += 1;
        } else {
            assert!(answer.contains("was just taken"), "{answer}");
        }
    }
    booked
}

#[tokio::test]
async fn twenty_callers_racing_for_one_slot_get_exactly_one_booking() {
    let dir = tempfile::tempdir().unwrap();
    let apps = Arc::new(vec![app_in(dir.path()).await]);
    assert_eq!(race_for_three_pm(Arc::clone(&apps), 20).await, 1);
    let (_, list) = apps[0].get_json("/appointments").await;
    assert_eq!(list["appointments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn appointments_range_errors_are_400_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path()).await;
    for q in [
        "from=tomorrow",
        "to=2026-13-01",
        "from=2026-11-30&to=2026-11-01",
    ] {
        let (status, body) = app.get_json(&format!("/appointments?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert!(body["error"].is_string(), "{q}");
    }
}
