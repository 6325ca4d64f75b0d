//! Call sessions: who is on the line and what was said.
//!
//! Live calls sit in a `DashMap` keyed by CallSid, so webhooks of different
//! calls never contend on one lock. Every method takes the map's guard for
//! a few field updates and drops it before returning: no guard is held
//! across an `.await`, and callers get owned snapshots. When a call ends
//! (a final status callback, or no webhook for the idle timeout) the session
//! leaves the map and is written to the [`Archive`], where `GET /session`
//! still finds it after a restart. Memory is bounded by the live calls.

pub mod archive;
pub mod feed;
pub mod live;
pub mod transcript;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use archive::{Archive, ArchiveError, Search};
pub use feed::LiveEvent;
pub use live::{Changed, LiveCalls, MemoryCalls, RedisCalls};
pub use transcript::{Effect, EffectCounts, Role, ToolCall, Turn};

use crate::{
    clock::{Clock, system_clock},
    ledger::LedgerEntry,
    metrics::Metrics,
    shared::SharedError,
    twilio::{
        number::CallerIdentity,
        webhook::{CallDetails, CallSid, CallStatus, Direction},
    },
};

/// The end reason of calls that were live when the server stopped.
pub const SERVER_STOPPED: &str = "server-stopped";

/// One call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Twilio's call id.
    pub call_sid: CallSid,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The caller (`From`).
    pub from: Option<String>,
    /// The called party (`To`).
    pub to: Option<String>,
    /// The latest known status.
    pub status: CallStatus,
    /// When the session began.
    pub started_at: DateTime<Utc>,
    /// The last webhook for this call.
    pub last_activity_at: DateTime<Utc>,
    /// When the call ended.
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Call length in seconds, as Twilio reported it (or measured).
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    /// Why the session ended (`completed`, `busy`, `idle-timeout`, …).
    #[serde(default)]
    pub end_reason: Option<String>,
    /// The greeting asked for when the call was placed.
    #[serde(default)]
    pub initial_message: Option<String>,
    /// Answering-machine detection result.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Silent turns in a row.
    #[serde(default)]
    pub silent_turns: u32,
    /// Highest status-callback `SequenceNumber` applied.
    #[serde(default)]
    pub last_sequence: Option<u32>,
    /// The call runs in streaming mode (Media Streams).
    #[serde(default)]
    pub stream: bool,
    /// Confirmation texts sent on this call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<TextRecord>,
    /// The caller's transfer to a person, if one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// The agent's working memory between turns (e.g. a booking being confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_memory: Option<serde_json::Value>,
    /// The transcript.
    pub conversation_history: Vec<Turn>,
    /// Each answered turn's latencies (Gather calls), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger: Vec<LedgerEntry>,
}

impl Session {
    fn new(call_sid: CallSid, direction: Direction, now: DateTime<Utc>) -> Self {
        Self {
            call_sid,
            direction,
            from: None,
            to: None,
            status: CallStatus::InProgress,
            started_at: now,
            last_activity_at: now,
            ended_at: None,
            duration_seconds: None,
            end_reason: None,
            initial_message: None,
            answered_by: None,
            silent_turns: 0,
            last_sequence: None,
            stream: false,
            texts: Vec::new(),
            transfer: None,
            agent_memory: None,
            conversation_history: Vec::new(),
            ledger: Vec::new(),
        }
    }

