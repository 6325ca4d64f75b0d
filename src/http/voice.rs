//! Twilio's voice webhooks: form in, TwiML out.
//!
//! Each handler turns Twilio's form into a typed [`VoiceWebhook`] (one
//! conversion, [`VoiceForm::parse`]), makes one call on the domain
//! (sessions, agent) and answers TwiML built with [`crate::twiml`].
//! A problem the caller would notice (a slow or failing agent) becomes a
//! spoken apology and a new `<Gather>`, never a 5xx; only a request that is
//! not a Twilio webhook at all (no valid `CallSid`) gets a 400, with the
//! API's JSON error.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::Header,
    payload::{Form, Json, PlainText},
    types::Example,
};
use serde::Deserialize;

use std::sync::Arc;

use crate::{
    config::CallMode,
    config::Config,
    ledger::Arrival,
    metrics::Answer,
    session::{Role, StatusOutcome, StatusUpdate},
    state::AppState,
    turns::{self, Begin, Outcome, Partial, TurnDeps},
    twilio::{
        number::CallerIdentity,
        webhook::{
            CallDetails, CallSid, Direction, PartialSpeech, RawForm, VoiceWebhook, WebhookError,
            mask_number,
        },
    },
    twiml::{self, Gather, Say},
};

use super::api::ErrorBody;

#[derive(Tags)]
enum ApiTags {
    /// Twilio's voice webhooks (form in, TwiML out), where calls are
    /// answered. With signature checks off, these can be tried from here to
    /// play Twilio.
    // Tags are listed by name; this name puts the webhooks first.
    #[oai(rename = "AnsweringCalls")]
    TwilioWebhooks,
}

/// The form Twilio posts to every voice webhook. Every field is optional
/// and unknown fields are ignored, because Twilio adds parameters over time.
#[derive(Debug, Clone, Default, Object, Deserialize)]
#[oai(rename_all = "PascalCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "PascalCase", default)]
pub struct VoiceForm {
    /// The call's id, `CA` + 32 hex digits (required).
    #[oai(validator(pattern = "^CA[0-9a-fA-F]{32}$"))]
    pub call_sid: String,
    /// The account's id.
    pub account_sid: Option<String>,
    /// The caller.
    pub from: Option<String>,
    /// The called party.
    pub to: Option<String>,
    /// `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, `no-answer`, `canceled`.
    pub call_status: Option<String>,
    /// `inbound`, `outbound-api` or `outbound-dial`.
    pub direction: Option<String>,
    /// What the caller said (on `/voice/process-speech`).
    pub speech_result: Option<String>,
    /// Recognition confidence, 0.0 to 1.0.
    pub confidence: Option<String>,
    /// Answering-machine detection: `human`, `machine_end_beep`, `fax`, `unknown`, …
    pub answered_by: Option<String>,
    /// Call length in seconds (on the `completed` status callback).
    pub call_duration: Option<String>,
    /// Order of status callbacks, from 0.
    pub sequence_number: Option<String>,
    /// When a status callback fired (RFC 2822).
    pub timestamp: Option<String>,
    /// Keys the caller pressed (keypad input on a `<Gather>`).
    pub digits: Option<String>,
    /// How a `<Dial>` to a person ended (on `/voice/transfer-status`):
    /// `completed`, `answered`, `busy`, `no-answer`, `failed`, `canceled`.
    pub dial_call_status: Option<String>,
    /// The caller's call, on the answering leg of a transfer (the whisper).
    pub parent_call_sid: Option<String>,
    /// Everything heard so far, still changing (on `/voice/partial-speech`).
    pub unstable_speech_result: Option<String>,
    /// The part of the partial transcript unlikely to change.
    pub stable_speech_result: Option<String>,
    /// How stable the partial transcript is, 0.0 to 1.0.
    pub stability: Option<String>,
}

