//! `GET /sessions`, `GET /session/{call_sid}` and `GET /sessions/{call_sid}`:
//! live calls and the call log, as JSON transcripts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
    types::Example,
};

use super::{
    error::{ErrorBody, ListError, LookupError},
    example_call_sid,
};
use crate::{
    http::auth::ApiAuth,
    ledger::{LedgerEntry, Summary},
    session::{Effect, Role, Search, Session, ToolCall},
    state::AppState,
    twilio::webhook::CallSid,
};

#[derive(Tags)]
enum ApiTags {
    /// Calls in progress and the log of ended calls.
    Sessions,
}

/// One call in a listing.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SessionSummary {
    /// The called party.
    pub to: Option<String>,
    /// The caller.
    pub from: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Twilio's call status.
    pub status: String,
    /// When the session began.
    pub started_at: DateTime<Utc>,
    /// When the call ended (ended calls only).
    pub ended_at: Option<DateTime<Utc>>,
    /// Entries in the transcript.
    pub message_count: u64,
}

/// Live calls (and, when asked, recently ended ones).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SessionList {
    /// Calls in progress.
    pub active_sessions: u64,
    /// The calls by CallSid.
    pub sessions: BTreeMap<String, SessionSummary>,
}

/// One entry of a transcript.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct TurnView {
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// What was said.
    pub content: String,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Speech-recognition confidence (caller turns).
    pub confidence: Option<f64>,
    /// The tool call, on `tool` entries.
    pub tool: Option<ToolCallView>,
}

/// A tool call the receptionist made, as it ran.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ToolCallView {
    /// The call's id.
    pub id: String,
    /// The tool: `check_availability`, `book_appointment`, `find_appointments`,
    /// `reschedule_appointment`, `cancel_appointment` or `end_call`.
    pub name: String,
    /// The arguments as the agent sent them (JSON text; refused when invalid).
    pub arguments: String,
    /// The result the agent was given.
    pub result: serde_json::Value,
    /// What it changed: `booked`, `moved`, `cancelled` or `message`; absent when nothing.
    pub effect: Option<String>,
}

impl From<&ToolCall> for ToolCallView {
    fn from(c: &ToolCall) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
            result: serde_json::from_str(c.result.get()).unwrap_or_default(),
            effect: c.effect.map(|e| {
                match e {
                    Effect::Booked => "booked",
                    Effect::Moved => "moved",
                    Effect::Cancelled => "cancelled",
                    Effect::Message => "message",
                }
                .to_owned()
            }),
        }
    }
}

/// One call with its transcript.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SessionDetail {
    /// The call's id.
    pub call_sid: String,
    /// The called party.
    pub to: Option<String>,
    /// The caller.
    pub from: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Twilio's call status.
    pub status: String,
    /// When the session began.
    pub started_at: DateTime<Utc>,
    /// When the call ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Call length in seconds (ended calls).
    pub duration_seconds: Option<u64>,
    /// Why the session ended: a final status, or `idle-timeout`.
    pub end_reason: Option<String>,
    /// Answering-machine detection result.
    pub answered_by: Option<String>,
    /// The greeting asked for when the call was placed.
    pub initial_message: Option<String>,
    /// The transcript, oldest first.
    pub conversation_history: Vec<TurnView>,
    /// Confirmation texts sent on this call.
    pub texts: Vec<TextView>,
    /// The caller's transfer to a person, if one was asked for.
    pub transfer: Option<TransferView>,
    /// The latency ledger: one entry per answered caller turn (Gather
    /// calls), oldest first.
    pub ledger: Vec<LedgerEntryView>,
    /// The ledger in brief (absent while it is empty).
    pub latency: Option<LatencySummary>,
}

