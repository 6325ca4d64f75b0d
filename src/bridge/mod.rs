//! Streaming mode: one bridge per call between Twilio Media Streams and
//! Deepgram's Voice Agent.
//!
//! The pump only moves messages (their types live in [`protocol`]):
//! caller audio to the agent as binary frames, agent audio back to Twilio
//! as `media` frames; `UserStartedSpeaking` becomes a Twilio `clear`
//! (barge-in); `FunctionCallRequest`s run through the same calendar tools as
//! Gather mode; `ConversationText` goes to the call's session, so the
//! transcript reads the same in both modes. `end_call` hangs up through
//! Twilio's REST API once the goodbye has played (a `mark` echoed back).
//!
//! `transfer_call` moves the call off the stream to `/voice/transfer` (a
//! `<Dial>` to `TRANSFER_NUMBER`) through the REST API; the session stays
//! live for the dial's outcome.
//!
//! Failures never leave dead air: if the agent refuses, drops or errors,
//! the live call is moved to Gather mode through Twilio's REST API
//! (`/voice/resume`) and the conversation goes on. Twilio's `stop` or a
//! closed socket closes the agent socket; nothing outlives its call (the
//! live-bridge count in [`Bridges`] shows it).

pub mod protocol;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use poem::web::websocket::Message as TwilioMessage;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use self::protocol::{AgentIn, AgentOut, AgentSettings, MarkName, MediaOut, TwilioIn, TwilioOut};
use crate::{
    agent::{
        llm::business_prompt,
        tools::{ToolContext, Tools, definitions},
    },
    clock::Clock,
    config::Config,
    session::Role,
    session::SessionStore,
    twilio::client::TwilioClient,
    twilio::webhook::{CallDetails, CallSid, Direction},
};

/// How long to wait for Twilio's `start`, and for the agent's `SettingsApplied`.
const HANDSHAKE: Duration = Duration::from_secs(8);
/// Deepgram wants a KeepAlive when no audio flowed for this long.
const KEEPALIVE: Duration = Duration::from_secs(8);
/// Hang up this long after `end_call` even if the goodbye's mark never comes back.
const GOODBYE_LIMIT: Duration = Duration::from_secs(15);
/// The mark that says the goodbye has played.
const GOODBYE_MARK: &str = "goodbye";

/// What a bridge uses of the server, and nothing else.
#[derive(Clone)]
pub struct Deps {
    /// The configuration (Deepgram, business, public URL).
    pub config: Arc<Config>,
    /// Live sessions: the call's transcript is kept as in Gather mode.
    pub sessions: Arc<SessionStore>,
    /// The tools' safety envelope, for the agent's function calls.
    pub tools: Tools,
    /// Twilio's REST API (hang up, move the call).
    pub twilio: Arc<TwilioClient>,
    /// What time it is.
    pub clock: Clock,
    /// The count of live bridges.
    pub bridges: Arc<Bridges>,
}

/// Counts live bridges (each holds two sockets).
#[derive(Debug, Default)]
pub struct Bridges(AtomicUsize);