impl Example for VoiceForm {
    fn example() -> Self {
        Self {
            call_sid: "CA0123456789abcdef0123456789abcdef".into(),
            account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
            from: Some("+14155550100".into()),
            to: Some("+14155550199".into()),
            call_status: Some("in-progress".into()),
            direction: Some("inbound".into()),
            speech_result: Some("Can I book a cleaning tomorrow at 10?".into()),
            confidence: Some("0.92".into()),
            ..Self::default()
        }
    }
}

impl VoiceForm {
    /// The typed webhook: the one place a form without a valid `CallSid`
    /// becomes a 400.
    fn parse(&self) -> Result<VoiceWebhook, WebhookError> {
        VoiceWebhook::parse(RawForm {
            call_sid: Some(&self.call_sid),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
            call_status: self.call_status.as_deref(),
            direction: self.direction.as_deref(),
            speech_result: self.speech_result.as_deref(),
            confidence: self.confidence.as_deref(),
            answered_by: self.answered_by.as_deref(),
            call_duration: self.call_duration.as_deref(),
            sequence_number: self.sequence_number.as_deref(),
        })
    }
}

/// The ways a webhook is refused before anything happens to a call.
#[derive(ApiResponse)]
pub enum Rejection {
    /// Not a Twilio webhook: CallSid missing or malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// X-Twilio-Signature missing or wrong (when signature checks are on).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body is larger than MAX_REQUEST_BYTES.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not application/x-www-form-urlencoded.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
}

impl From<WebhookError> for Rejection {
    fn from(e: WebhookError) -> Self {
        Self::BadRequest(Json(ErrorBody::new(e.to_string())))
    }
}

/// A TwiML answer.
#[derive(ApiResponse)]
pub enum TwimlResponse {
    /// TwiML for Twilio to run.
    #[oai(status = 200, content_type = "text/xml")]
    Twiml(PlainText<String>),
}

impl TwimlResponse {
    fn xml(doc: &twiml::Response) -> Self {
        Self::Twiml(PlainText(doc.to_xml()))
    }
}

/// The answer to a status callback.
#[derive(ApiResponse)]
pub enum StatusResponse {
    /// Recorded.
    #[oai(status = 204)]
    NoContent,
}

fn say(config: &Config, text: impl Into<String>) -> Say {
    Say::new(text, &config.voice.tts_voice, &config.voice.speech_language)
}

/// `<Say>` the text while listening for the caller's next words.
pub fn say_and_listen(config: &Config, text: &str) -> twiml::Response {
    twiml::Response::new().gather(Gather {
        // A key press answers too: 1 for yes, 2 for no.
        input: "speech dtmf".into(),
        num_digits: Some(1),
        action: config.public_url.join("/voice/process-speech"),
        method: "POST".into(),
        timeout: config.voice.silence_threshold_seconds,
        speech_timeout: "auto".into(),
        language: config.voice.speech_language.clone(),
        action_on_empty_result: true,
        partial_result_callback: Some(config.public_url.join("/voice/partial-speech")),
        say: vec![say(config, text)],
    })
}

/// `<Say>` the text, then `<Hangup/>`.
pub fn say_and_hang_up(config: &Config, text: &str) -> twiml::Response {
    twiml::Response::new().say(say(config, text)).hangup()
}

/// `<Connect><Stream>` to `/twilio/stream`: the call joins the media bridge.
/// No query string in the URL (Twilio forbids it); per-call data goes in
/// `<Parameter>`s.
pub fn connect_stream(config: &Config, sid: &CallSid, direction: Direction) -> twiml::Response {
    let parameter = |name: &str, value: &str| twiml::Parameter {
        name: name.into(),
        value: value.into(),
    };
    twiml::Response::new().verb(twiml::Verb::ConnectStream {
        url: config.public_url.websocket("/twilio/stream"),
        parameters: vec![
            parameter("call_sid", sid.as_str()),
            parameter("direction", direction.as_str()),
        ],
    })
}

/// How long a transfer rings before the caller comes back.
const TRANSFER_RING_SECONDS: u32 = 20;

