//! The dashboard in a real headless browser: it loads, a live call's words
//! appear as they are said (no reload), what callers say stays text, a
//! booking shows up, and a logged-out visitor sees nothing.

use std::path::Path;

use crate::{
    browser::Browser,
    helpers::{TestApp, config, sid, spawn_with_state},
};

async fn app_in(dir: &Path) -> TestApp {
    let config = config(dir, &[("BUSINESS_TIMEZONE", "America/New_York")]);
    let state = frontdesk::startup::build_state(config, crate::helpers::sunday_morning())
        .await
        .unwrap();
    spawn_with_state(state, dir.to_path_buf()).await
}

/// A selector for a live call's card.
fn card(call: &str) -> String {
    format!("document.querySelector('.call[data-call-sid=\"{call}\"]')")
}

/// Whether the call's live transcript contains `words`.
fn transcript_has(call: &str, words: &str) -> String {
    format!(
        "{} && {}.querySelector('.transcript').textContent.includes({})",
        card(call),
        card(call),
        serde_json::to_string(words).unwrap()
    )
}

#[tokio::test]
async fn a_live_call_appears_word_by_word_and_its_booking_shows_up() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path()).await;
    log_in(&mut browser, &app).await;
    browser
        .wait_for("document.getElementById('feed-state').textContent === 'live'")
        .await;
    // Anything that reloads the page would lose this.
    browser.eval("window.__sameDocument = true").await;
    // The panels fill in as their first reads answer.
    for empty in [
        "No calls right now.",
        "Nothing booked today.",
        "No messages taken yet.",
    ] {
        browser
            .wait_for(&format!("document.body.innerText.includes({empty:?})"))
            .await;
    }

    let call = sid(14);
    app.twiml(
        "/voice/inbound",
        &[
            ("CallSid", &call),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    browser.wait_for(&card(&call)).await;
    browser
        .wait_for(&transcript_has(&call, "thanks for calling Acme Dental"))
        .await;

    app.say(
        &call,
        "Hi, I'd like to book an appointment tomorrow at 2 pm",
    )
    .await;
    browser
        .wait_for(&transcript_has(
            &call,
            "book an appointment tomorrow at 2 pm",
        ))
        .await;
    browser
        .wait_for(&transcript_has(&call, "May I have your name"))
        .await;

    // What a caller says is shown as text, never run as markup.
    let hostile = "<img src=x onerror=\"window.__pwned=1\"><b>Ada</b> Lovelace";
    app.say(&call, hostile).await;
    browser.wait_for(&transcript_has(&call, hostile)).await;
    assert_eq!(
        browser
            .eval(&format!(
                "{}.querySelectorAll('img, b').length",
                card(&call)
            ))
            .await,
        0
    );
    assert_eq!(browser.eval("window.__pwned === undefined").await, true);

    app.say(&call, "Ada Lovelace").await;
    app.say(&call, "yes").await;
    browser
        .wait_for(&transcript_has(&call, "You're all set"))
        .await;

    // Booked for tomorrow: not today, but this week.
    browser
        .eval("document.querySelector('.tabs button[data-range=\"week\"]').click()")
        .await;
    browser
        .wait_for(
            "document.getElementById('appointment-list').textContent.includes('Ada Lovelace')",
        )
        .await;
    let list = browser
        .eval("document.getElementById('appointment-list').innerText")
        .await;
    assert!(list.as_str().unwrap().contains("14:00–14:30"), "{list}");

    if let Some(path) = std::env::var_os("DASHBOARD_SCREENSHOT") {
        browser.screenshot(Path::new(&path)).await;
    }

    // The call ends: its card leaves and it is in the call log.
    app.webhook(
        "/voice/status",
        &[
            ("CallSid", &call),
            ("CallStatus", "completed"),
            ("CallDuration", "61"),
        ],
    )
    .await;
    browser.wait_for(&format!("!{}", card(&call))).await;
    browser
        .wait_for(&format!(
            "document.querySelector('#log-list li[data-call-sid=\"{call}\"]')"
        ))
        .await;
    assert_eq!(browser.eval("window.__sameDocument").await, true);
}

/// Logs the browser in through the form.
pub(crate) async fn log_in(browser: &mut Browser, app: &TestApp) {
    browser.open(&format!("{}/dashboard", app.base)).await;
    browser
        .eval(&format!(
            "document.querySelector('input[name=token]').value = {}; \
             document.querySelector('#login-form').submit()",
            serde_json::to_string(&app.api_token).unwrap()
        ))
        .await;
    browser
        .wait_for("document.getElementById('feed-state')")
        .await;
}

#[tokio::test]
async fn logged_out_visitors_see_only_the_login_form() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path()).await;
    let call = sid(15);
    app.twiml(
        "/voice/inbound",
        &[
            ("CallSid", &call),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    app.say(
        &call,
        "Hi, I'd like to book an appointment tomorrow at 2 pm",
    )
    .await;

    // Without the token: the login form and nothing else, in any form.
    for path in ["/dashboard", "/dashboard/events", "/metrics", "/sessions"] {
        let resp = app
            .bare_client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("4155550100"), "{path}: {body}");
        assert!(!body.contains("book an appointment"), "{path}: {body}");
    }
    // A cookie that is not the token opens nothing either.
    let resp = app
        .bare_client
        .get(format!("{}/dashboard/events", app.base))
        .header("Cookie", "frontdesk_token=bm90LXRoZS10b2tlbg")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    browser.open(&format!("{}/dashboard", app.base)).await;
    let text = browser.text().await;
    assert!(text.contains("API token"), "{text}");
    assert!(!text.contains("Live calls"), "{text}");
    assert!(!text.contains("4155550100"), "{text}");

    // A wrong token is refused and sets nothing.
    browser
        .eval(
            "document.querySelector('input[name=token]').value = 'not-the-token'; \
             document.querySelector('#login-form').submit()",
        )
        .await;
    browser
        .wait_for("document.body && document.body.innerText.includes('That is not the API token.')")
        .await;

    // The right one opens the dashboard; the cookie is out of the page's reach.
    browser
        .eval(&format!(
            "document.querySelector('input[name=token]').value = {}; \
             document.querySelector('#login-form').submit()",
            serde_json::to_string(&app.api_token).unwrap()
        ))
        .await;
    browser.wait_for(&card(&call)).await;
    assert_eq!(browser.eval("document.cookie").await, "");

    // Logging out closes it again.
    browser
        .eval("document.querySelector('header form').submit()")
        .await;
    browser
        .wait_for("document.querySelector('#login-form')")
        .await;
    let text = browser.text().await;
    assert!(!text.contains("4155550100"), "{text}");
}
