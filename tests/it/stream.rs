//! Streaming mode: a fake Twilio media client and a fake Deepgram agent
//! around the real bridge.
#![expect(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback returns its own large error response"
)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_tungstenite::tungstenite::{
    Message,
    handshake::server::{ErrorResponse, Request, Response},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, method, path},
};

use crate::helpers::{PUBLIC_URL, TestApp, sid, spawn_app, spoken};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

/// A fake Deepgram Voice Agent: greets, takes Settings, answers
/// SettingsApplied, then records what it gets and sends what it is told.
struct FakeAgent {
    url: String,
    received: mpsc::UnboundedReceiver<Message>,
    to_client: Arc<Mutex<Option<mpsc::UnboundedSender<Message>>>>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl FakeAgent {
    async fn start(refuse: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/v1/agent/converse", listener.local_addr().unwrap());
        let (rx_tx, received) = mpsc::unbounded_channel();
        let to_client: Arc<Mutex<Option<mpsc::UnboundedSender<Message>>>> = Arc::default();
        let (opened, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (tc, o, c) = (
            Arc::clone(&to_client),
            Arc::clone(&opened),
            Arc::clone(&closed),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (rx_tx, tc, o, c) = (
                    rx_tx.clone(),
                    Arc::clone(&tc),
                    Arc::clone(&o),
                    Arc::clone(&c),
                );
                tokio::spawn(async move {
                    let check =
                        |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok());
                            if refuse || auth != Some("Token dg-key") {
                                let mut e = ErrorResponse::new(Some("unauthorized".into()));
                                *e.status_mut() =
                                    tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
                                return Err(e);
                            }
                            Ok(resp)
                        };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await
                    else {
                        return;
                    };
                    o.fetch_add(1, Ordering::SeqCst);
                    let _ = ws
                        .send(Message::text(r#"{"type":"Welcome","request_id":"r1"}"#))
                        .await;
                    let (tx, mut outbound) = mpsc::unbounded_channel::<Message>();
                    *tc.lock().unwrap() = Some(tx);
                    let mut applied = false;
                    loop {
                        tokio::select! {
                            msg = ws.next() => match msg {
                                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                                Some(Ok(m)) => {
                                    if !applied && m.is_text() {
                                        applied = true;
                                        let _ = ws.send(Message::text(r#"{"type":"SettingsApplied"}"#)).await;
                                    }
                                    let _ = rx_tx.send(m);
                                }
                            },
                            out = outbound.recv() => match out {
                                Some(m) => { let _ = ws.send(m).await; }
                                None => break,
                            },
                        }
                    }
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            url,
            received,
            to_client,
            opened,
            closed,
        }
    }

    fn send(&self, msg: Message) {
        self.to_client
            .lock()
            .unwrap()
            .as_ref()
            .expect("a connected bridge")
            .send(msg)
            .unwrap();
    }

    fn send_json(&self, v: Value) {
        self.send(Message::text(v.to_string()));
    }

    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .expect("agent got a message")
            .unwrap()
    }

    async fn next_text(&mut self) -> Value {
        loop {
            if let Message::Text(t) = self.next().await {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Twilio's side: connects, sends connected + start.
async fn twilio_connects(app: &TestApp, call: &str) -> Client {
    let url = format!("{}/twilio/stream", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
    ))
    .await
    .unwrap();
    ws.send(Message::text(json!({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": ACCOUNT, "streamSid": "MZ1", "callSid": call, "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                  "customParameters": {"call_sid": call, "direction": "inbound"}}
    }).to_string())).await.unwrap();
    ws
}

async fn twilio_next(ws: &mut Client) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("Twilio got a message")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Twilio's form for moving a live call to Gather mode, and for hanging up.
const RESUME: &str = "Url=https%3A%2F%2Ffrontdesk.example.com%2Fvoice%2Fresume";
const HANG_UP: &str = "Status=completed";

/// Expects exactly one update of the live call whose form contains `form`.
async fn expect_call_update(twilio: &MockServer, call: &str, form: &str, status: &str) {
    Mock::given(method("POST"))
        .and(path(
            format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call}.json").as_str(),
        ))
        .and(body_string_contains(form))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"sid": call, "status": status})),
        )
        .expect(1)
        .mount(twilio)
        .await;
}

async fn app_with_agent(agent: &FakeAgent, twilio: &MockServer) -> TestApp {
    let uri = twilio.uri();
    spawn_app(&[
        ("CALL_MODE", "stream"),
        ("DEEPGRAM_API_KEY", "dg-key"),
        ("DEEPGRAM_AGENT_URL", agent.url.as_str()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", "tok"),
        ("TWILIO_VALIDATE_SIGNATURES", "false"),
        ("TWILIO_API_BASE_URL", uri.as_str()),
        ("BUSINESS_TIMEZONE", "America/New_York"),
    ])
    .await
}

#[tokio::test]
async fn stream_mode_answers_connect_stream_twiml() {
    let agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let app = app_with_agent(&agent, &twilio).await;
    let call = sid(1);
    for path in ["/voice/inbound", "/voice/stream"] {
        let xml = app
            .twiml(
                path,
                &[("CallSid", call.as_str()), ("From", "+14155550100")],
            )
            .await;
        assert!(
            xml.contains(r#"<Connect><Stream url="wss://frontdesk.example.com/twilio/stream"><Parameter name="call_sid" value="CA00000000000000000000000000000001"/><Parameter name="direction" value="inbound"/></Stream></Connect>"#),
            "{xml}"
        );
        let url = xml
            .split("<Stream url=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(
            url,
            format!("{}/twilio/stream", PUBLIC_URL.replace("https://", "wss://"))
        );
        assert!(!url.contains('?'), "no query string in a stream URL");
    }
}

#[tokio::test]
async fn the_bridge_moves_audio_settings_barge_in_tools_and_transcript() {
    let mut agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let app = app_with_agent(&agent, &twilio).await;
    let call = sid(2);
    app.twiml(
        "/voice/inbound",
        &[("CallSid", call.as_str()), ("From", "+14155550100")],
    )
    .await;
    let mut ws = twilio_connects(&app, &call).await;

    // Settings: µ-law 8 kHz both ways, the business prompt, the tools.
    let settings = agent.next_text().await;
    assert_eq!(settings["type"], "Settings");
    assert_eq!(
        settings["audio"]["input"],
        json!({"encoding": "mulaw", "sample_rate": 8000})
    );
    assert_eq!(
        settings["audio"]["output"],
        json!({"encoding": "mulaw", "sample_rate": 8000, "container": "none"})
    );
    assert!(
        settings["agent"]["think"]["prompt"]
            .as_str()
            .unwrap()
            .contains("Acme Dental")
    );
    assert!(
        settings["agent"]["think"]["prompt"]
            .as_str()
            .unwrap()
            .contains("+14155550100")
    );
    let names: Vec<&str> = settings["agent"]["think"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, frontdesk::agent::tools::TOOL_NAMES);
    assert!(
        settings["agent"]["think"]["functions"][0]
            .get("endpoint")
            .is_none(),
        "client-side functions"
    );
    assert!(
        settings["agent"]["greeting"]
            .as_str()
            .unwrap()
            .contains("Acme Dental")
    );

    // Caller audio → agent, byte for byte.
    let frames: Vec<Vec<u8>> = (0..3u8)
        .map(|i| (0..160).map(|b| (b as u8).wrapping_add(i * 7)).collect())
        .collect();
    for (i, f) in frames.iter().enumerate() {
        ws.send(Message::text(json!({"event": "media", "sequenceNumber": (i + 2).to_string(), "streamSid": "MZ1",
            "media": {"track": "inbound", "chunk": (i + 1).to_string(), "timestamp": "20", "payload": STANDARD.encode(f)}}).to_string())).await.unwrap();
    }
    for f in &frames {
        match agent.next().await {
            Message::Binary(b) => assert_eq!(b.as_ref(), f.as_slice()),
            other => panic!("expected audio, got {other:?}"),
        }
    }

    // Agent audio → Twilio media frames with the streamSid, byte for byte.
    let speech: Vec<u8> = (0..=255u8).collect();
    agent.send(Message::binary(speech.clone()));
    let media = twilio_next(&mut ws).await;
    assert_eq!(media["event"], "media");
    assert_eq!(media["streamSid"], "MZ1");
    assert_eq!(
        STANDARD
            .decode(media["media"]["payload"].as_str().unwrap())
            .unwrap(),
        speech
    );

    // Barge-in.
    agent.send_json(json!({"type": "UserStartedSpeaking"}));
    assert_eq!(
        twilio_next(&mut ws).await,
        json!({"event": "clear", "streamSid": "MZ1"})
    );

    // A function call round trip through the same tools (a Monday a week or
    // two ahead, within the booking horizon).
    let mut monday = chrono::Utc::now().date_naive() + chrono::Duration::days(7);
    while chrono::Datelike::weekday(&monday) != chrono::Weekday::Mon {
        monday += chrono::Duration::days(1);
    }
    let arguments = json!({ "date": monday.to_string() }).to_string();
    agent.send_json(json!({"type": "FunctionCallRequest", "functions": [
        {"id": "fc-1", "name": "check_availability", "arguments": arguments, "client_side": true}]}));
    let resp = agent.next_text().await;
    assert_eq!(resp["type"], "FunctionCallResponse");
    assert_eq!(resp["id"], "fc-1");
    assert_eq!(resp["name"], "check_availability");
    let content: Value = serde_json::from_str(resp["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["free"][0], "09:00");

    // The transcript.
    agent.send_json(
        json!({"type": "ConversationText", "role": "user", "content": "Any time on Monday?"}),
    );
    agent.send_json(
        json!({"type": "ConversationText", "role": "assistant", "content": "Yes, 9 AM is free."}),
    );
    agent.send_json(json!({"type": "History", "role": "user", "content": "ignored"}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    let contents: Vec<&str> = s["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert!(
        contents.contains(&"Any time on Monday?") && contents.contains(&"Yes, 9 AM is free."),
        "{contents:?}"
    );

    // Twilio's stop closes the agent socket and ends the session.
    ws.send(Message::text(json!({"event": "stop", "sequenceNumber": "9", "streamSid": "MZ1", "stop": {"accountSid": ACCOUNT, "callSid": call}}).to_string())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(agent.closed.load(Ordering::SeqCst), 1);
    assert_eq!(app.state.bridges.live(), 0);
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["end_reason"], "stream-stopped");
    // Twilio's final status callback still completes the log entry.
    let resp = app
        .webhook(
            "/voice/status",
            &[
                ("CallSid", call.as_str()),
                ("CallStatus", "completed"),
                ("CallDuration", "48"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["status"], "completed");
    assert_eq!(s["duration_seconds"], 48);
}

#[tokio::test]
async fn end_call_hangs_up_through_twilio_once_the_goodbye_has_played() {
    let mut agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let call = sid(3);
    expect_call_update(&twilio, &call, HANG_UP, "completed").await;
    let app = app_with_agent(&agent, &twilio).await;
    let mut ws = twilio_connects(&app, &call).await;
    agent.next_text().await; // Settings
    agent.send_json(json!({"type": "FunctionCallRequest", "functions": [{"id": "fc-9", "name": "end_call", "arguments": "{}", "client_side": true}]}));
    assert_eq!(agent.next_text().await["id"], "fc-9");
    agent.send(Message::binary(vec![1, 2, 3]));
    agent.send_json(json!({"type": "AgentAudioDone"}));
    assert_eq!(twilio_next(&mut ws).await["event"], "media");
    let mark = twilio_next(&mut ws).await;
    assert_eq!(
        mark,
        json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "goodbye"}})
    );
    assert!(
        twilio.received_requests().await.unwrap().is_empty(),
        "not before the goodbye has played"
    );
    ws.send(Message::text(json!({"event": "mark", "sequenceNumber": "7", "streamSid": "MZ1", "mark": {"name": "goodbye"}}).to_string())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_refusing_agent_moves_the_call_to_gather_mode() {
    let agent = FakeAgent::start(true).await;
    let twilio = MockServer::start().await;
    let call = sid(4);
    expect_call_update(&twilio, &call, RESUME, "in-progress").await;
    let app = app_with_agent(&agent, &twilio).await;
    let mut ws = twilio_connects(&app, &call).await;
    // The bridge gives up on the agent, redirects the call and closes the stream.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1);
    // Twilio then fetches the Gather TwiML and the conversation goes on.
    let xml = app
        .twiml("/voice/resume", &[("CallSid", call.as_str())])
        .await;
    assert!(
        xml.contains("connection problem") && xml.contains("<Gather"),
        "{xml}"
    );
    let turn = app.say(&call, "what time is it").await;
    assert!(turn.contains("<Gather"));
    assert_eq!(app.state.bridges.live(), 0);
}

#[tokio::test]
async fn an_agent_that_drops_mid_call_moves_the_call_to_gather_mode() {
    let mut agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let call = sid(5);
    expect_call_update(&twilio, &call, RESUME, "in-progress").await;
    let app = app_with_agent(&agent, &twilio).await;
    let _ws = twilio_connects(&app, &call).await;
    agent.next_text().await; // Settings
    agent.send(Message::Close(None));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        twilio.received_requests().await.unwrap().len(),
        1,
        "the call was redirected to Gather"
    );
    assert_eq!(app.state.bridges.live(), 0);
}

#[tokio::test]
async fn keep_alive_is_sent_when_no_audio_flows() {
    let mut agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let app = app_with_agent(&agent, &twilio).await;
    let _ws = twilio_connects(&app, &sid(6)).await;
    agent.next_text().await; // Settings
    // No media for longer than Deepgram's 8 seconds.
    let keepalive = tokio::time::timeout(Duration::from_secs(14), async {
        loop {
            if let Some(Message::Text(t)) = agent.received.recv().await {
                return serde_json::from_str::<Value>(&t).unwrap();
            }
        }
    })
    .await
    .expect("a KeepAlive within 14 s");
    assert_eq!(keepalive, json!({"type": "KeepAlive"}));
}

#[tokio::test]
async fn fifty_calls_in_a_row_leave_no_bridges_or_sockets_behind() {
    let mut agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let app = app_with_agent(&agent, &twilio).await;
    for n in 0..50 {
        let call = sid(100 + n);
        let mut ws = twilio_connects(&app, &call).await;
        agent.next_text().await; // Settings
        if n % 2 == 0 {
            ws.send(Message::text(
                json!({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": call}}).to_string(),
            ))
            .await
            .unwrap();
        } else {
            // Twilio just drops the socket.
            drop(ws);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.opened.load(Ordering::SeqCst), 50);
    assert_eq!(agent.closed.load(Ordering::SeqCst), 50);
    assert_eq!(app.state.bridges.live(), 0);
}

#[tokio::test]
async fn media_stream_upgrades_need_twilios_signature_when_checks_are_on() {
    let agent = FakeAgent::start(false).await;
    let app = spawn_app(&[
        ("DEEPGRAM_API_KEY", "dg-key"),
        ("DEEPGRAM_AGENT_URL", agent.url.as_str()),
        ("TWILIO_AUTH_TOKEN", "tok"),
    ])
    .await;
    let url = format!("{}/twilio/stream", app.base.replace("http://", "ws://"));
    let Err(err) = tokio_tungstenite::connect_async(url.as_str()).await else {
        panic!("an unsigned upgrade must be refused");
    };
    assert!(err.to_string().contains("403"), "{err}");
    let signature =
        frontdesk::twilio::signature::sign("tok", "wss://frontdesk.example.com/twilio/stream", []);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("x-twilio-signature", signature.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

#[tokio::test]
async fn transfer_call_moves_the_streaming_call_to_a_dial_and_keeps_its_session() {
    let mut agent = FakeAgent::start(false).await;
    let twilio = MockServer::start().await;
    let call = sid(9);
    expect_call_update(
        &twilio,
        &call,
        "Url=https%3A%2F%2Ffrontdesk.example.com%2Fvoice%2Ftransfer",
        "in-progress",
    )
    .await;
    let uri = twilio.uri();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::helpers::config(
        dir.path(),
        &[
            ("CALL_MODE", "stream"),
            ("DEEPGRAM_API_KEY", "dg-key"),
            ("DEEPGRAM_AGENT_URL", agent.url.as_str()),
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_VALIDATE_SIGNATURES", "false"),
            ("TWILIO_API_BASE_URL", uri.as_str()),
            ("BUSINESS_TIMEZONE", "America/New_York"),
            ("TRANSFER_NUMBER", "+14155550123"),
        ],
    );
    // Monday 2026-11-23, 11 AM in New York: open.
    let clock: frontdesk::clock::Clock = std::sync::Arc::new(|| {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 16, 0, 0)
            .unwrap()
    });
    let state = frontdesk::startup::build_state(config, clock)
        .await
        .unwrap();
    let app = crate::helpers::spawn_with_state(state, dir.path().to_path_buf()).await;
    let _ws = twilio_connects(&app, &call).await;
    agent.next_text().await; // Settings
    agent.send_json(json!({"type": "FunctionCallRequest", "functions": [
        {"id": "fc-t", "name": "transfer_call", "arguments": "{\"reason\":\"billing\"}", "client_side": true}]}));
    assert_eq!(agent.next_text().await["id"], "fc-t");
    for _ in 0..100 {
        if !twilio.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1);
    let xml = app
        .twiml("/voice/transfer", &[("CallSid", call.as_str())])
        .await;
    assert!(
        xml.contains("<Number") && xml.contains("+14155550123</Number>"),
        "{xml}"
    );
    // The session is still live for the dial's outcome.
    let back = app
        .twiml(
            "/voice/transfer-status",
            &[("CallSid", call.as_str()), ("DialCallStatus", "no-answer")],
        )
        .await;
    assert!(spoken(&back).contains("take a message"), "{back}");
    let (_, s) = app.get_json(&format!("/session/{call}")).await;
    assert_eq!(s["transfer"]["reason"], "billing");
    assert_eq!(s["transfer"]["outcome"], "no-answer");
}