impl Bridges {
    /// Bridges running now.
    pub fn live(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct LiveBridge(Arc<Bridges>);

impl LiveBridge {
    fn new(b: &Arc<Bridges>) -> Self {
        b.0.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(b))
    }
}

impl Drop for LiveBridge {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a bridge ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Twilio stopped the stream (call over) or closed the socket.
    Stopped,
    /// The agent failed; the call moves to Gather mode.
    AgentFailed(String),
    /// The caller asked for a person: the call moves to a `<Dial>`.
    Transferred,
}

fn twilio_text(msg: &TwilioOut) -> TwilioMessage {
    TwilioMessage::Text(serde_json::to_string(msg).expect("serialisable"))
}

fn agent_text(msg: &AgentOut) -> tungstenite::Message {
    tungstenite::Message::text(serde_json::to_string(msg).expect("serialisable"))
}

/// Runs one call's bridge on an accepted Twilio socket.
pub async fn run<S>(deps: Deps, mut twilio: S)
where
    S: Stream<Item = Result<TwilioMessage, std::io::Error>> + Sink<TwilioMessage> + Unpin,
{
    let _live = LiveBridge::new(&deps.bridges);
    // Wait for `start`: it names the call and the stream.
    let started = tokio::time::timeout(HANDSHAKE, async {
        while let Some(Ok(msg)) = twilio.next().await {
            if let TwilioMessage::Text(text) = msg
                && let Ok(TwilioIn::Start { stream_sid, start }) = serde_json::from_str(&text)
            {
                return Some((stream_sid, start));
            }
        }
        None
    })
    .await;
    let Ok(Some((stream_sid, start))) = started else {
        tracing::warn!("media stream closed before its start message");
        let _ = twilio.close().await;
        return;
    };
    let Ok(call_sid) = CallSid::parse(&start.call_sid) else {
        tracing::warn!("media stream for an invalid CallSid");
        let _ = twilio.close().await;
        return;
    };
    let direction = start
        .custom_parameters
        .get("direction")
        .and_then(|d| Direction::parse(d))
        .unwrap_or(Direction::Inbound);
    deps.sessions
        .begin(&call_sid, direction, &CallDetails::default())
        .await;
    tracing::info!(call_sid = %call_sid, "media stream started");

    let end = match connect_agent(&deps, &call_sid).await {
        Ok(agent) => pump(&deps, &call_sid, &stream_sid, &mut twilio, agent).await,
        Err(e) => End::AgentFailed(e),
    };
    match end {
        End::Stopped => {
            if let Err(e) = deps.sessions.end(&call_sid, "stream-stopped").await {
                tracing::error!(call_sid = %call_sid, error = %e, "could not log the call");
            }
        }
        End::Transferred => {
            // The session stays live: the dial's outcome comes back to it.
            let url = deps.config.public_url.join("/voice/transfer");
            if let Err(e) = deps.twilio.redirect(call_sid.as_str(), &url).await {
                tracing::error!(call_sid = %call_sid, error = %e, "could not move the call to the transfer");
            }
        }
        End::AgentFailed(why) => {
            tracing::warn!(call_sid = %call_sid, reason = %why, "voice agent failed; moving the call to Gather mode");
            let url = deps.config.public_url.join("/voice/resume");
            if let Err(e) = deps.twilio.redirect(call_sid.as_str(), &url).await {
                tracing::error!(call_sid = %call_sid, error = %e, "could not move the call to Gather mode");
            }
        }
    }
    let _ = twilio.close().await;
}

type AgentSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The `Settings` for this call.
async fn settings(deps: &Deps, call_sid: &CallSid) -> AgentSettings {
    let c = &deps.config;
    let caller = deps.sessions.caller(call_sid).await;
    let greeting = deps
        .sessions
        .initial_message(call_sid)
        .await
        .unwrap_or_else(|| c.voice.greeting.clone());
    AgentSettings {
        prompt: business_prompt(&c.business, &caller, (deps.clock)()),
        greeting,
        listen_model: c.deepgram.listen_model.clone(),
        language: c
            .voice
            .speech_language
            .split('-')
            .next()
            .unwrap_or("en")
            .to_owned(),
        think_provider: c.deepgram.think_provider.clone(),
        think_model: c.deepgram.think_model.clone(),
        speak_model: c.deepgram.speak_model.clone(),
        functions: definitions()
            .into_iter()
            .map(|d| (d.name.to_owned(), d.description.to_owned(), d.parameters))
            .collect(),
    }
}

/// Opens the agent socket, sends `Settings` and waits for `SettingsApplied`.
async fn connect_agent(deps: &Deps, call_sid: &CallSid) -> Result<AgentSocket, String> {
    let dg = &deps.config.deepgram;
    let key = dg.api_key.as_ref().ok_or("DEEPGRAM_API_KEY is not set")?;
    let mut request = dg
        .agent_url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("DEEPGRAM_AGENT_URL: {e}"))?;
    let auth = format!("Token {}", key.expose())
        .parse()
        .map_err(|_| "DEEPGRAM_API_KEY is not a valid header value".to_owned())?;
    request.headers_mut().insert("Authorization", auth);
    let (mut socket, _) =
        tokio::time::timeout(HANDSHAKE, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| "the voice agent did not answer in time".to_owned())?
            .map_err(|e| format!("the voice agent refused: {e}"))?;
    let settings = settings(deps, call_sid).await.to_message().to_string();
    socket
        .send(tungstenite::Message::text(settings))
        .await
        .map_err(|e| format!("sending Settings: {e}"))?;
    let applied = tokio::time::timeout(HANDSHAKE, async {
        while let Some(msg) = socket.next().await {
            match msg {
                Ok(tungstenite::Message::Text(t)) => match serde_json::from_str::<AgentIn>(&t) {
                    Ok(AgentIn::SettingsApplied) => return Ok(()),
                    Ok(AgentIn::Error { description, code }) => {
                        return Err(format!(
                            "the voice agent refused the settings: {code} {description}"
                        ));
                    }
                    _ => {}
                },
                Ok(tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        Err("the voice agent closed before accepting the settings".to_owned())
    })
    .await
    .map_err(|_| "the voice agent did not accept the settings in time".to_owned())?;
    applied.map(|()| socket)
}

/// Moves messages both ways until one side ends.
async fn pump<S>(
    deps: &Deps,
    call_sid: &CallSid,
    stream_sid: &str,
    twilio: &mut S,
    mut agent: AgentSocket,
) -> End
where
    S: Stream<Item = Result<TwilioMessage, std::io::Error>> + Sink<TwilioMessage> + Unpin,
{
    let mut last_audio = Instant::now();
    let mut keepalive = tokio::time::interval(KEEPALIVE / 2);
    let mut ending: Option<Instant> = None;
    let end = loop {
        tokio::select! {
            msg = twilio.next() => {
                let Some(Ok(msg)) = msg else { break End::Stopped };
                let TwilioMessage::Text(text) = msg else { continue };
                match serde_json::from_str::<TwilioIn>(&text) {
                    Ok(TwilioIn::Media { media, .. }) => {
                        let Ok(audio) = STANDARD.decode(media.payload.as_bytes()) else { continue };
                        last_audio = Instant::now();
                        if agent.send(tungstenite::Message::binary(audio)).await.is_err() {
                            break End::AgentFailed("the voice agent socket closed".into());
                        }
                    }
                    Ok(TwilioIn::Mark { mark, .. }) if mark.name == GOODBYE_MARK && ending.is_some() => {
                        hang_up(deps, call_sid).await;
                        ending = None;
                    }
                    Ok(TwilioIn::Stop { .. }) => break End::Stopped,
                    _ => {}
                }
            }
            msg = agent.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => break End::AgentFailed(format!("voice agent socket: {e}")),
                    None => break End::AgentFailed("the voice agent closed the socket".into()),
                };
                match msg {
                    tungstenite::Message::Binary(audio) => {
                        let out = TwilioOut::Media {
                            stream_sid: stream_sid.to_owned(),
                            media: MediaOut { payload: STANDARD.encode(&audio) },
                        };
                        if twilio.send(twilio_text(&out)).await.is_err() {
                            break End::Stopped;
                        }
                    }
                    tungstenite::Message::Text(text) => {
                        match handle_agent_text(deps, call_sid, stream_sid, twilio, &mut agent, &text, &mut ending).await {
                            Ok(()) => {}
                            Err(end) => break end,
                        }
                    }
                    tungstenite::Message::Close(_) => {
                        break End::AgentFailed("the voice agent closed the socket".into());
                    }
                    _ => {}
                }
            }
            _ = keepalive.tick() => {
                // A streaming call sends no webhooks: keep its session from
                // being taken for idle.
                deps.sessions.touch(call_sid).await;
                if last_audio.elapsed() >= KEEPALIVE
                    && agent.send(agent_text(&AgentOut::KeepAlive)).await.is_err()
                {
                    break End::AgentFailed("the voice agent socket closed".into());
                }
                if ending.is_some_and(|t| t.elapsed() >= GOODBYE_LIMIT) {
                    hang_up(deps, call_sid).await;
                    ending = None;
                }
            }
        }
    };
    let _ = agent.close(None).await;
    end
}

async fn handle_agent_text<S>(
    deps: &Deps,
    call_sid: &CallSid,
    stream_sid: &str,
    twilio: &mut S,
    agent: &mut AgentSocket,
    text: &str,
    ending: &mut Option<Instant>,
) -> Result<(), End>
where
    S: Sink<TwilioMessage> + Unpin,
{
    let Ok(msg) = serde_json::from_str::<AgentIn>(text) else {
        return Ok(());
    };
    match msg {
        AgentIn::UserStartedSpeaking => {
            let clear = TwilioOut::Clear {
                stream_sid: stream_sid.to_owned(),
            };
            twilio
                .send(twilio_text(&clear))
                .await
                .map_err(|_| End::Stopped)?;
        }
        AgentIn::ConversationText { role, content } => {
            let role = if role == "user" {
                Role::User
            } else {
                Role::Assistant
            };
            deps.sessions.record(call_sid, role, &content, None).await;
        }
        AgentIn::FunctionCallRequest { functions } => {
            // The same envelope as Gather mode: it acts for this caller,
            // limits side effects and records each call in the transcript.
            let ctx = ToolContext {
                call_sid: call_sid.clone(),
                caller: deps.sessions.caller(call_sid).await,
                now: (deps.clock)(),
                sessions: Arc::clone(&deps.sessions),
                // The voice agent hands over only what the caller said in full.
                gate: Arc::new(crate::agent::gate::Gate::confirmed()),
            };
            for f in functions.into_iter().filter(|f| f.client_side) {
                let result = deps
                    .tools
                    .dispatch(&ctx, &f.id, &f.name, &f.arguments)
                    .await;
                if result.end_call {
                    *ending = Some(Instant::now());
                }
                let response = AgentOut::FunctionCallResponse {
                    id: f.id,
                    name: f.name,
                    content: result.value.to_string(),
                };
                agent
                    .send(agent_text(&response))
                    .await
                    .map_err(|e| End::AgentFailed(format!("sending a function result: {e}")))?;
                if result.transfer {
                    return Err(End::Transferred);
                }
            }
        }
        AgentIn::AgentAudioDone if ending.is_some() => {
            // Twilio echoes this mark once everything before it has played.
            let mark = TwilioOut::Mark {
                stream_sid: stream_sid.to_owned(),
                mark: MarkName {
                    name: GOODBYE_MARK.into(),
                },
            };
            twilio
                .send(twilio_text(&mark))
                .await
                .map_err(|_| End::Stopped)?;
        }
        AgentIn::Error { description, code } => {
            return Err(End::AgentFailed(format!(
                "voice agent error {code}: {description}"
            )));
        }
        _ => {}
    }
    Ok(())
}

async fn hang_up(deps: &Deps, call_sid: &CallSid) {
    if let Err(e) = deps.twilio.hang_up(call_sid.as_str()).await {
        tracing::error!(call_sid = %call_sid, error = %e, "could not hang up after the goodbye");
    }
}
