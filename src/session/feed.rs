//! The live feed: what happens to live calls, as it happens, for whoever
//! is watching (the dashboard's event stream).
//!
//! The [`SessionStore`](super::SessionStore) publishes here at the points
//! where it changes a session, so watchers never poll its internals. It is
//! a `tokio` broadcast channel of shared events: a publisher never waits
//! for a watcher, and a watcher that falls behind is told it lagged (it then
//! starts again from a fresh snapshot). With nobody watching, publishing is
//! one check of the receiver count: no event is built.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::Turn;
use crate::{ledger::LedgerEntry, twilio::webhook::CallSid};

/// Events kept for a watcher that is slow to read.
const CAPACITY: usize = 1024;

/// Something that happened to a live call.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A call started, or its status changed.
    Call {
        /// The call.
        call_sid: CallSid,
        /// `inbound` or `outbound`.
        direction: &'static str,
        /// The caller (`From`).
        from: Option<String>,
        /// The called party (`To`).
        to: Option<String>,
        /// Twilio's call status.
        status: &'static str,
        /// When the session began.
        started_at: DateTime<Utc>,
    },
    /// An entry was added to the transcript, at `index`.
    Said {
        /// The call.
        call_sid: CallSid,
        /// Its position in the transcript (0 is the first).
        index: usize,
        /// The entry.
        turn: Turn,
    },
    /// A turn's latencies were added to the call's ledger.
    Ledger {
        /// The call.
        call_sid: CallSid,
        /// The turn's entry.
        entry: LedgerEntry,
    },
    /// The call ended and went to the call log.
    Ended {
        /// The call.
        call_sid: CallSid,
        /// Why (`completed`, `idle-timeout`, …).
        reason: String,
    },
}

impl LiveEvent {
    /// The event's name (its `type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Call { .. } => "call",
            Self::Said { .. } => "said",
            Self::Ledger { .. } => "ledger",
            Self::Ended { .. } => "ended",
        }
    }
}

/// The sending side, owned by the session store.
pub struct Feed {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    closing: watch::Sender<bool>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            tx: broadcast::Sender::new(CAPACITY),
            closing: watch::Sender::new(false),
        }
    }
}

/// What a watcher gets next.
#[derive(Debug)]
pub enum Watched {
    /// The next event.
    Event(Arc<LiveEvent>),
    /// Events were missed: start again from a snapshot.
    Lagged,
}

/// One watcher of the feed.
pub struct Watcher {
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    closing: watch::Receiver<bool>,
}

impl Watcher {
    /// The next event; `None` once the server is shutting down.
    pub async fn next(&mut self) -> Option<Watched> {
        tokio::select! {
            biased;
            _ = self.closing.wait_for(|closing| *closing) => None,
            r = self.rx.recv() => match r {
                Ok(e) => Some(Watched::Event(e)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some(Watched::Lagged),
                Err(broadcast::error::RecvError::Closed) => None,
            },
        }
    }
}

impl Feed {
    /// Publishes the event `make` builds, if anyone is watching.
    pub fn publish(&self, make: impl FnOnce() -> LiveEvent) {
        if self.tx.receiver_count() > 0 {
            // Err only means the last watcher left in the meantime.
            let _ = self.tx.send(Arc::new(make()));
        }
    }

    /// Whether anyone watches (so an event is worth building).
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Starts watching: every event published from now on.
    pub fn subscribe(&self) -> Watcher {
        Watcher {
            rx: self.tx.subscribe(),
            closing: self.closing.subscribe(),
        }
    }

    /// Ends every watcher's stream (the server is shutting down, and open
    /// streams must not hold up the graceful shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}