/// The TwiML for a finished turn.
fn answer(config: &Config, outcome: &Outcome) -> twiml::Response {
    match &config.duties.transfer_number {
        Some(number) if outcome.transfer => twiml::Response::new()
            .say(say(config, &outcome.text))
            .verb(twiml::Verb::Dial {
                action: config.public_url.join("/voice/transfer-status"),
                timeout: TRANSFER_RING_SECONDS,
                number: number.to_string(),
                whisper: config.public_url.join("/voice/transfer-whisper"),
            }),
        _ if outcome.end_call => say_and_hang_up(config, &outcome.text),
        _ => say_and_listen(config, &outcome.text),
    }
}

/// What a key press means as words: 1 is yes, 2 is no.
fn keypad_words(digits: &str) -> Option<&'static str> {
    match digits.trim() {
        "1" => Some("yes"),
        "2" => Some("no"),
        _ => None,
    }
}

/// A short holding phrase, then back to `/voice/continue` for the reply.
fn hold(config: &Config, phrase: &str) -> twiml::Response {
    twiml::Response::new()
        .say(say(config, phrase))
        .redirect(config.public_url.join("/voice/continue"))
}

/// Whether answering-machine detection found a machine (or a fax) rather
/// than a person. `human` and `unknown` get the normal conversation.
pub fn is_machine(answered_by: &str) -> bool {
    matches!(
        answered_by.trim(),
        "machine_start" | "machine_end_beep" | "machine_end_silence" | "machine_end_other" | "fax"
    )
}

/// The webhooks.
pub struct VoiceApi;

impl VoiceApi {
    /// What a turn of `sid` needs, for the words that arrived at `received`.
    fn turn_deps(
        state: &AppState,
        received: Arrival,
        call: Option<(Direction, CallDetails)>,
    ) -> TurnDeps {
        TurnDeps {
            sessions: Arc::clone(&state.sessions),
            agent: Arc::clone(&state.agent),
            clock: Arc::clone(&state.clock),
            deadline: state.config.voice.turn_deadline(),
            metrics: Arc::clone(&state.metrics),
            received,
            call,
        }
    }

    /// Writes the turn's latency ledger entry, the first time its reply goes out.
    /// The entry goes to the store without holding up the answer: in this
    /// process it is written at once; to a shared store the request is on
    /// its way before any later one of the call.
    async fn to_ledger(state: &AppState, sid: &CallSid, outcome: &Arc<Outcome>) {
        if let Some(entry) = state.turns.answered(sid, outcome, (state.clock)()).await {
            let (sessions, sid) = (Arc::clone(&state.sessions), sid.clone());
            turns::run_now_or_spawn(async move { sessions.record_latency(&sid, entry).await });
        }
    }

    /// Greets a new call and starts listening.
    async fn greet(
        state: &AppState,
        hook: &VoiceWebhook,
        default_direction: Direction,
    ) -> TwimlResponse {
        let sid = &hook.call_sid;
        let direction = hook.direction_or(default_direction);
        state.sessions.begin(sid, direction, &hook.details).await;
        tracing::info!(
            call_sid = %sid,
            ?direction,
            from = %hook.details.from.as_deref().map(mask_number).unwrap_or_default(),
            "call started"
        );
        let config = &state.config;
        let answered_by = hook.details.answered_by.as_deref();
        if answered_by.is_some_and(is_machine) {
            let message = &config.voice.voicemail_message;
            state
                .sessions
                .record(sid, Role::Assistant, message, None)
                .await;
            tracing::info!(call_sid = %sid, ?answered_by, "answering machine: leaving a message");
            return TwimlResponse::xml(&say_and_hang_up(config, message));
        }
        if config.call_mode == CallMode::Stream || state.sessions.is_stream(sid).await {
            return TwimlResponse::xml(&connect_stream(config, sid, direction));
        }
        let greeting = state
            .sessions
            .initial_message(sid)
            .await
            .unwrap_or_else(|| config.voice.greeting.clone());
        state
            .sessions
            .record(sid, Role::Assistant, &greeting, None)
            .await;
        TwimlResponse::xml(&say_and_listen(config, &greeting))
    }
}