/// One answered caller turn's latencies. Durations are milliseconds.
#[derive(Debug, Object)]
#[oai(example)]
pub struct LedgerEntryView {
    /// When the webhook with the caller's words arrived.
    pub received_at: DateTime<Utc>,
    /// How long the agent took to reply, its tools and model requests included.
    pub agent_ms: f64,
    /// Time spent waiting for the language model (all its requests; 0 for the built-in agent).
    pub llm_ms: f64,
    /// Model requests sent for this turn, retries included.
    pub llm_requests: u32,
    /// Time the agent's tool calls took (the calendar, mostly).
    pub tool_ms: f64,
    /// Tool calls the agent made.
    pub tool_calls: u32,
    /// Whether the caller heard a holding phrase before the reply.
    pub held: bool,
    /// When the reply was sent to Twilio.
    pub replied_at: DateTime<Utc>,
    /// From the webhook's arrival to the reply: what the caller waited.
    pub total_ms: f64,
    /// Whether the reply came from work started on Twilio's partial
    /// results, before the caller's final words (`SPECULATIVE_TURNS`).
    pub speculative: bool,
    /// How long that work had run when the final words arrived (0 for an
    /// ordinary turn): what speculation saved, at most.
    pub head_start_ms: f64,
    /// Speculations started on this utterance's partial results and
    /// dropped (the words changed or the final words differed): what
    /// speculation cost, about one model request each.
    pub speculations_dropped: u32,
}

/// A call's turn latencies in brief. Durations are milliseconds.
#[derive(Debug, Object)]
#[oai(example)]
pub struct LatencySummary {
    /// Turns in the ledger.
    pub turns: u32,
    /// Median time from a turn's webhook to its reply (the lower median).
    pub p50_ms: f64,
    /// Slowest time from a turn's webhook to its reply.
    pub max_ms: f64,
    /// Turns that were put on hold.
    pub held: u32,
}

impl From<&LedgerEntry> for LedgerEntryView {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            received_at: e.received_at,
            agent_ms: e.agent_ms,
            llm_ms: e.llm_ms,
            llm_requests: e.llm_requests,
            tool_ms: e.tool_ms,
            tool_calls: e.tool_calls,
            held: e.held,
            replied_at: e.replied_at,
            total_ms: e.total_ms,
            speculative: e.speculative,
            head_start_ms: e.head_start_ms,
            speculations_dropped: e.speculations_dropped,
        }
    }
}

/// A confirmation text.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct TextView {
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// What it said.
    pub body: String,
    /// Twilio's message id, when Twilio took it.
    pub sid: Option<String>,
    /// Why it was not sent.
    pub error: Option<String>,
}

/// A transfer to a person.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct TransferView {
    /// When the caller was put through.
    pub at: DateTime<Utc>,
    /// What the caller wanted.
    pub reason: Option<String>,
    /// How the dial ended (`completed`, `busy`, `no-answer`, `failed`, `canceled`); absent while ringing.
    pub outcome: Option<String>,
}

fn example_time(hms: &str) -> DateTime<Utc> {
    format!("2026-11-24T{hms}Z")
        .parse()
        .expect("a valid example time")
}

impl Example for TextView {
    fn example() -> Self {
        Self {
            at: example_time("15:02:05"),
            body: "Acme Dental: your cleaning is booked for Wed Nov 25 at 10:00 AM.".into(),
            sid: Some("SM0123456789abcdef0123456789abcdef".into()),
            error: None,
        }
    }
}

impl Example for TransferView {
    fn example() -> Self {
        Self {
            at: example_time("15:01:30"),
            reason: Some("a billing question".into()),
            outcome: Some("completed".into()),
        }
    }
}

impl Example for SessionSummary {
    fn example() -> Self {
        Self {
            to: Some("+14155550199".into()),
            from: Some("+14155550100".into()),
            direction: "inbound".into(),
            status: "in-progress".into(),
            started_at: example_time("15:00:00"),
            ended_at: None,
            message_count: 3,
        }
    }
}

impl Example for SessionList {
    fn example() -> Self {
        Self {
            active_sessions: 1,
            sessions: BTreeMap::from([(example_call_sid(), SessionSummary::example())]),
        }
    }
}

impl Example for TurnView {
    fn example() -> Self {
        Self {
            role: "user".into(),
            content: "Can I book a cleaning tomorrow at 10?".into(),
            timestamp: example_time("15:00:05"),
            confidence: Some(0.92),
            tool: None,
        }
    }
}

impl Example for ToolCallView {
    fn example() -> Self {
        Self {
            id: "call_1".into(),
            name: "check_availability".into(),
            arguments: r#"{"start":"2026-11-25T10:00"}"#.into(),
            result: serde_json::json!({"available": true}),
            effect: None,
        }
    }
}

