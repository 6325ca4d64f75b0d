//! `frontdesk check --online` against local fakes of Twilio, an
//! OpenAI-compatible server and Google Calendar.

use frontdesk::check::{self, Outcome, Probe};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use crate::{fake_google::FakeGoogle, helpers::config};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn probe<'a>(probes: &'a [Probe], name: &str) -> &'a Outcome {
    &probes.iter().find(|p| p.name == name).unwrap().outcome
}

/// Twilio's account resource for the right credentials; Twilio's 20003
/// refusal for any other.
async fn fake_twilio(status: u16, body: serde_json::Value) -> MockServer {
    let twilio = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT}.json")))
        .and(header(
            "authorization",
            format!("Basic {}", base64_encode(&format!("{ACCOUNT}:{TOKEN}"))).as_str(),
        ))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401
        })))
        .mount(&twilio)
        .await;
    twilio
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn fake_llm(status: u16, body: serde_json::Value) -> MockServer {
    let llm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-test-key"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&llm)
        .await;
    llm
}

#[tokio::test]
async fn working_credentials_are_reported_ok_and_public_url_is_left_to_the_user() {
    let twilio = fake_twilio(
        200,
        json!({"sid": ACCOUNT, "friendly_name": "Acme", "status": "active", "type": "Trial"}),
    )
    .await;
    let llm = fake_llm(
        200,
        json!({"object": "list", "data": [{"id": "gpt-4o-mini"}]}),
    )
    .await;
    let google = FakeGoogle::start().await;
    let dir = tempfile::tempdir().unwrap();
    let creds = google.credentials(dir.path());
    let calendar_url = google.calendar_url();
    let llm_url = format!("{}/v1", llm.uri());
    let config = config(
        dir.path(),
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("TWILIO_API_BASE_URL", &twilio.uri()),
            ("OPENAI_API_KEY", "sk-test-key"),
            ("OPENAI_BASE_URL", &llm_url),
            ("USE_MOCK_CALENDAR", "false"),
            ("GOOGLE_APPLICATION_CREDENTIALS", creds.to_str().unwrap()),
            ("GOOGLE_CALENDAR_ID", "clinic@example.com"),
            ("GOOGLE_CALENDAR_BASE_URL", &calendar_url),
        ],
    );
    let probes = check::online(&config).await;
    match probe(&probes, "Twilio") {
        Outcome::Ok(what) => {
            assert!(
                what.contains("Acme") && what.contains("verified numbers"),
                "{what}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(probe(&probes, "LLM"), Outcome::Ok(_)),
        "{probes:?}"
    );
    match probe(&probes, "calendar") {
        Outcome::Ok(what) => assert!(what.contains("clinic@example.com"), "{what}"),
        other => panic!("{other:?}"),
    }
    match probe(&probes, "PUBLIC_URL") {
        Outcome::Skipped(why) => assert!(
            why.contains("https://frontdesk.example.com/health"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    let (text, ok) = check::render(&probes);
    assert!(ok, "{text}");
}

#[tokio::test]
async fn refused_credentials_fail_with_what_to_do() {
    let twilio = fake_twilio(200, json!({"status": "active"})).await;
    // The fake Twilio only knows the right token; this one is wrong.
    let llm = fake_llm(200, json!({"data": []})).await;
    let dir = tempfile::tempdir().unwrap();
    let llm_url = format!("{}/v1", llm.uri());
    let config = config(
        dir.path(),
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", "the-wrong-auth-token-0000000000"),
            ("TWILIO_API_BASE_URL", &twilio.uri()),
            ("OPENAI_API_KEY", "sk-wrong-key"),
            ("OPENAI_BASE_URL", &llm_url),
            ("USE_MOCK_CALENDAR", "false"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json"),
        ],
    );
    let probes = check::online(&config).await;
    match probe(&probes, "Twilio") {
        Outcome::Failed { problem, fix } => {
            assert!(problem.contains("20003"), "{problem}");
            assert!(
                fix.contains("refused the credentials") && fix.contains("TWILIO_AUTH_TOKEN"),
                "{fix}"
            )
        }
        other => panic!("{other:?}"),
    }
    match probe(&probes, "LLM") {
        // wiremock answers 404 to a request that matches no mock.
        Outcome::Failed { problem, fix } => {
            assert!(
                problem.contains("404") && fix.contains("OPENAI_BASE_URL"),
                "{problem} {fix}"
            )
        }
        other => panic!("{other:?}"),
    }
    match probe(&probes, "calendar") {
        Outcome::Failed { fix, .. } => {
            assert!(fix.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{fix}")
        }
        other => panic!("{other:?}"),
    }
    let (text, ok) = check::render(&probes);
    assert!(!ok);
    assert!(
        text.contains("FAILED  Twilio") && text.contains("fix:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_llm_key_and_an_unknown_model_are_told_apart() {
    let llm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "llama3"}]})))
        .mount(&llm)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "bad key"}})),
        )
        .mount(&llm)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let llm_url = format!("{}/v1", llm.uri());
    for (key, expected) in [
        ("sk-test-key", "OPENAI_MODEL"),
        ("sk-other", "OPENAI_API_KEY"),
    ] {
        let config = config(
            dir.path(),
            &[("OPENAI_API_KEY", key), ("OPENAI_BASE_URL", &llm_url)],
        );
        let probes = check::online(&config).await;
        match probe(&probes, "LLM") {
            Outcome::Failed { fix, .. } => assert!(fix.contains(expected), "{key}: {fix}"),
            other => panic!("{key}: {other:?}"),
        }
    }
    // Nothing configured: skipped, not failed.
    let probes = check::online(&config(dir.path(), &[])).await;
    assert!(matches!(probe(&probes, "Twilio"), Outcome::Skipped(_)));
    assert!(matches!(probe(&probes, "LLM"), Outcome::Skipped(_)));
    assert!(matches!(probe(&probes, "calendar"), Outcome::Ok(_)));
    assert!(check::render(&probes).1);
}
