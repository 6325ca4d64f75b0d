//! What a turn's agent and tools share with the turn runner while the turn
//! runs: whether the caller's words are final yet, and what the turn is
//! doing.
//!
//! A turn started on Twilio's partial results (a speculative turn) runs
//! before the caller has finished. Until the final transcript confirms the
//! words ([`Gate::confirm`]), the turn may read (model requests, free
//! times, the caller's own appointments) but:
//!
//! - nothing with a side effect runs: the tools wait in [`Gate::cleared`]
//!   before booking, moving, cancelling, taking a message, transferring or
//!   ending the call;
//! - nothing reaches the transcript: tool records are held here and written
//!   after the caller's words when the turn is confirmed, in the order they
//!   were made, or forgotten when it is dropped ([`Gate::drop_turn`]).
//!
//! An ordinary turn's gate is confirmed from the start, so these cost one
//! uncontended lock per record. The gate also tells the turn runner whether
//! a calendar tool is running right now, so the holding phrase fits
//! ([`Gate::at_calendar`]).
//!
//! Safe to share: the state and the held records sit behind one short
//! synchronous lock, never held across an `.await`. Confirmation takes the
//! held records out and writes them (the session store may be across the
//! network), and records made meanwhile are held too; the words turn
//! final only once nothing is held any more, so no record overtakes an
//! earlier one and no side effect runs before the caller's words are in
//! the transcript.

use std::sync::{
    Mutex,
    atomic::{AtomicU32, Ordering},
};

use tokio::sync::watch;

use crate::{
    session::{Role, SessionStore, ToolCall},
    twilio::webhook::CallSid,
};

/// Where a turn's words stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Started on partial results; the final transcript has not come.
    Pending,
    /// The final transcript says the same: the turn is the caller's turn.
    Confirmed,
    /// The final transcript differed (or the call ended): drop the work.
    Dropped,
}

/// Records waiting for the words to be final.
#[derive(Debug, Default)]
struct Held {
    calls: Vec<ToolCall>,
    /// A confirmation is writing them.
    confirming: bool,
}

/// One turn's gate (see the module docs).
#[derive(Debug)]
pub struct Gate {
    standing: watch::Sender<Standing>,
    held: Mutex<Held>,
    /// Calendar tool calls running now.
    calendar: AtomicU32,
}

impl Gate {
    /// The gate of an ordinary turn: its words are final.
    pub fn confirmed() -> Self {
        Self::new(Standing::Confirmed)
    }

    /// The gate of a turn started on partial results.
    pub fn pending() -> Self {
        Self::new(Standing::Pending)
    }

    fn new(standing: Standing) -> Self {
        Self {
            standing: watch::Sender::new(standing),
            held: Mutex::new(Held::default()),
            calendar: AtomicU32::new(0),
        }
    }

    /// Where the turn's words stand now.
    pub fn standing(&self) -> Standing {
        *self.standing.borrow()
    }

    /// Waits until the words are final; `false` when the turn was dropped
    /// instead (nothing with a side effect may run then).
    pub async fn cleared(&self) -> bool {
        let mut rx = self.standing.subscribe();
        match rx.wait_for(|s| *s != Standing::Pending).await {
            Ok(s) => *s == Standing::Confirmed,
            Err(_) => false,
        }
    }

    /// Waits until the turn is dropped (never returns for a confirmed turn).
    pub async fn dropped(&self) {
        let mut rx = self.standing.subscribe();
        if rx.wait_for(|s| *s == Standing::Dropped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Records a tool call in the transcript, or holds it until the words
    /// are confirmed; a dropped turn's records are forgotten.
    pub async fn record_tool(&self, sessions: &SessionStore, call_sid: &CallSid, call: ToolCall) {
        {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            match self.standing() {
                Standing::Confirmed => {}
                Standing::Pending => return held.calls.push(call),
                Standing::Dropped => return,
            }
        }
        sessions.record_tool(call_sid, call).await;
    }

    /// The final transcript says the same: records the caller's words, then
    /// the tool calls held so far, and lets side effects run. `false` when
    /// the turn had already been dropped (nothing is recorded then).
    pub async fn confirm(
        &self,
        sessions: &SessionStore,
        call_sid: &CallSid,
        words: &str,
        confidence: Option<f64>,
    ) -> bool {
        {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if self.standing() != Standing::Pending || held.confirming {
                return self.standing() == Standing::Confirmed;
            }
            held.confirming = true;
        }
        sessions
            .record(call_sid, Role::User, words, confidence)
            .await;
        loop {
            let calls = {
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                if held.calls.is_empty() {
                    held.confirming = false;
                    self.standing.send_replace(Standing::Confirmed);
                    return true;
                }
                std::mem::take(&mut held.calls)
            };
            for call in calls {
                sessions.record_tool(call_sid, call).await;
            }
        }
    }

    /// Drops a pending turn: its held records are forgotten and its work
    /// stops at its next wait. A confirmed turn is not affected.
    pub fn drop_turn(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        // A confirmation under way wins: the words are the caller's.
        if self.standing() == Standing::Pending && !held.confirming {
            held.calls.clear();
            self.standing.send_replace(Standing::Dropped);
        }
    }

    /// A calendar tool call starts; it counts as running until the
    /// returned guard is dropped.
    pub fn calendar_call(&self) -> CalendarCall<'_> {
        self.calendar.fetch_add(1, Ordering::Relaxed);
        CalendarCall(self)
    }

    /// Whether a calendar tool is running now (for the holding phrase).
    pub fn at_calendar(&self) -> bool {
        self.calendar.load(Ordering::Relaxed) > 0
    }
}

/// A running calendar tool call (see [`Gate::calendar_call`]).
#[must_use]
pub struct CalendarCall<'a>(&'a Gate);

impl Drop for CalendarCall<'_> {
    fn drop(&mut self) {
        self.0.calendar.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_confirmed_gate_clears_at_once_and_a_dropped_one_never_does() {
        assert!(Gate::confirmed().cleared().await);
        let g = std::sync::Arc::new(Gate::pending());
        let waiting = tokio::spawn({
            let g = std::sync::Arc::clone(&g);
            async move { g.cleared().await }
        });
        tokio::task::yield_now().await;
        g.drop_turn();
        assert!(!waiting.await.unwrap());
        assert_eq!(g.standing(), Standing::Dropped);
        // A confirmed gate is never dropped.
        let g = Gate::confirmed();
        g.drop_turn();
        assert_eq!(g.standing(), Standing::Confirmed);
    }

    #[test]
    fn a_calendar_call_counts_while_it_runs() {
        let g = Gate::confirmed();
        assert!(!g.at_calendar());
        let one = g.calendar_call();
        let two = g.calendar_call();
        drop(one);
        assert!(g.at_calendar());
        drop(two);
        assert!(!g.at_calendar());
    }
}
