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
pub mod transcript;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

pub use archive::{Archive, ArchiveError, Search};
pub use feed::LiveEvent;
pub use transcript::{Effect, EffectCounts, Role, ToolCall, Turn};

use crate::{
    clock::{Clock, system_clock},
    ledger::LedgerEntry,
    metrics::Metrics,
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
pub struct SessionStore {
    live: DashMap<CallSid, Session>,
    archive: Archive,
    feed: feed::Feed,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl SessionStore {
    /// A store whose ended calls go to `archive`.
    pub fn new(archive: Archive) -> Self {
        Self {
            live: DashMap::new(),
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
    pub fn is_live(&self, call_sid: &CallSid) -> bool {
        self.live.contains_key(call_sid)
    }

    /// Number of live calls.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Starts a session, or refreshes it with what Twilio says now.
    pub fn begin(&self, call_sid: &CallSid, direction: Direction, details: &CallDetails) {
        let now = (self.clock)();
        let mut created = false;
        let mut entry = self.live.entry(call_sid.clone()).or_insert_with(|| {
            created = true;
            Session::new(call_sid.clone(), direction, now)
        });
        let before = entry.status;
        entry.absorb(details);
        entry.last_activity_at = now;
        if created || entry.status != before {
            self.feed.publish(|| entry.call_event());
        }
    }

    /// Brings back a call that was live when the server last stopped, so a
    /// restart in the middle of a call keeps its transcript. Cheap when the
    /// call is live already.
    pub async fn resume(&self, call_sid: &CallSid) -> Result<bool, ArchiveError> {
        if self.live.contains_key(call_sid) {
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
        self.live.entry(call_sid.clone()).or_insert(session);
        Ok(true)
    }

    /// Registers a call placed through the REST API, before Twilio calls back.
    pub fn begin_outbound(
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
        self.live.insert(call_sid.clone(), session);
    }

    /// Who the other party of a live call is.
    pub fn caller(&self, call_sid: &CallSid) -> CallerIdentity {
        CallerIdentity::parse(self.live.get(call_sid).as_deref().and_then(Session::caller))
    }

    /// Whether the call was placed in streaming mode.
    pub fn is_stream(&self, call_sid: &CallSid) -> bool {
        self.live.get(call_sid).is_some_and(|s| s.stream)
    }

    /// The greeting asked for when this call was placed, if any.
    pub fn initial_message(&self, call_sid: &CallSid) -> Option<String> {
        self.live.get(call_sid)?.initial_message.clone()
    }

    /// Appends a turn. Caller speech also resets the silence count.
    pub fn record(&self, call_sid: &CallSid, role: Role, content: &str, confidence: Option<f64>) {
        let now = (self.clock)();
        if let Some(mut s) = self.live.get_mut(call_sid) {
            if role == Role::User {
                s.silent_turns = 0;
            }
            s.last_activity_at = now;
            let turn = Turn::spoken(role, content, confidence, now);
            self.feed.publish(|| LiveEvent::Said {
                call_sid: call_sid.clone(),
                index: s.conversation_history.len(),
                turn: turn.clone(),
            });
            s.conversation_history.push(turn);
        }
    }

    /// Appends a tool call that ran.
    pub fn record_tool(&self, call_sid: &CallSid, call: ToolCall) {
        let now = (self.clock)();
        if let Some(mut s) = self.live.get_mut(call_sid) {
            s.last_activity_at = now;
            let turn = Turn::tool(call, now);
            self.feed.publish(|| LiveEvent::Said {
                call_sid: call_sid.clone(),
                index: s.conversation_history.len(),
                turn: turn.clone(),
            });
            s.conversation_history.push(turn);
        }
    }

    /// The side effects recorded for a live call so far.
    pub fn effects(&self, call_sid: &CallSid) -> EffectCounts {
        self.live
            .get(call_sid)
            .map(|s| EffectCounts::of(&s.conversation_history))
            .unwrap_or_default()
    }

    /// Keeps a confirmation text's outcome with the call (live, or already
    /// in the call log).
    pub fn record_text(&self, call_sid: &CallSid, text: TextRecord) {
        if let Some(mut s) = self.live.get_mut(call_sid) {
            s.texts.push(text);
            return;
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
    pub fn begin_transfer(&self, call_sid: &CallSid, reason: Option<String>) {
        if let Some(mut s) = self.live.get_mut(call_sid) {
            s.transfer = Some(Transfer {
                at: (self.clock)(),
                reason,
                outcome: None,
            });
        }
    }

    /// Records how a transfer ended; returns the transfer.
    pub fn end_transfer(&self, call_sid: &CallSid, outcome: &str) -> Option<Transfer> {
        let mut s = self.live.get_mut(call_sid)?;
        let t = s.transfer.as_mut()?;
        t.outcome = Some(outcome.to_owned());
        Some(t.clone())
    }

    /// Adds a turn's latencies to the call's ledger.
    pub fn record_latency(&self, call_sid: &CallSid, entry: LedgerEntry) {
        if let Some(mut s) = self.live.get_mut(call_sid) {
            self.feed.publish(|| LiveEvent::Ledger {
                call_sid: call_sid.clone(),
                entry: entry.clone(),
            });
            s.ledger.push(entry);
        }
    }

    /// Marks the call as active (a streaming call has no webhooks to do it).
    pub fn touch(&self, call_sid: &CallSid) {
        if let Some(mut s) = self.live.get_mut(call_sid) {
            s.last_activity_at = (self.clock)();
        }
    }

    /// Counts a silent turn and returns how many there have been in a row.
    pub fn note_silence(&self, call_sid: &CallSid) -> u32 {
        match self.live.get_mut(call_sid) {
            Some(mut s) => {
                s.silent_turns += 1;
                s.last_activity_at = (self.clock)();
                s.silent_turns
            }
            None => 1,
        }
    }

    /// A copy of the live session.
    pub fn snapshot(&self, call_sid: &CallSid) -> Option<Session> {
        self.live.get(call_sid).map(|s| s.clone())
    }

    /// What the agent needs for a turn: the conversation so far (cheap:
    /// turn texts are shared, not copied), its memory, and the other
    /// party's number.
    pub fn turn_input(&self, call_sid: &CallSid, window: usize) -> TurnInput {
        self.live
            .get(call_sid)
            .map(|s| TurnInput {
                history: {
                    let h = &s.conversation_history;
                    h[h.len().saturating_sub(window)..].to_vec()
                },
                memory: s.agent_memory.clone(),
                caller: CallerIdentity::parse(s.caller()),
            })
            .unwrap_or_default()
    }

    /// Keeps the agent's memory for the next turn.
    pub fn set_memory(&self, call_sid: &CallSid, memory: Option<serde_json::Value>) {
        if let Some(mut s) = self.live.get_mut(call_sid) {
            s.agent_memory = memory;
        }
    }

    /// `f` of every live session, without copying transcripts.
    pub fn map_live<T>(&self, f: impl Fn(&Session) -> T) -> Vec<T> {
        self.live.iter().map(|s| f(s.value())).collect()
    }

    /// A live or ended call.
    pub async fn find(&self, call_sid: &CallSid) -> Result<Option<Session>, ArchiveError> {
        if let Some(s) = self.snapshot(call_sid) {
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
            self.begin(call_sid, direction, details);
            return Ok(StatusOutcome::Stale);
        };
        if !self.live.contains_key(call_sid)
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
        {
            let now = (self.clock)();
            let mut s = self
                .live
                .entry(call_sid.clone())
                .or_insert_with(|| Session::new(call_sid.clone(), direction, now));
            s.absorb(details);
            s.last_activity_at = now;
            let newer = match (update.sequence, s.last_sequence) {
                (Some(new), Some(old)) => new > old,
                _ => true,
            };
            if !status.is_final() {
                if !newer || status.rank() < s.status.rank() {
                    return Ok(StatusOutcome::Stale);
                }
                s.status = status;
                s.last_sequence = update.sequence.or(s.last_sequence);
                self.feed.publish(|| s.call_event());
                return Ok(StatusOutcome::Updated(status));
            }
            s.status = status;
            s.last_sequence = update.sequence.or(s.last_sequence);
            s.duration_seconds = update.duration_seconds;
        }
        self.end(call_sid, status.as_str()).await?;
        Ok(StatusOutcome::Ended(status))
    }

    /// Ends a live call: it leaves the map and goes to the call log. If the
    /// log cannot be written the session stays live, so nothing is lost.
    pub async fn end(&self, call_sid: &CallSid, reason: &str) -> Result<(), ArchiveError> {
        let Some((_, mut session)) = self.live.remove(call_sid) else {
            return Ok(());
        };
        let now = (self.clock)();
        session.ended_at = Some(now);
        session.end_reason = Some(reason.to_owned());
        if session.duration_seconds.is_none() {
            let secs = (now - session.started_at).num_seconds().max(0);
            session.duration_seconds = Some(u64::try_from(secs).unwrap_or(0));
        }
        if let Err(e) = self.archive.save(&session).await {
            self.live.insert(call_sid.clone(), session);
            return Err(e);
        }
        self.metrics.call_ended(reason);
        self.feed.publish(|| LiveEvent::Ended {
            call_sid: call_sid.clone(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// Ends every session idle for longer than `idle`; returns how many.
    pub async fn expire_idle(&self, idle: Duration) -> usize {
        let cutoff = (self.clock)() - chrono::Duration::from_std(idle).unwrap_or_default();
        let stale: Vec<CallSid> = self
            .live
            .iter()
            .filter(|s| s.last_activity_at < cutoff)
            .map(|s| s.key().clone())
            .collect();
        let mut ended = 0;
        for sid in stale {
            match self.end(&sid, "idle-timeout").await {
                Ok(()) => ended += 1,
                Err(e) => {
                    tracing::error!(call_sid = %sid, error = %e, "could not log an idle call")
                }
            }
        }
        ended
    }

    /// Moves every live session to the log (on shutdown); [`Self::resume`]
    /// brings one back if its call goes on after a restart.
    pub async fn suspend_all(&self) {
        let reason = SERVER_STOPPED;
        let sids: Vec<CallSid> = self.live.iter().map(|s| s.key().clone()).collect();
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
        store.begin_outbound(&sid, "+15550000000", "+15551111111", None, false);
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
        assert_eq!(store.snapshot(&sid).unwrap().status, CallStatus::InProgress);
        assert_eq!(
            store
                .apply_status(&sid, dir, &d, &status(CallStatus::Completed, 3))
                .await
                .unwrap(),
            StatusOutcome::Ended(CallStatus::Completed)
        );
        assert_eq!(store.live_count(), 0);
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
        store.begin(&sid(2), Direction::Inbound, &CallDetails::default());
        store.record(&sid(2), Role::User, "hello", Some(0.9));
        assert_eq!(store.expire_idle(Duration::from_secs(60)).await, 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.expire_idle(Duration::from_millis(1)).await, 1);
        assert_eq!(store.live_count(), 0);
        let s = store.find(&sid(2)).await.unwrap().unwrap();
        assert_eq!(s.end_reason.as_deref(), Some("idle-timeout"));
        assert_eq!(&*s.conversation_history[0].content, "hello");
    }

    #[tokio::test]
    async fn speech_resets_the_silence_count() {
        let (store, _dir) = store();
        store.begin(&sid(3), Direction::Inbound, &CallDetails::default());
        assert_eq!(store.note_silence(&sid(3)), 1);
        assert_eq!(store.note_silence(&sid(3)), 2);
        store.record(&sid(3), Role::User, "hi", None);
        assert_eq!(store.note_silence(&sid(3)), 1);
    }

    #[tokio::test]
    async fn calls_live_at_shutdown_resume_with_their_transcript() {
        let (store, dir) = store();
        store.begin(&sid(4), Direction::Inbound, &CallDetails::default());
        store.record(&sid(4), Role::User, "before the restart", None);
        store.suspend_all().await;
        assert_eq!(store.live_count(), 0);
        let again = SessionStore::new(Archive::open(dir.path()).unwrap());
        assert!(again.resume(&sid(4)).await.unwrap());
        let s = again.snapshot(&sid(4)).unwrap();
        assert!(s.end_reason.is_none() && s.ended_at.is_none());
        assert_eq!(&*s.conversation_history[0].content, "before the restart");
        assert!(!again.resume(&sid(4)).await.unwrap(), "already live");
        // A call that really ended stays ended.
        again.end(&sid(4), "completed").await.unwrap();
        assert!(!again.resume(&sid(4)).await.unwrap());
    }
}
