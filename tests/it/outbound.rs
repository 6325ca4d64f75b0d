//! Outbound calls against a local fake of Twilio's REST API.

use std::sync::Arc;

use base64::Engine;
use frontdesk::twilio::client::TwilioClient;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{PUBLIC_URL, TestApp, sid, spawn_app, spoken};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-test-token";
const BUSINESS_NUMBER: &str = "+14155550199";
const CALLS: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json";

async fn app_with_fake_twilio(extra: &[(&str, &str)]) -> (TestApp, MockServer) {
    let twilio = MockServer::start().await;
    let uri = twilio.uri();
    let mut vars = vec![
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_PHONE_NUMBER", BUSINESS_NUMBER),
        ("TWILIO_API_BASE_URL", uri.as_str()),
    ];
    vars.extend_from_slice(extra);
    (spawn_app(&vars).await, twilio)
}

fn created(call_sid: &str, to: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "sid": call_sid, "status": "queued", "to": to, "from": BUSINESS_NUMBER,
        "account_sid": ACCOUNT, "direction": "outbound-api", "duration": null, "price": null
    }))
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code, "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status
    }))
}

async fn make_call(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/make-call", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn form_of(req: &wiremock::Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&req.body).into_owned().collect()
}

#[tokio::test]
async fn a_whole_outbound_call_from_make_call_to_completed() {
    let (app, twilio) = app_with_fake_twilio(&[]).await;
    let call = sid(500);
    Mock::given(method("POST"))
        .and(path(CALLS))
        .respond_with(created(&call, "+14155550100"))
        .expect(1)
        .mount(&twilio)
        .await;

    let (status, placed) = make_call(
        &app,
        json!({"to_number": "+14155550100", "initial_message": "Hi, this is Acme Dental calling about your cleaning."}),
    )
    .await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(
        placed,
        json!({"call_sid": call, "status": "queued", "to": "+14155550100", "from": BUSINESS_NUMBER})
    );

    // Exactly what Twilio received.
    let requests = twilio.received_requests().await.unwrap();
    let req = &requests[0];
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    assert_eq!(
        req.headers["authorization"],
        format!("Basic {basic}").as_str()
    );
    assert!(
        req.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let expected: Vec<(String, String)> = [
        ("To", "+14155550100"),
        ("From", BUSINESS_NUMBER),
        ("Url", &format!("{PUBLIC_URL}/voice/outbound")),
        ("Method", "POST"),
        ("StatusCallback", &format!("{PUBLIC_URL}/voice/status")),
        ("StatusCallbackMethod", "POST"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "completed"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(form_of(req), expected);

    // The session exists at once.
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["status"], "queued");
    assert_eq!(s["direction"], "outbound");
    assert_eq!(s["to"], "+14155550100");

    // Status callbacks, out of order: ringing arrives after in-progress.
    for (status, seq) in [("initiated", "0"), ("in-progress", "2"), ("ringing", "1")] {
        let resp = app
            .webhook(
                "/voice/status",
                &[
                    ("CallSid", call.as_str()),
                    ("CallStatus", status),
                    ("SequenceNumber", seq),
                ],
            )
            .await;
        assert_eq!(resp.status(), 204);
    }
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["status"], "in-progress");

    let greeting = app
        .twiml(
            "/voice/outbound",
            &[
                ("CallSid", call.as_str()),
                ("AnsweredBy", "human"),
                ("Direction", "outbound-api"),
            ],
        )
        .await;
    assert_eq!(
        spoken(&greeting),
        "Hi, this is Acme Dental calling about your cleaning."
    );
    assert!(greeting.contains("<Gather"));
    let turn = app.say(&call, "what time is it").await;
    assert!(spoken(&turn).starts_with("It's"));
    let bye = app.say(&call, "ok bye").await;
    assert!(bye.contains("<Hangup/>"));

    let resp = app
        .webhook(
            "/voice/status",
            &[
                ("CallSid", call.as_str()),
                ("CallStatus", "completed"),
                ("SequenceNumber", "3"),
                ("CallDuration", "17"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["status"], "completed");
    assert_eq!(s["duration_seconds"], 17);
    assert_eq!(s["answered_by"], "human");
    assert_eq!(s["conversation_history"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn numbers_not_in_e164_are_refused_before_twilio_is_asked() {
    let (app, twilio) = app_with_fake_twilio(&[]).await;
    Mock::given(method("POST"))
        .respond_with(created(&sid(1), "+1"))
        .expect(0)
        .mount(&twilio)
        .await;
    for (body, field) in [
        (json!({"to_number": "4155550100"}), "to_number"),
        (json!({"to_number": "+1 (415) 555-0100"}), "to_number"),
        (
            json!({"to_number": "+14155550100", "from_number": "0800 FLOWERS"}),
            "from_number",
        ),
    ] {
        let (status, err) = make_call(&app, body).await;
        assert_eq!(status, 400);
        let text = err["error"].as_str().unwrap();
        assert!(text.starts_with(field) && text.contains("E.164"), "{text}");
    }
    let (status, err) = make_call(&app, json!({"number": "+14155550100"})).await;
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("to_number"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_twilio_credentials_are_a_503_naming_them() {
    let app = spawn_app(&[("TWILIO_ACCOUNT_SID", ACCOUNT)]).await;
    let (status, err) = make_call(&app, json!({"to_number": "+14155550100"})).await;
    assert_eq!(status, 503);
    assert_eq!(
        err["missing"],
        json!(["TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"])
    );
    assert!(err["error"].as_str().unwrap().contains("TWILIO_AUTH_TOKEN"));
    // With a from_number the caller ID is not needed, the token still is.
    let (status, err) = make_call(
        &app,
        json!({"to_number": "+14155550100", "from_number": "+14155550111"}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(err["missing"], json!(["TWILIO_AUTH_TOKEN"]));
}

#[tokio::test]
async fn twilio_errors_come_back_with_twilios_code_message_and_a_hint() {
    let cases = [
        (
            twilio_error(
                400,
                21219,
                "The number +14155550100 is unverified. Trial accounts may only make calls to verified numbers.",
            ),
            400,
            21219,
            "verify",
        ),
        (
            twilio_error(
                400,
                21211,
                "The 'To' number 123 is not a valid phone number.",
            ),
            400,
            21211,
            "E.164",
        ),
        (
            twilio_error(401, 20003, "Authenticate"),
            502,
            20003,
            "TWILIO_AUTH_TOKEN",
        ),
        (
            twilio_error(429, 20429, "Too Many Requests"),
            429,
            20429,
            "again",
        ),
    ];
    for (reply, want_status, code, hint) in cases {
        let (app, twilio) = app_with_fake_twilio(&[]).await;
        Mock::given(method("POST"))
            .and(path(CALLS))
            .respond_with(reply)
            .mount(&twilio)
            .await;
        let (status, err) = make_call(&app, json!({"to_number": "+14155550100"})).await;
        assert_eq!(status, want_status, "{err}");
        assert_eq!(err["code"], code);
        assert!(err["message"].as_str().unwrap().len() > 3);
        assert!(err["hint"].as_str().unwrap().contains(hint), "{err}");
        assert_eq!(
            err["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        let (_, list) = app.get_json("/sessions").await;
        assert_eq!(
            list["active_sessions"], 0,
            "a refused call leaves no session"
        );
    }
}

#[tokio::test]
async fn twilio_failures_and_slowness_are_502_and_504() {
    let (app, twilio) = app_with_fake_twilio(&[]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .mount(&twilio)
        .await;
    let (status, err) = make_call(&app, json!({"to_number": "+14155550100"})).await;
    assert_eq!(status, 502, "{err}");

    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created(&sid(2), "+14155550100").set_delay(std::time::Duration::from_secs(3)))
        .mount(&slow)
        .await;
    let uri = slow.uri();
    let app = TestApp::builder()
        .envs(&[
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("TWILIO_PHONE_NUMBER", BUSINESS_NUMBER),
            ("TWILIO_API_BASE_URL", uri.as_str()),
            ("TWILIO_VALIDATE_SIGNATURES", "false"),
        ])
        .state(|state| {
            state.twilio = Arc::new(TwilioClient::with_timeout(
                &state.config.twilio,
                std::time::Duration::from_millis(300),
            ));
        })
        .spawn()
        .await;
    let (status, err) = make_call(&app, json!({"to_number": "+14155550100"})).await;
    assert_eq!(status, 504, "{err}");
    assert!(err["error"].as_str().unwrap().contains("in time"));
}

#[tokio::test]
async fn answering_machines_get_a_voicemail_and_a_hang_up() {
    let (app, twilio) =
        app_with_fake_twilio(&[("VOICEMAIL_MESSAGE", "Please call Acme Dental back.")]).await;
    let machine = sid(600);
    Mock::given(method("POST"))
        .and(path(CALLS))
        .respond_with(created(&machine, "+14155550100"))
        .mount(&twilio)
        .await;
    let (status, _) = make_call(
        &app,
        json!({"to_number": "+14155550100", "machine_detection": true}),
    )
    .await;
    assert_eq!(status, 200);
    let form = form_of(&twilio.received_requests().await.unwrap()[0]);
    assert!(
        form.contains(&("MachineDetection".into(), "DetectMessageEnd".into())),
        "{form:?}"
    );

    for (n, answered_by) in [
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
    ]
    .into_iter()
    .enumerate()
    {
        let call = if n == 0 {
            machine.clone()
        } else {
            sid(600 + n as u32)
        };
        let xml = app
            .twiml(
                "/voice/outbound",
                &[("CallSid", call.as_str()), ("AnsweredBy", answered_by)],
            )
            .await;
        assert_eq!(
            spoken(&xml),
            "Please call Acme Dental back.",
            "{answered_by}"
        );
        assert!(
            xml.contains("<Hangup/>") && !xml.contains("<Gather"),
            "{xml}"
        );
        let (_, s) = app.get_json(&format!("/session/{call}")).await;
        assert_eq!(s["answered_by"], answered_by);
    }
    for answered_by in ["human", "unknown"] {
        let xml = app
            .twiml(
                "/voice/outbound",
                &[("CallSid", sid(700).as_str()), ("AnsweredBy", answered_by)],
            )
            .await;
        assert!(
            xml.contains("<Gather") && !xml.contains("<Hangup/>"),
            "{answered_by}: {xml}"
        );
    }
}

#[tokio::test]
async fn hangup_ends_a_live_call_through_twilio() {
    let (app, twilio) = app_with_fake_twilio(&[]).await;
    let call = sid(800);
    let call_path = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call}.json");
    Mock::given(method("POST"))
        .and(path(call_path.as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"sid": call, "status": "completed"})),
        )
        .expect(1)
        .mount(&twilio)
        .await;
    let resp = app
        .client
        .post(format!("{}/calls/{call}/hangup", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"call_sid": call, "status": "completed"}));
    let req = &twilio.received_requests().await.unwrap()[0];
    assert_eq!(
        form_of(req),
        vec![("Status".to_owned(), "completed".to_owned())]
    );

    // A call Twilio does not know is a 404 with Twilio's code.
    let unknown = sid(801);
    Mock::given(method("POST"))
        .and(path(
            format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{unknown}.json").as_str(),
        ))
        .respond_with(twilio_error(
            404,
            20404,
            "The requested resource was not found",
        ))
        .mount(&twilio)
        .await;
    let resp = app
        .client
        .post(format!("{}/calls/{unknown}/hangup", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 20404);
}

#[tokio::test]
async fn the_call_command_prints_the_sid_or_twilios_error() {
    let (app, twilio) = app_with_fake_twilio(&[]).await;
    let call = sid(900);
    Mock::given(method("POST"))
        .and(path(CALLS))
        .respond_with(created(&call, "+14155550100"))
        .up_to_n_times(1)
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(CALLS))
        .respond_with(twilio_error(400, 21219, "The number is unverified."))
        .mount(&twilio)
        .await;
    let request = frontdesk::cli::CallRequest {
        to_number: "+14155550100".into(),
        from_number: None,
        initial_message: Some("Hello from the CLI".into()),
        machine_detection: true,
    };
    let token = frontdesk::config::Secret::new(app.api_token.clone());
    let wrong = frontdesk::config::Secret::new("not-the-token-at-all");
    let err = frontdesk::cli::place_call(&app.base, &wrong, &request)
        .await
        .unwrap_err();
    assert!(
        err.contains("HTTP 401") && err.contains("API token is wrong") && err.contains("hint:"),
        "{err}"
    );
    let line = frontdesk::cli::place_call(&app.base, &token, &request)
        .await
        .unwrap();
    assert!(line.starts_with(&call), "{line}");
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["initial_message"], "Hello from the CLI");
    let err = frontdesk::cli::place_call(&app.base, &token, &request)
        .await
        .unwrap_err();
    assert!(
        err.contains("Twilio error 21219") && err.contains("hint:"),
        "{err}"
    );
}

#[tokio::test]
async fn a_call_placed_in_stream_mode_joins_the_media_stream() {
    let (plain, _twilio) = app_with_fake_twilio(&[]).await;
    let (status, err) = make_call(
        &plain,
        json!({"to_number": "+14155550100", "mode": "stream"}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(err["missing"], json!(["DEEPGRAM_API_KEY"]));
    assert!(
        err["error"].as_str().unwrap().contains("DEEPGRAM_API_KEY"),
        "{err}"
    );

    let (app, twilio) = app_with_fake_twilio(&[("DEEPGRAM_API_KEY", "dg-key")]).await;
    let call = sid(950);
    Mock::given(method("POST"))
        .and(path(CALLS))
        .respond_with(created(&call, "+14155550100"))
        .mount(&twilio)
        .await;
    let (status, _) = make_call(&app, json!({"to_number": "+14155550100", "mode": "stream"})).await;
    assert_eq!(status, 200);
    let xml = app
        .twiml(
            "/voice/outbound",
            &[("CallSid", call.as_str()), ("AnsweredBy", "human")],
        )
        .await;
    assert!(
        xml.contains("<Connect><Stream url=\"wss://frontdesk.example.com/twilio/stream\">"),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<Parameter name="direction" value="outbound"/>"#),
        "{xml}"
    );
}