#[OpenApi(tag = "ApiTags::TwilioWebhooks")]
impl VoiceApi {
    /// Someone calls the business (the phone number's Voice URL).
    #[oai(path = "/voice/inbound", method = "post")]
    async fn inbound(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        Ok(Self::greet(&state, &form.parse()?, Direction::Inbound).await)
    }

    /// A call placed through /make-call was answered.
    #[oai(path = "/voice/outbound", method = "post")]
    async fn outbound(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        Ok(Self::greet(&state, &form.parse()?, Direction::Outbound).await)
    }

    /// TwiML that connects the call to the media stream (streaming mode).
    #[oai(path = "/voice/stream", method = "post")]
    async fn stream(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        let hook = form.parse()?;
        let direction = hook.direction_or(Direction::Inbound);
        state
            .sessions
            .begin(&hook.call_sid, direction, &hook.details)
            .await;
        Ok(TwimlResponse::xml(&connect_stream(
            &state.config,
            &hook.call_sid,
            direction,
        )))
    }

    /// Where a streaming call lands when the voice agent fails: the
    /// conversation goes on in Gather mode.
    #[oai(path = "/voice/resume", method = "post")]
    async fn resume(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        let hook = form.parse()?;
        let sid = &hook.call_sid;
        state
            .sessions
            .begin(sid, hook.direction_or(Direction::Inbound), &hook.details)
            .await;
        let text = "Sorry about that, I had a connection problem. How can I help you?";
        state
            .sessions
            .record(sid, Role::Assistant, text, None)
            .await;
        Ok(TwimlResponse::xml(&say_and_listen(&state.config, text)))
    }

    /// One caller turn: the action of each speech Gather.
    #[oai(path = "/voice/process-speech", method = "post")]
    async fn process_speech(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
        /// Twilio's idempotency token: the same on Twilio's retries of one request.
        #[oai(name = "I-Twilio-Idempotency-Token")]
        idempotency_token: Header<Option<String>>,
    ) -> Result<TwimlResponse, Rejection> {
        let received = Arrival::now(&state.clock);
        let idempotency_token = idempotency_token.0.filter(|t| !t.trim().is_empty());
        let hook = form.parse()?;
        let sid = &hook.call_sid;
        let config = &state.config;
        let sessions = &state.sessions;
        if let Err(e) = sessions.resume(sid).await {
            tracing::warn!(call_sid = %sid, error = %e, "could not look up the call log");
        }
        let direction = hook.direction_or(Direction::Inbound);

        let speech = Some(hook.speech.as_str())
            .filter(|s| !s.is_empty())
            .or_else(|| form.digits.as_deref().and_then(keypad_words))
            .unwrap_or_default();
        if speech.is_empty() {
            sessions.begin(sid, direction, &hook.details).await;
            state.turns.no_words(&state.metrics, sid);
            let silent = sessions.note_silence(sid).await;
            if silent >= config.voice.max_silent_turns {
                let text = "I haven't heard anything, so I'll end the call now. \
                            Please call again any time. Goodbye!";
                sessions.record(sid, Role::Assistant, text, None).await;
                return Ok(TwimlResponse::xml(&say_and_hang_up(config, text)));
            }
            // After two misses in a row, offer the keypad.
            let text = if silent >= 2 {
                "Sorry, I still didn't catch that. You can also use your keypad: \
                 press 1 for yes or 2 for no. Or tell me how I can help."
            } else {
                "Sorry, I didn't hear anything. How can I help you?"
            };
            sessions.record(sid, Role::Assistant, text, None).await;
            return Ok(TwimlResponse::xml(&say_and_listen(config, text)));
        }

        // The turn starts or refreshes the session (with a shared store,
        // only when the call is not live yet).
        let deps = Self::turn_deps(&state, received, Some((direction, hook.details.clone())));
        let done = match state
            .turns
            .begin(deps, sid, idempotency_token, speech, hook.confidence)
            .await
        {
            Begin::Replay(outcome) => return Ok(TwimlResponse::xml(&answer(config, &outcome))),
            Begin::Started(done) | Begin::Joined(done) => done,
        };
        let (doc, answered) = match turns::wait(done, config.voice.first_wait()).await {
            Some(outcome) => {
                Self::to_ledger(&state, sid, &outcome).await;
                (answer(config, &outcome), Answer::Reply)
            }
            None => {
                state.turns.note_hold(sid).await;
                state.metrics.held();
                let phrase = state.turns.holding_phrase(sid);
                (hold(config, phrase), Answer::Hold)
            }
        };
        let response = TwimlResponse::xml(&doc);
        state.metrics.answered(answered, received.instant.elapsed());
        Ok(response)
    }