    /// The other party's number as Twilio sent it: `From` on inbound
    /// calls, `To` on outbound. [`CallerIdentity::parse`] says whether it
    /// identifies anyone.
    pub fn caller(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => self.from.as_deref(),
            Direction::Outbound => self.to.as_deref(),
        }
    }

    /// A copy without the transcript, ledger and texts.
    pub(crate) fn scalars(&self) -> Self {
        Self {
            call_sid: self.call_sid.clone(),
            direction: self.direction,
            from: self.from.clone(),
            to: self.to.clone(),
            status: self.status,
            started_at: self.started_at,
            last_activity_at: self.last_activity_at,
            ended_at: self.ended_at,
            duration_seconds: self.duration_seconds,
            end_reason: self.end_reason.clone(),
            initial_message: self.initial_message.clone(),
            answered_by: self.answered_by.clone(),
            silent_turns: self.silent_turns,
            last_sequence: self.last_sequence,
            stream: self.stream,
            texts: Vec::new(),
            transfer: self.transfer.clone(),
            agent_memory: self.agent_memory.clone(),
            conversation_history: Vec::new(),
            ledger: Vec::new(),
        }
    }

    /// The feed's event for this call's start or status.
    fn call_event(&self) -> LiveEvent {
        LiveEvent::Call {
            call_sid: self.call_sid.clone(),
            direction: self.direction.as_str(),
            from: self.from.clone(),
            to: self.to.clone(),
            status: self.status.as_str(),
            started_at: self.started_at,
        }
    }

    fn absorb(&mut self, details: &CallDetails) {
        if details.from.is_some() {
            self.from.clone_from(&details.from);
        }
        if details.to.is_some() {
            self.to.clone_from(&details.to);
        }
        if details.answered_by.is_some() {
            self.answered_by.clone_from(&details.answered_by);
        }
        if let Some(status) = details.status
            && !status.is_final()
            && status.rank() >= self.status.rank()
        {
            self.status = status;
        }
    }
}

/// A confirmation text sent (or not) on a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextRecord {
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// What it said.
    pub body: String,
    /// Twilio's message id, when Twilio took it.
    pub sid: Option<String>,
    /// Why it was not sent (Twilio's error and a hint).
    pub error: Option<String>,
}

/// A transfer to a person (`<Dial>` to `TRANSFER_NUMBER`) and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// When the caller was put through.
    pub at: DateTime<Utc>,
    /// What the caller wanted, told to the person who answered.
    pub reason: Option<String>,
    /// Twilio's `DialCallStatus` once the dial ended (`completed`, `busy`,
    /// `no-answer`, `failed`, `canceled`).
    pub outcome: Option<String>,
}

/// A snapshot of what the agent needs for one turn.
#[derive(Debug, Clone, Default)]
pub struct TurnInput {
    /// The transcript so far.
    pub history: Vec<Turn>,
    /// The agent's memory from the previous turn.
    pub memory: Option<serde_json::Value>,
    /// Who the other party is.
    pub caller: CallerIdentity,
}

/// A status callback, as far as sessions care.
#[derive(Debug, Clone, Default)]
pub struct StatusUpdate {
    /// `CallStatus`.
    pub status: Option<CallStatus>,
    /// `SequenceNumber`.
    pub sequence: Option<u32>,
    /// `CallDuration` in seconds.
    pub duration_seconds: Option<u64>,
}

/// What a status callback did to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The status was recorded.
    Updated(CallStatus),
    /// The call ended and went to the call log.
    Ended(CallStatus),
    /// Older than what is known already (arrived out of order).
    Stale,
    /// The call had ended already.
    AlreadyEnded,
}

/// Live sessions and the call log.
///
/// The rules of a call's life live here (status order, silence counts, the
/// call log, the live feed); where live calls are kept is the [`LiveCalls`]
/// chosen at start. A failure of a shared store (Redis) is logged and the
/// webhook goes on with what it has: reads give nothing, writes are lost,
/// the caller still hears an answer. Ending a call is the exception: it
/// reports the failure, and a session that could not be logged stays live.
pub struct SessionStore {
    live: Box<dyn LiveCalls>,
    archive: Archive,
    feed: feed::Feed,
    metrics: Arc<Metrics>,
    clock: Clock,
}

/// Runs a call on the in-process store, which never waits (for tests that
/// drive sessions from synchronous helpers).
#[cfg(test)]
pub(crate) fn at_once<F: std::future::Future>(f: F) -> F::Output {
    futures_util::FutureExt::now_or_never(f).expect("the in-process store answers at once")
}

/// Logs a shared-store failure and goes on with `fallback`.
fn or_log<T>(result: Result<T, SharedError>, call_sid: &CallSid, fallback: T) -> T {
    result.unwrap_or_else(|e| {
        tracing::error!(call_sid = %call_sid, error = %e, "live call store failed");
        fallback
    })
}

impl SessionStore {
    /// A store that keeps live calls in this process and ended calls in `archive`.
    pub fn new(archive: Archive) -> Self {
        Self::with_live(archive, Box::new(MemoryCalls::default()))
    }

