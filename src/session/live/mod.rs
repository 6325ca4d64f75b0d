//! Where live calls are kept: this process's memory, or Redis.
//!
//! [`LiveCalls`] is the seam: the [`super::SessionStore`] decides what a
//! webhook does to a session (the rules: status order, silence counts, the
//! call log), a `LiveCalls` only keeps sessions and changes them as told.
//! It is chosen once at start: [`MemoryCalls`] when `REDIS_URL` is unset (a
//! concurrent map; nothing leaves the process), [`RedisCalls`] when it is
//! set, so any instance behind a load balancer finds any call.
//!
//! A change is a closure over the session's scalar fields, applied
//! atomically: under the map's entry guard in memory, as a compare-and-set
//! retried on conflict in Redis. Transcript turns, ledger entries and texts
//! are appended, never rewritten, so two instances appending to one call
//! lose nothing.

mod in_redis;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use in_redis::RedisCalls;
pub use memory::MemoryCalls;

use super::{LedgerEntry, Session, TextRecord, Turn};
use crate::{shared::SharedError, twilio::webhook::CallSid};

/// What happened to the session a change was meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// It was not live (and nothing was created).
    Missing,
    /// It was created from the given session, then changed.
    Created,
    /// It was changed.
    Updated,
}

/// A change to a session's scalar fields (not its lists). It may run more
/// than once when another instance changed the call at the same moment, so
/// it must only depend on the session it is given.
pub type Change<'a> = dyn FnMut(&mut Session) + Send + 'a;

/// A look at each live session.
pub type Visit<'a> = dyn for<'s> FnMut(&'s Session) + Send + 'a;

/// Keeps live sessions.
#[async_trait]
pub trait LiveCalls: Send + Sync {
    /// Whether the call is live.
    async fn contains(&self, sid: &CallSid) -> Result<bool, SharedError>;

    /// Number of live calls.
    async fn count(&self) -> Result<usize, SharedError>;

    /// Applies `change` to the live session; when there is none and
    /// `create` is given, starts from `create` (an insert-if-absent).
    async fn change(
        &self,
        sid: &CallSid,
        create: Option<Session>,
        change: &mut Change<'_>,
    ) -> Result<Changed, SharedError>;

    /// Puts `session` in place of whatever is kept for its call.
    async fn put(&self, session: Session) -> Result<(), SharedError>;

    /// Appends a turn, stamps the call's activity and, for the caller's
    /// speech, resets the silence count. The turn's index, `None` when the
    /// call is not live.
    async fn append_turn(
        &self,
        sid: &CallSid,
        turn: Turn,
        caller_spoke: bool,
    ) -> Result<Option<usize>, SharedError>;

    /// [`Self::append_turn`] of the caller's words, then
    /// [`Self::get_recent`]: what a turn starts with, in one step where
    /// the store can.
    async fn append_and_read(
        &self,
        sid: &CallSid,
        turn: Turn,
        window: usize,
    ) -> Result<Option<(usize, Session)>, SharedError> {
        let Some(index) = self.append_turn(sid, turn, true).await? else {
            return Ok(None);
        };
        Ok(self.get_recent(sid, window).await?.map(|s| (index, s)))
    }

    /// Keeps the agent's new memory (when `memory` is `Some`) and appends
    /// its reply: what a turn ends with, in one step where the store can.
    /// The reply's index, `None` when the call is not live.
    async fn append_reply(
        &self,
        sid: &CallSid,
        turn: Turn,
        memory: Option<Option<serde_json::Value>>,
    ) -> Result<Option<usize>, SharedError> {
        if let Some(memory) = memory {
            self.set_memory(sid, memory).await?;
        }
        self.append_turn(sid, turn, false).await
    }

    /// Appends a ledger entry; false when the call is not live.
    async fn append_ledger(&self, sid: &CallSid, entry: LedgerEntry) -> Result<bool, SharedError>;

    /// Appends a text record; false when the call is not live.
    async fn append_text(&self, sid: &CallSid, text: TextRecord) -> Result<bool, SharedError>;

    /// Stamps the call's activity.
    async fn touch(&self, sid: &CallSid, now: DateTime<Utc>) -> Result<(), SharedError>;

    /// Counts a silent turn; how many in a row, `None` when not live.
    async fn note_silence(
        &self,
        sid: &CallSid,
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, SharedError>;

    /// Keeps the agent's memory for the next turn.
    async fn set_memory(
        &self,
        sid: &CallSid,
        memory: Option<serde_json::Value>,
    ) -> Result<(), SharedError>;

    /// The whole session.
    async fn get(&self, sid: &CallSid) -> Result<Option<Session>, SharedError>;

    /// The session with only its last `window` turns of transcript (and no
    /// ledger or texts): what a turn needs.
    async fn get_recent(
        &self,
        sid: &CallSid,
        window: usize,
    ) -> Result<Option<Session>, SharedError>;

    /// `f` of every live session (transcripts included).
    async fn for_each(&self, f: &mut Visit<'_>) -> Result<(), SharedError>;

    /// Takes the session out, for the call log; `None` when it is not live
    /// or another instance took it first.
    async fn take(&self, sid: &CallSid) -> Result<Option<Session>, SharedError>;

    /// Calls whose last activity is before `cutoff`.
    async fn idle_since(&self, cutoff: DateTime<Utc>) -> Result<Vec<CallSid>, SharedError>;

    /// Every live call.
    async fn all(&self) -> Result<Vec<CallSid>, SharedError>;

    /// Whether live calls outlive this process (kept elsewhere): then a
    /// stopping instance leaves them to the others instead of logging them.
    fn outlives_process(&self) -> bool;
}