    /// Twilio's partial transcript while the caller is still talking.
    ///
    /// The partialResultCallback of every speech Gather. Answered at once;
    /// may start the turn's work early (SPECULATIVE_TURNS), which counts
    /// only when the final words say the same.
    #[oai(path = "/voice/partial-speech", method = "post")]
    async fn partial_speech(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<StatusResponse, Rejection> {
        let hook = form.parse()?;
        let sid = &hook.call_sid;
        let speculate = state.config.voice.speculative_turns
            && state.agent.speculates()
            && state.sessions.is_live(sid).await;
        if !speculate {
            return Ok(StatusResponse::NoContent);
        }
        let heard = PartialSpeech::parse(
            form.stable_speech_result.as_deref(),
            form.unstable_speech_result.as_deref(),
            form.stability.as_deref(),
        );
        let partial = Partial {
            sequence: hook.sequence,
            stable: heard.stable.as_deref(),
            unstable: heard.unstable.as_deref(),
            stability: heard.stability,
        };
        let deps = Self::turn_deps(&state, Arrival::now(&state.clock), None);
        let outcome = state.turns.partial(deps, sid, &partial);
        tracing::debug!(call_sid = %sid, ?outcome, sequence = ?partial.sequence, "partial result");
        Ok(StatusResponse::NoContent)
    }

    /// Where a held turn continues: Twilio follows the Redirect of a
    /// holding answer here, and gets the reply once the turn is done.
    #[oai(path = "/voice/continue", method = "post")]
    async fn continue_turn(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        let hook = form.parse()?;
        let sid = &hook.call_sid;
        let config = &state.config;
        let Some(done) = state.turns.current(sid).await else {
            return Ok(TwimlResponse::xml(&say_and_listen(
                config,
                "Sorry, I lost track of what you said. Could you say it again?",
            )));
        };
        Ok(
            match turns::wait(done, config.voice.continue_wait()).await {
                Some(outcome) => {
                    Self::to_ledger(&state, sid, &outcome).await;
                    TwimlResponse::xml(&answer(config, &outcome))
                }
                // The turn's deadline ends before the last hold's wait does, so
                // this is reached only if Twilio followed a redirect very late;
                // the turn records its own apology when its deadline passes.
                None if state.turns.note_hold(sid).await > config.voice.max_holds => {
                    tracing::warn!(call_sid = %sid, "turn still running after the last hold; apologising");
                    state.metrics.gave_up();
                    TwimlResponse::xml(&say_and_listen(config, turns::APOLOGY))
                }
                None => {
                    state.metrics.held();
                    TwimlResponse::xml(&hold(config, state.turns.holding_phrase(sid)))
                }
            },
        )
    }

    /// Where a streaming call goes when the caller asked for a person: a
    /// short line, then the <Dial> to TRANSFER_NUMBER.
    #[oai(path = "/voice/transfer", method = "post")]
    async fn transfer(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        let hook = form.parse()?;
        let text = crate::agent::llm::TRANSFER_LINE;
        state
            .sessions
            .record(&hook.call_sid, Role::Assistant, text, None)
            .await;
        let outcome = Outcome {
            text: text.to_owned(),
            end_call: false,
            transfer: true,
            timing: crate::ledger::TurnTiming::default(),
        };
        Ok(TwimlResponse::xml(&answer(&state.config, &outcome)))
    }

    /// How a transfer to a person ended (the <Dial>'s action). When
    /// nobody took the call, the caller is back with the receptionist, who
    /// offers to take a message.
    #[oai(path = "/voice/transfer-status", method = "post")]
    async fn transfer_status(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        let sid = form.parse()?.call_sid;
        let config = &state.config;
        let status = form.dial_call_status.as_deref().unwrap_or("failed").trim();
        state.sessions.end_transfer(&sid, status).await;
        tracing::info!(call_sid = %sid, status, "transfer ended");
        if matches!(status, "completed" | "answered") {
            // The person and the caller talked; the caller's call is done.
            return Ok(TwimlResponse::xml(&twiml::Response::new().hangup()));
        }
        let text = "I'm sorry, nobody could come to the phone right now. \
                    I can take a message and have someone call you back. \
                    What's your name, and what is it about?";
        state
            .sessions
            .record(&sid, Role::Assistant, text, None)
            .await;
        Ok(TwimlResponse::xml(&say_and_listen(config, text)))
    }

    /// What the person who answers a transfer hears before being connected
    /// (the caller does not hear it): who is calling and why.
    #[oai(path = "/voice/transfer-whisper", method = "post")]
    async fn transfer_whisper(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<TwimlResponse, Rejection> {
        form.parse()?;
        let parent = form
            .parent_call_sid
            .as_deref()
            .and_then(|p| CallSid::parse(p).ok());
        let session = match parent {
            Some(p) => state.sessions.snapshot(&p).await,
            None => None,
        };
        let who = session
            .as_ref()
            .and_then(|s| {
                CallerIdentity::parse(s.caller())
                    .phone()
                    .map(crate::agent::speech::digits)
            })
            .map_or_else(|| "a caller".to_owned(), |d| format!("a caller from {d}"));
        let about = session
            .and_then(|s| s.transfer.and_then(|t| t.reason))
            .map(|r| format!(", about {r}"))
            .unwrap_or_default();
        let text = format!(
            "Call from the {} receptionist: {who}{about}. Connecting you now.",
            state.config.business.name
        );
        Ok(TwimlResponse::xml(
            &twiml::Response::new().say(say(&state.config, text)),
        ))
    }

    /// The call's status callback (initiated, ringing, answered, completed, …).
    #[oai(path = "/voice/status", method = "post")]
    async fn status(
        &self,
        state: Data<&AppState>,
        form: Form<VoiceForm>,
    ) -> Result<StatusResponse, Rejection> {
        let hook = form.parse()?;
        let sid = &hook.call_sid;
        let update = StatusUpdate {
            status: hook.details.status,
            sequence: hook.sequence,
            duration_seconds: hook.duration_seconds,
        };
        if let Err(e) = state.sessions.resume(sid).await {
            tracing::warn!(call_sid = %sid, error = %e, "could not look up the call log");
        }
        match state
            .sessions
            .apply_status(
                sid,
                hook.direction_or(Direction::Inbound),
                &hook.details,
                &update,
            )
            .await
        {
            Ok(outcome) => {
                if matches!(outcome, StatusOutcome::Ended(_)) {
                    state.turns.forget(sid).await;
                }
                tracing::info!(call_sid = %sid, ?outcome, "status callback");
            }
            // The session stays live and the idle sweep retries the log.
            Err(e) => tracing::error!(call_sid = %sid, error = %e, "could not write the call log"),
        }
        Ok(StatusResponse::NoContent)
    }
}