    /// A store that keeps live calls in `live` and ended calls in `archive`.
    pub fn with_live(archive: Archive, live: Box<dyn LiveCalls>) -> Self {
        Self {
            live,
            archive,
            feed: feed::Feed::default(),
            metrics: Arc::default(),
            clock: system_clock(),
        }
    }

    /// Takes "now" (activity, idle expiry, end times) from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Counts ended calls in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Watches live calls: every [`LiveEvent`] from now on.
    pub fn watch(&self) -> feed::Watcher {
        self.feed.subscribe()
    }

    /// Ends every watcher's stream (at shutdown).
    pub fn close_watchers(&self) {
        self.feed.close();
    }

    /// Whether the call is live.
    pub async fn is_live(&self, call_sid: &CallSid) -> bool {
        or_log(self.live.contains(call_sid).await, call_sid, false)
    }

    /// Number of live calls.
    pub async fn live_count(&self) -> usize {
        self.live.count().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "live call store failed");
            0
        })
    }

    /// Applies `change` to a live session (creating it from `create` when
    /// given and absent) and publishes the call's event when it was created
    /// or its status changed.
    async fn change(
        &self,
        call_sid: &CallSid,
        create: Option<Session>,
        change: &mut (dyn FnMut(&mut Session) + Send),
    ) -> Result<Changed, SharedError> {
        let watched = self.feed.is_watched();
        let mut last = None;
        let changed = self
            .live
            .change(call_sid, create, &mut |s: &mut Session| {
                let before = s.status;
                change(s);
                // The event is only built when someone watches.
                last = Some((s.status != before, watched.then(|| s.call_event())));
            })
            .await?;
        if let Some((status_changed, Some(event))) = last
            && (changed == Changed::Created || status_changed)
        {
            self.feed.publish(|| event);
        }
        Ok(changed)
    }

    /// Starts a session, or refreshes it with what Twilio says now.
    pub async fn begin(&self, call_sid: &CallSid, direction: Direction, details: &CallDetails) {
        let now = (self.clock)();
        let fresh = Session::new(call_sid.clone(), direction, now);
        let result = self
            .change(call_sid, Some(fresh), &mut |s: &mut Session| {
                s.absorb(details);
                s.last_activity_at = now;
            })
            .await;
        or_log(result.map(drop), call_sid, ());
    }

    /// Brings back a call that was live when the server last stopped, so a
    /// restart in the middle of a call keeps its transcript. Cheap when the
    /// call is live already.
    pub async fn resume(&self, call_sid: &CallSid) -> Result<bool, ArchiveError> {
        // Live calls kept in a shared store are never suspended.
        if self.live.outlives_process() || self.is_live(call_sid).await {
            return Ok(false);
        }
        let Some(mut session) = self.archive.load(call_sid.as_str()).await? else {
            return Ok(false);
        };
        if session.end_reason.as_deref() != Some(SERVER_STOPPED) {
            return Ok(false);
        }
        session.ended_at = None;
        session.end_reason = None;
        session.duration_seconds = None;
        session.last_activity_at = (self.clock)();
        self.feed.publish(|| session.call_event());
        or_log(self.live.put(session).await, call_sid, ());
        Ok(true)
    }

    /// Registers a call placed through the REST API, before Twilio calls back.
    pub async fn begin_outbound(
        &self,
        call_sid: &CallSid,
        from: &str,
        to: &str,
        initial_message: Option<String>,
        stream: bool,
    ) {
        let mut session = Session::new(call_sid.clone(), Direction::Outbound, (self.clock)());
        session.stream = stream;
        session.status = CallStatus::Queued;
        session.from = Some(from.to_owned());
        session.to = Some(to.to_owned());
        session.initial_message = initial_message;
        self.feed.publish(|| session.call_event());
        or_log(self.live.put(session).await, call_sid, ());
    }

    /// The live session without its transcript, ledger and texts.
    async fn scalars(&self, call_sid: &CallSid) -> Option<Session> {
        or_log(self.live.get_recent(call_sid, 0).await, call_sid, None)
    }

    /// Who the other party of a live call is.
    pub async fn caller(&self, call_sid: &CallSid) -> CallerIdentity {
        CallerIdentity::parse(
            self.scalars(call_sid)
                .await
                .as_ref()
                .and_then(Session::caller),
        )
    }

    /// Whether the call was placed in streaming mode.
    pub async fn is_stream(&self, call_sid: &CallSid) -> bool {
        self.scalars(call_sid).await.is_some_and(|s| s.stream)
    }

    /// The greeting asked for when this call was placed, if any.
    pub async fn initial_message(&self, call_sid: &CallSid) -> Option<String> {
        self.scalars(call_sid).await?.initial_message
    }

    /// Appends a turn. Caller speech also resets the silence count.
    pub async fn record(
        &self,
        call_sid: &CallSid,
        role: Role,
        content: &str,
        confidence: Option<f64>,
    ) {
        let turn = Turn::spoken(role, content, confidence, (self.clock)());
        self.append(call_sid, turn, role == Role::User).await;
    }

    /// Appends a tool call that ran.
    pub async fn record_tool(&self, call_sid: &CallSid, call: ToolCall) {
        let turn = Turn::tool(call, (self.clock)());
        self.append(call_sid, turn, false).await;
    }

    async fn append(&self, call_sid: &CallSid, turn: Turn, caller_spoke: bool) {
        let watched = self.feed.is_watched();
        let copy = watched.then(|| turn.clone());
        let index = self.live.append_turn(call_sid, turn, caller_spoke).await;
        if let (Some(Some(index)), Some(turn)) = (or_log(index.map(Some), call_sid, None), copy) {
            self.feed.publish(|| LiveEvent::Said {
                call_sid: call_sid.clone(),
                index,
                turn,
            });
        }
    }

    /// The side effects recorded for a live call so far.
    pub async fn effects(&self, call_sid: &CallSid) -> EffectCounts {
        or_log(
            self.live.get_recent(call_sid, usize::MAX).await,
            call_sid,
            None,
        )
        .map(|s| EffectCounts::of(&s.conversation_history))
        .unwrap_or_default()
    }

    /// Keeps a confirmation text's outcome with the call (live, or already
    /// in the call log).
    pub async fn record_text(&self, call_sid: &CallSid, text: TextRecord) {
        match self.live.append_text(call_sid, text.clone()).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(call_sid = %call_sid, error = %e, "live call store failed");
                return;
            }
        }
        let archive = self.archive.clone();
        let sid = call_sid.clone();
        tokio::spawn(async move {
            match archive.load(sid.as_str()).await {
                Ok(Some(mut logged)) => {
                    logged.texts.push(text);
                    if let Err(e) = archive.save(&logged).await {
                        tracing::warn!(call_sid = %sid, error = %e, "could not log a text's outcome");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(call_sid = %sid, error = %e, "could not log a text's outcome")
                }
            }
        });
    }

    /// Records that the caller is being put through to a person.
    pub async fn begin_transfer(&self, call_sid: &CallSid, reason: Option<String>) {
        let at = (self.clock)();
        let result = self
            .change(call_sid, None, &mut |s: &mut Session| {
                s.transfer = Some(Transfer {
                    at,
                    reason: reason.clone(),
                    outcome: None,
                });
            })
            .await;
        or_log(result.map(drop), call_sid, ());
    }

    /// Records how a transfer ended; returns the transfer.
    pub async fn end_transfer(&self, call_sid: &CallSid, outcome: &str) -> Option<Transfer> {
        let mut ended = None;
        let result = self
            .change(call_sid, None, &mut |s: &mut Session| {
                ended = s.transfer.as_mut().map(|t| {
                    t.outcome = Some(outcome.to_owned());
                    t.clone()
                });
            })
            .await;
        or_log(result.map(drop), call_sid, ());
        ended
    }

    /// Adds a turn's latencies to the call's ledger.
    pub async fn record_latency(&self, call_sid: &CallSid, entry: LedgerEntry) {
        let copy = self.feed.is_watched().then(|| entry.clone());
        let added = or_log(
            self.live.append_ledger(call_sid, entry).await,
            call_sid,
            false,
        );
        if let (true, Some(entry)) = (added, copy) {
            self.feed.publish(|| LiveEvent::Ledger {
                call_sid: call_sid.clone(),
                entry,
            });
        }
    }

    /// Marks the call as active (a streaming call has no webhooks to do it).
    pub async fn touch(&self, call_sid: &CallSid) {
        let result = self.live.touch(call_sid, (self.clock)()).await;
        or_log(result, call_sid, ());
    }

    /// Counts a silent turn and returns how many there have been in a row.
    pub async fn note_silence(&self, call_sid: &CallSid) -> u32 {
        let result = self.live.note_silence(call_sid, (self.clock)()).await;
        or_log(result, call_sid, None).unwrap_or(1)
    }

    /// A copy of the live session.
    pub async fn snapshot(&self, call_sid: &CallSid) -> Option<Session> {
        or_log(self.live.get(call_sid).await, call_sid, None)
    }

    /// What the agent needs for a turn: the conversation so far (cheap:
    /// turn texts are shared, not copied), its memory, and the other
    /// party's number.
    pub async fn turn_input(&self, call_sid: &CallSid, window: usize) -> TurnInput {
        let recent = self.live.get_recent(call_sid, window).await;
        or_log(recent, call_sid, None)
            .map(|s| TurnInput {
                caller: CallerIdentity::parse(s.caller()),
                history: s.conversation_history,
                memory: s.agent_memory,
            })
            .unwrap_or_default()
    }

    /// Records the caller's words and returns what the agent needs for the
    /// turn they start ([`Self::record`], then [`Self::turn_input`], in one
    /// request to a shared store). `None` when the call is not live (or the
    /// store failed).
    pub async fn record_and_input(
        &self,
        call_sid: &CallSid,
        words: &str,
        confidence: Option<f64>,
        window: usize,
    ) -> Option<TurnInput> {
        let turn = Turn::spoken(Role::User, words, confidence, (self.clock)());
        let copy = self.feed.is_watched().then(|| turn.clone());
        let read = self.live.append_and_read(call_sid, turn, window).await;
        let (index, s) = or_log(read, call_sid, None)?;
        if let Some(turn) = copy {
            self.feed.publish(|| LiveEvent::Said {
                call_sid: call_sid.clone(),
                index,
                turn,
            });
        }
        Some(TurnInput {
            caller: CallerIdentity::parse(s.caller()),
            history: s.conversation_history,
            memory: s.agent_memory,
        })
    }

    /// Records the agent's reply, and its new memory when it changed
    /// (`Some`), in one request to a shared store.
    pub async fn record_reply(
        &self,
        call_sid: &CallSid,
        text: &str,
        memory: Option<Option<serde_json::Value>>,
    ) {
        let turn = Turn::spoken(Role::Assistant, text, None, (self.clock)());
        let copy = self.feed.is_watched().then(|| turn.clone());
        let index = self.live.append_reply(call_sid, turn, memory).await;
        if let (Some(Some(index)), Some(turn)) = (or_log(index.map(Some), call_sid, None), copy) {
            self.feed.publish(|| LiveEvent::Said {
                call_sid: call_sid.clone(),
                index,
                turn,
            });
        }
    }

    /// `f` of every live session, without copying transcripts in memory.
    pub async fn map_live<T: Send>(&self, f: impl Fn(&Session) -> T + Send + Sync) -> Vec<T> {
        let mut out = Vec::new();
        let result = self.live.for_each(&mut |s: &Session| out.push(f(s))).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "live call store failed");
        }
        out
    }

    /// A live or ended call.
    pub async fn find(&self, call_sid: &CallSid) -> Result<Option<Session>, ArchiveError> {
        if let Some(s) = self.snapshot(call_sid).await {
            return Ok(Some(s));
        }
        self.archive.load(call_sid.as_str()).await
    }

    /// Ended calls matching `search`, newest first.
    pub async fn search_ended(&self, search: &Search) -> Result<Vec<Session>, ArchiveError> {
        self.archive.search(search).await
    }

    /// The most recently ended calls.
    pub async fn ended(&self, limit: u32) -> Result<Vec<Session>, ArchiveError> {
        self.archive.recent(limit).await
    }

    /// Applies a status callback, ignoring ones that arrive out of order, and
    /// moves the call to the log when the status is final.
    pub async fn apply_status(
        &self,
        call_sid: &CallSid,
        direction: Direction,
        details: &CallDetails,
        update: &StatusUpdate,
    ) -> Result<StatusOutcome, ArchiveError> {
        let Some(status) = update.status else {
            self.begin(call_sid, direction, details).await;
            return Ok(StatusOutcome::Stale);
        };
        if !self.is_live(call_sid).await
            && let Some(mut logged) = self.archive.load(call_sid.as_str()).await?
        {
            // A call whose stream or session ended first still gets Twilio's
            // final status and duration in the log.
            if status.is_final() && !logged.status.is_final() {
                logged.status = status;
                logged.duration_seconds = update.duration_seconds.or(logged.duration_seconds);
                self.archive.save(&logged).await?;
            }
            return Ok(StatusOutcome::AlreadyEnded);
        }
        let now = (self.clock)();
        let mut outcome = StatusOutcome::Stale;
        let fresh = Session::new(call_sid.clone(), direction, now);
        let result = self
            .change(call_sid, Some(fresh), &mut |s: &mut Session| {
                s.absorb(details);
                s.last_activity_at = now;
                let newer = match (update.sequence, s.last_sequence) {
                    (Some(new), Some(old)) => new > old,
                    _ => true,
                };
                if !status.is_final() {
                    outcome = if !newer || status.rank() < s.status.rank() {
                        StatusOutcome::Stale
                    } else {
                        s.status = status;
                        s.last_sequence = update.sequence.or(s.last_sequence);
                        StatusOutcome::Updated(status)
                    };
                    return;
                }
                s.status = status;
                s.last_sequence = update.sequence.or(s.last_sequence);
                s.duration_seconds = update.duration_seconds;
                outcome = StatusOutcome::Ended(status);
            })
            .await;
        or_log(result.map(drop), call_sid, ());
        if let StatusOutcome::Ended(status) = outcome {
            self.end(call_sid, status.as_str()).await?;
        }
        Ok(outcome)
    }

    /// Ends a live call: it leaves the live calls and goes to the call log.
    /// If the log cannot be written the session stays live, so nothing is
    /// lost.
    pub async fn end(&self, call_sid: &CallSid, reason: &str) -> Result<(), ArchiveError> {
        self.end_live(call_sid, reason).await.map(drop)
    }

    /// [`Self::end`]; false when the call was not live (or another
    /// instance ended it first).
    async fn end_live(&self, call_sid: &CallSid, reason: &str) -> Result<bool, ArchiveError> {
        let taken = self.live.take(call_sid).await;
        let Some(mut session) = or_log(taken, call_sid, None) else {
            return Ok(false);
        };
        let now = (self.clock)();
        session.ended_at = Some(now);
        session.end_reason = Some(reason.to_owned());
        if session.duration_seconds.is_none() {
            let secs = (now - session.started_at).num_seconds().max(0);
            session.duration_seconds = Some(u64::try_from(secs).unwrap_or(0));
        }
        if let Err(e) = self.archive.save(&session).await {
            session.ended_at = None;
            session.end_reason = None;
            or_log(self.live.put(session).await, call_sid, ());
            return Err(e);
        }
        self.metrics.call_ended(reason);
        self.feed.publish(|| LiveEvent::Ended {
            call_sid: call_sid.clone(),
            reason: reason.to_owned(),
        });
        Ok(true)
    }

    /// Ends every session idle for longer than `idle`; returns how many.
    pub async fn expire_idle(&self, idle: Duration) -> usize {
        let cutoff = (self.clock)() - chrono::Duration::from_std(idle).unwrap_or_default();
        let stale = self.live.idle_since(cutoff).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "live call store failed");
            Vec::new()
        });
        let mut ended = 0;
        for sid in stale {
            match self.end_live(&sid, "idle-timeout").await {
                Ok(true) => ended += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(call_sid = %sid, error = %e, "could not log an idle call")
                }
            }
        }
        ended
    }

    /// Moves every live session to the log (on shutdown); [`Self::resume`]
    /// brings one back if its call goes on after a restart. Live calls kept
    /// in a shared store stay there for the other instances.
    pub async fn suspend_all(&self) {
        if self.live.outlives_process() {
            return;
        }
        let reason = SERVER_STOPPED;
        let sids = self.live.all().await.unwrap_or_default();
        for sid in sids {
            if let Err(e) = self.end(&sid, reason).await {
                tracing::error!(call_sid = %sid, error = %e, "could not log a call at shutdown");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: u8) -> CallSid {
        CallSid::parse(&format!("CA{:032x}", n)).unwrap()
    }

    fn store() -> (SessionStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (SessionStore::new(Archive::open(dir.path()).unwrap()), dir)
    }

    fn status(s: CallStatus, seq: u32) -> StatusUpdate {
        StatusUpdate {
            status: Some(s),
            sequence: Some(seq),
            duration_seconds: Some(42),
        }
    }

    #[tokio::test]
    async fn out_of_order_callbacks_never_move_status_backwards() {
        let (store, _dir) = store();
        let sid = sid(1);
        store
            .begin_outbound(&sid, "+15550000000", "+15551111111", None, false)
            .await;
        let d = CallDetails::default();
        let dir = Direction::Outbound;
        assert_eq!(
            store
                .apply_status(&sid, dir, &d, &status(CallStatus::InProgress, 2))
                .await
                .unwrap(),
            StatusOutcome::Updated(CallStatus::InProgress)
        );
        assert_eq!(
            store
                .apply_status(&sid, dir, &d, &status(CallStatus::Ringing, 1))
                .await
                .unwrap(),
            StatusOutcome::Stale
        );
        assert_eq!(
            store.snapshot(&sid).await.unwrap().status,
            CallStatus::InProgress
        );
        assert_eq!(
            store
                .apply_status(&sid, dir, &d, &status(CallStatus::Completed, 3))
                .await
                .unwrap(),
            StatusOutcome::Ended(CallStatus::Completed)
        );
        assert_eq!(store.live_count().await, 0);
        let logged = store.find(&sid).await.unwrap().unwrap();
        assert_eq!(logged.status, CallStatus::Completed);
        assert_eq!(logged.duration_seconds, Some(42));
        assert_eq!(
            store
                .apply_status(&sid, dir, &d, &status(CallStatus::Completed, 3))
                .await
                .unwrap(),
            StatusOutcome::AlreadyEnded
        );
    }

    #[tokio::test]
    async fn idle_sessions_expire_into_the_log() {
        let (store, _dir) = store();
        store
            .begin(&sid(2), Direction::Inbound, &CallDetails::default())
            .await;
        store.record(&sid(2), Role::User, "hello", Some(0.9)).await;
        assert_eq!(store.expire_idle(Duration::from_secs(60)).await, 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.expire_idle(Duration::from_millis(1)).await, 1);
        assert_eq!(store.live_count().await, 0);
        let s = store.find(&sid(2)).await.unwrap().unwrap();
        assert_eq!(s.end_reason.as_deref(), Some("idle-timeout"));
        assert_eq!(&*s.conversation_history[0].content, "hello");
    }

    #[tokio::test]
    async fn speech_resets_the_silence_count() {
        let (store, _dir) = store();
        store
            .begin(&sid(3), Direction::Inbound, &CallDetails::default())
            .await;
        assert_eq!(store.note_silence(&sid(3)).await, 1);
        assert_eq!(store.note_silence(&sid(3)).await, 2);
        store.record(&sid(3), Role::User, "hi", None).await;
        assert_eq!(store.note_silence(&sid(3)).await, 1);
    }

    #[tokio::test]
    async fn calls_live_at_shutdown_resume_with_their_transcript() {
        let (store, dir) = store();
        store
            .begin(&sid(4), Direction::Inbound, &CallDetails::default())
            .await;
        store
            .record(&sid(4), Role::User, "before the restart", None)
            .await;
        store.suspend_all().await;
        assert_eq!(store.live_count().await, 0);
        let again = SessionStore::new(Archive::open(dir.path()).unwrap());
        assert!(again.resume(&sid(4)).await.unwrap());
        let s = again.snapshot(&sid(4)).await.unwrap();
        assert!(s.end_reason.is_none() && s.ended_at.is_none());
        assert_eq!(&*s.conversation_history[0].content, "before the restart");
        assert!(!again.resume(&sid(4)).await.unwrap(), "already live");
        // A call that really ended stays ended.
        again.end(&sid(4), "completed").await.unwrap();
        assert!(!again.resume(&sid(4)).await.unwrap());
    }
}