impl Example for LedgerEntryView {
    fn example() -> Self {
        Self {
            received_at: example_time("15:00:06"),
            agent_ms: 2.4,
            llm_ms: 0.0,
            llm_requests: 0,
            tool_ms: 1.1,
            tool_calls: 1,
            held: false,
            replied_at: example_time("15:00:06"),
            total_ms: 2.9,
            speculative: false,
            head_start_ms: 0.0,
            speculations_dropped: 0,
        }
    }
}

impl Example for LatencySummary {
    fn example() -> Self {
        Self {
            turns: 1,
            p50_ms: 2.9,
            max_ms: 2.9,
            held: 0,
        }
    }
}

impl Example for SessionDetail {
    fn example() -> Self {
        Self {
            call_sid: example_call_sid(),
            to: Some("+14155550199".into()),
            from: Some("+14155550100".into()),
            direction: "inbound".into(),
            status: "completed".into(),
            started_at: example_time("15:00:00"),
            ended_at: Some(example_time("15:02:10")),
            duration_seconds: Some(130),
            end_reason: Some("completed".into()),
            answered_by: None,
            initial_message: None,
            conversation_history: vec![
                TurnView {
                    role: "assistant".into(),
                    content: "Hello, thanks for calling Acme Dental. How can I help you today?"
                        .into(),
                    timestamp: example_time("15:00:01"),
                    confidence: None,
                    tool: None,
                },
                TurnView::example(),
            ],
            texts: vec![TextView::example()],
            transfer: None,
            ledger: vec![LedgerEntryView::example()],
            latency: Some(LatencySummary::example()),
        }
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

impl From<&Session> for SessionSummary {
    fn from(s: &Session) -> Self {
        Self {
            to: s.to.clone(),
            from: s.from.clone(),
            direction: s.direction.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            started_at: s.started_at,
            ended_at: s.ended_at,
            message_count: s.conversation_history.len() as u64,
        }
    }
}

impl From<Session> for SessionDetail {
    fn from(s: Session) -> Self {
        Self {
            call_sid: s.call_sid.to_string(),
            direction: s.direction.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            conversation_history: s
                .conversation_history
                .iter()
                .map(|t| TurnView {
                    role: role(t.role).to_owned(),
                    content: t.content.to_string(),
                    timestamp: t.timestamp,
                    confidence: t.confidence,
                    tool: t.tool.as_deref().map(ToolCallView::from),
                })
                .collect(),
            texts: s
                .texts
                .into_iter()
                .map(|t| TextView {
                    at: t.at,
                    body: t.body,
                    sid: t.sid,
                    error: t.error,
                })
                .collect(),
            transfer: s.transfer.map(|t| TransferView {
                at: t.at,
                reason: t.reason,
                outcome: t.outcome,
            }),
            ledger: s.ledger.iter().map(LedgerEntryView::from).collect(),
            latency: Summary::of(&s.ledger).map(|l| LatencySummary {
                turns: l.turns,
                p50_ms: l.p50_ms,
                max_ms: l.max_ms,
                held: l.held,
            }),
            to: s.to,
            from: s.from,
            started_at: s.started_at,
            ended_at: s.ended_at,
            duration_seconds: s.duration_seconds,
            end_reason: s.end_reason,
            answered_by: s.answered_by,
            initial_message: s.initial_message,
        }
    }
}

/// The answer for one call.
#[derive(ApiResponse)]
pub enum SessionResponse {
    /// The call, live or from the call log.
    #[oai(status = 200)]
    Ok(Json<SessionDetail>),
}

/// Session routes.
pub struct SessionsApi;

fn example_true() -> Option<bool> {
    Some(true)
}

fn example_limit() -> Option<u32> {
    Some(20)
}

fn example_number() -> Option<String> {
    Some("4155550100".into())
}

fn example_date() -> Option<String> {
    Some("2026-11-23".into())
}

impl SessionsApi {
    /// The call-log search a listing asks for.
    fn search(
        state: &AppState,
        number: Option<&str>,
        date: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Search, &'static str> {
        let digits = match number.map(str::trim).filter(|n| !n.is_empty()) {
            None => None,
            Some(n) => {
                let d = crate::calendar::digits(n);
                if d.is_empty() {
                    return Err("number must contain digits");
                }
                Some(d)
            }
        };
        let (started_from, started_before) = match date.map(str::trim).filter(|d| !d.is_empty()) {
            None => (None, None),
            Some(d) => {
                let day = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| "date must be a date like 2026-11-24")?;
                let s = &state.tools.scheduler();
                let start = |d: NaiveDate| {
                    let midnight = d.and_time(NaiveTime::MIN);
                    s.to_utc(midnight).unwrap_or_else(|| midnight.and_utc())
                };
                (
                    Some(start(day)),
                    Some(start(day + chrono::Duration::days(1))),
                )
            }
        };
        Ok(Search {
            digits,
            started_from,
            started_before,
            limit: limit.unwrap_or(100).min(1000),
        })
    }

    async fn one(state: &AppState, call_sid: &str) -> Result<SessionResponse, LookupError> {
        let not_found = || LookupError::NotFound(ErrorBody::json(format!("no call {call_sid}")));
        let Ok(sid) = CallSid::parse(call_sid) else {
            return Err(not_found());
        };
        match state.sessions.find(&sid).await {
            Ok(Some(s)) => Ok(SessionResponse::Ok(Json(s.into()))),
            Ok(None) => Err(not_found()),
            Err(e) => {
                tracing::error!(error = %e, "call log read failed");
                Err(if e.is_unavailable() {
                    LookupError::Unavailable(ErrorBody::unavailable(
                        "the call log is unavailable right now",
                    ))
                } else {
                    LookupError::Internal(ErrorBody::json("the call log could not be read"))
                })
            }
        }
    }
}

#[OpenApi(tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// Calls in progress, and with include_ended=true the most recently ended calls.
    ///
    /// number and date narrow both to the calls that match.
    #[oai(path = "/sessions", method = "get")]
    async fn list(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        /// Also list ended calls from the call log.
        #[oai(example = "example_true")]
        include_ended: Query<Option<bool>>,
        /// How many ended calls at most, 1 to 1000 (default 100).
        #[oai(
            example = "example_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<Option<u32>>,
        /// Only calls from or to a number containing these digits (`+1 415-555`, `5550100`).
        #[oai(example = "example_number")]
        number: Query<Option<String>>,
        /// Only calls that started on this day, `YYYY-MM-DD` in the business's time zone.
        #[oai(example = "example_date")]
        date: Query<Option<String>>,
    ) -> Result<Json<SessionList>, ListError> {
        let search = Self::search(&state, number.0.as_deref(), date.0.as_deref(), limit.0)
            .map_err(|e| ListError::BadRequest(ErrorBody::json(e)))?;
        let live: Vec<_> = state
            .sessions
            .map_live(|s| {
                search
                    .matches(s)
                    .then(|| (s.call_sid.to_string(), SessionSummary::from(s)))
            })
            .await;
        let active_sessions = live.len() as u64;
        let live = live.into_iter().flatten();
        let mut sessions: BTreeMap<String, SessionSummary> = BTreeMap::new();
        if include_ended.0.unwrap_or(false) {
            let ended = state.sessions.search_ended(&search).await.map_err(|e| {
                tracing::error!(error = %e, "call log read failed");
                if e.is_unavailable() {
                    ListError::Unavailable(ErrorBody::unavailable(
                        "the call log is unavailable right now",
                    ))
                } else {
                    ListError::Internal(ErrorBody::json("the call log could not be read"))
                }
            })?;
            for s in &ended {
                sessions.insert(s.call_sid.to_string(), s.into());
            }
        }
        sessions.extend(live);
        Ok(Json(SessionList {
            active_sessions,
            sessions,
        }))
    }

    /// One call with its transcript (live, or from the call log).
    #[oai(path = "/session/:call_sid", method = "get")]
    async fn get(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        /// The call's id.
        #[oai(example = "example_call_sid")]
        call_sid: Path<String>,
    ) -> Result<SessionResponse, LookupError> {
        Self::one(&state, &call_sid).await
    }

    /// One call with its transcript (the same as GET /session/{call_sid}).
    #[oai(path = "/sessions/:call_sid", method = "get")]
    async fn get_plural(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        /// The call's id.
        #[oai(example = "example_call_sid")]
        call_sid: Path<String>,
    ) -> Result<SessionResponse, LookupError> {
        Self::one(&state, &call_sid).await
    }
}
