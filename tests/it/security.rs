//! Signatures and hostile input: nothing gets a 5xx, nothing unsigned gets in.

use crate::helpers::{assert_well_formed, sid, spawn_app, spoken};

const TOKEN: &str = "test-auth-token";

/// Twilio's form for an inbound call, signed by Twilio's published algorithm
/// (HMAC-SHA1 over URL + sorted params, base64), computed outside this code
/// base with Python's `hmac` for URL https://frontdesk.example.com/voice/inbound.
const INBOUND: &[(&str, &str)] = &[
    ("AccountSid", "AC00000000000000000000000000000000"),
    ("CallSid", "CA11111111111111111111111111111111"),
    ("CallStatus", "ringing"),
    ("Direction", "inbound"),
    ("From", "+14155550100"),
    ("To", "+14155550199"),
];
const INBOUND_SIGNATURE: &str = "oq9wI58fbjkdMGB3phTg00z8rzk=";

async fn post_raw(
    app: &crate::helpers::TestApp,
    path: &str,
    signature: Option<&str>,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app.client.post(format!("{}{path}", app.base)).form(params);
    if let Some(sig) = signature {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_request_signed_as_twilio_signs_is_accepted() {
    let app = spawn_app(&[("TWILIO_AUTH_TOKEN", TOKEN)]).await;
    let resp = post_raw(&app, "/voice/inbound", Some(INBOUND_SIGNATURE), INBOUND).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<Gather"));
    // The server's own signer agrees too, for a whole turn.
    let turn = app
        .say("CA11111111111111111111111111111111", "what time is it")
        .await;
    assert!(turn.contains("<Gather"));
}

#[tokio::test]
async fn unsigned_or_tampered_webhooks_are_refused_and_change_nothing() {
    let app = spawn_app(&[("TWILIO_AUTH_TOKEN", TOKEN)]).await;
    let call = "CA11111111111111111111111111111111";

    let missing = post_raw(&app, "/voice/inbound", None, INBOUND).await;
    assert_eq!(missing.status(), 403);

    let mut tampered = INBOUND.to_vec();
    tampered[4] = ("From", "+14155550666");
    let resp = post_raw(&app, "/voice/inbound", Some(INBOUND_SIGNATURE), &tampered).await;
    assert_eq!(resp.status(), 403);

    // Right signature, wrong path: the URL is part of what is signed.
    let resp = post_raw(&app, "/voice/outbound", Some(INBOUND_SIGNATURE), INBOUND).await;
    assert_eq!(resp.status(), 403);

    let resp = post_raw(
        &app,
        "/voice/status",
        Some("bm90IGEgc2lnbmF0dXJl"),
        &[("CallSid", call), ("CallStatus", "completed")],
    )
    .await;
    assert_eq!(resp.status(), 403);

    let (status, _) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(status, 404, "a refused webhook must not create a session");
    let (_, list) = app.get_json("/sessions?include_ended=true").await;
    assert!(list["sessions"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn signatures_are_off_without_a_token_and_can_be_turned_off_with_one() {
    let app = spawn_app(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_VALIDATE_SIGNATURES", "false"),
    ])
    .await;
    let resp = post_raw(&app, "/voice/inbound", None, INBOUND).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn xml_specials_in_speech_never_break_the_twiml() {
    let app = spawn_app(&[]).await;
    let call = sid(10);
    let hostile = "</Say><Hangup/><![CDATA[x]]> & \"' <!-- --> \u{1} \u{7} \u{FFFF} <?xml?>";
    let answer = app.say(&call, hostile).await;
    assert_well_formed(&answer);
    assert!(
        !answer.contains("<Hangup/>"),
        "caller text must not become a verb: {answer}"
    );
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["conversation_history"][0]["content"], hostile);
}

#[tokio::test]
async fn very_long_speech_is_refused_with_413_and_long_but_allowed_speech_is_fine() {
    let app = spawn_app(&[]).await;
    let call = sid(11);
    let huge = "blah ".repeat(40_000);
    let resp = app
        .webhook(
            "/voice/process-speech",
            &[("CallSid", call.as_str()), ("SpeechResult", &huge)],
        )
        .await;
    assert_eq!(resp.status(), 413);

    let long = "word ".repeat(5_000);
    let answer = app.say(&call, &long).await;
    assert!(answer.contains("<Gather"));
    assert!(spoken(&answer).len() < 2_000);
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_are_refused_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(&[("MAX_REQUEST_BYTES", "2048")]).await;
    let body = format!("CallSid={}&SpeechResult={}", sid(12), "a".repeat(10_000));
    let addr = app.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST /voice/process-speech HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(1000) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer and close before reading everything.
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn invalid_utf8_and_malformed_forms_get_twiml_or_a_clear_4xx() {
    let app = spawn_app(&[]).await;
    let url = format!("{}/voice/process-speech", app.base);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid utf-8",
            [
                b"CallSid=".as_slice(),
                sid(13).as_bytes(),
                b"&SpeechResult=%FF%FEhi\xff\xfe",
            ]
            .concat(),
        ),
        ("garbage", b"%%%&&&===\x00\x01".to_vec()),
        ("json body", br#"{"CallSid": "CA1"}"#.to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, body) in cases {
        let resp = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            status == 200 || (400..500).contains(&status),
            "{what}: {status} {text}"
        );
        if status == 200 {
            assert_well_formed(&text);
        } else {
            assert!(!text.is_empty(), "{what}: a 4xx says what is wrong");
        }
    }
    // Not a form at all.
    let resp = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
}

#[tokio::test]
async fn missing_or_malformed_call_sid_is_a_400_that_says_why() {
    let app = spawn_app(&[]).await;
    for path in [
        "/voice/inbound",
        "/voice/outbound",
        "/voice/process-speech",
        "/voice/status",
    ] {
        for params in [
            vec![("SpeechResult", "hi")],
            vec![("CallSid", "CA<script>")],
        ] {
            let resp = app.webhook(path, &params).await;
            assert_eq!(resp.status(), 400, "{path}");
            assert!(resp.text().await.unwrap().contains("CallSid"), "{path}");
        }
    }
}

#[tokio::test]
async fn an_unknown_call_sid_mid_call_still_gets_a_conversation() {
    let app = spawn_app(&[]).await;
    let answer = app.say(&sid(14), "hello there").await;
    assert!(answer.contains("<Gather"));
    let (status, s) = app.get_json(&format!("/session/{}", sid(14))).await;
    assert_eq!(status, 200);
    assert_eq!(s["conversation_history"][0]["content"], "hello there");
}

#[tokio::test]
async fn unknown_sessions_are_404_with_a_json_error() {
    let app = spawn_app(&[]).await;
    for path in [
        "/session/CA00000000000000000000000000000099",
        "/sessions/not-a-sid",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"].as_str().unwrap().contains("no call"));
    }
}
