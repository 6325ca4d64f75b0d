//! Live calls in this process's memory (no `REDIS_URL`).
//!
//! A `DashMap` keyed by CallSid, so webhooks of different calls never
//! contend on one lock. Every method takes the map's guard for a few field
//! updates and drops it before returning: no guard is held across an
//! `.await` (none of these methods awaits), and callers get owned copies.
//! Memory is bounded by the live calls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::{DashMap, mapref::entry::Entry};

use super::{Change, Changed, LiveCalls, Visit};
use crate::{
    session::{LedgerEntry, Session, TextRecord, Turn},
    shared::SharedError,
    twilio::webhook::CallSid,
};

/// Live calls in a concurrent map.
#[derive(Default)]
pub struct MemoryCalls {
    live: DashMap<CallSid, Session>,
}

#[async_trait]
impl LiveCalls for MemoryCalls {
    async fn contains(&self, sid: &CallSid) -> Result<bool, SharedError> {
        Ok(self.live.contains_key(sid))
    }

    async fn count(&self) -> Result<usize, SharedError> {
        Ok(self.live.len())
    }

    async fn change(
        &self,
        sid: &CallSid,
        create: Option<Session>,
        change: &mut Change<'_>,
    ) -> Result<Changed, SharedError> {
        match self.live.entry(sid.clone()) {
            Entry::Occupied(mut s) => {
                change(s.get_mut());
                Ok(Changed::Updated)
            }
            Entry::Vacant(v) => match create {
                Some(mut session) => {
                    change(&mut session);
                    v.insert(session);
                    Ok(Changed::Created)
                }
                None => Ok(Changed::Missing),
            },
        }
    }

    async fn put(&self, session: Session) -> Result<(), SharedError> {
        self.live.insert(session.call_sid.clone(), session);
        Ok(())
    }

    async fn append_turn(
        &self,
        sid: &CallSid,
        turn: Turn,
        caller_spoke: bool,
    ) -> Result<Option<usize>, SharedError> {
        Ok(self.live.get_mut(sid).map(|mut s| {
            if caller_spoke {
                s.silent_turns = 0;
            }
            s.last_activity_at = turn.timestamp;
            s.conversation_history.push(turn);
            s.conversation_history.len() - 1
        }))
    }

    async fn append_ledger(&self, sid: &CallSid, entry: LedgerEntry) -> Result<bool, SharedError> {
        Ok(self
            .live
            .get_mut(sid)
            .map(|mut s| s.ledger.push(entry))
            .is_some())
    }

    async fn append_text(&self, sid: &CallSid, text: TextRecord) -> Result<bool, SharedError> {
        Ok(self
            .live
            .get_mut(sid)
            .map(|mut s| s.texts.push(text))
            .is_some())
    }

    async fn touch(&self, sid: &CallSid, now: DateTime<Utc>) -> Result<(), SharedError> {
        if let Some(mut s) = self.live.get_mut(sid) {
            s.last_activity_at = now;
        }
        Ok(())
    }

    async fn note_silence(
        &self,
        sid: &CallSid,
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, SharedError> {
        Ok(self.live.get_mut(sid).map(|mut s| {
            s.silent_turns += 1;
            s.last_activity_at = now;
            s.silent_turns
        }))
    }

    async fn set_memory(
        &self,
        sid: &CallSid,
        memory: Option<serde_json::Value>,
    ) -> Result<(), SharedError> {
        if let Some(mut s) = self.live.get_mut(sid) {
            s.agent_memory = memory;
        }
        Ok(())
    }

    async fn get(&self, sid: &CallSid) -> Result<Option<Session>, SharedError> {
        Ok(self.live.get(sid).map(|s| s.clone()))
    }

    async fn get_recent(
        &self,
        sid: &CallSid,
        window: usize,
    ) -> Result<Option<Session>, SharedError> {
        // Copies only the scalar fields and the window (turn texts are
        // shared, not copied).
        Ok(self.live.get(sid).map(|s| {
            let h = &s.conversation_history;
            Session {
                conversation_history: h[h.len().saturating_sub(window)..].to_vec(),
                ledger: Vec::new(),
                texts: Vec::new(),
                ..s.scalars()
            }
        }))
    }

    async fn for_each(&self, f: &mut Visit<'_>) -> Result<(), SharedError> {
        for s in self.live.iter() {
            f(s.value());
        }
        Ok(())
    }

    async fn take(&self, sid: &CallSid) -> Result<Option<Session>, SharedError> {
        Ok(self.live.remove(sid).map(|(_, s)| s))
    }

    async fn idle_since(&self, cutoff: DateTime<Utc>) -> Result<Vec<CallSid>, SharedError> {
        Ok(self
            .live
            .iter()
            .filter(|s| s.last_activity_at < cutoff)
            .map(|s| s.key().clone())
            .collect())
    }

    async fn all(&self) -> Result<Vec<CallSid>, SharedError> {
        Ok(self.live.iter().map(|s| s.key().clone()).collect())
    }

    fn outlives_process(&self) -> bool {
        false
    }
}
