//! What time it is, for the whole process.
//!
//! Every "now" the server uses — session activity and idle expiry, the
//! ledger's wall-clock times, the agents' sense of today, reminders — comes
//! from one injected [`Clock`], so tests can move time instead of waiting
//! for it. Durations (deadlines, latencies) use the monotonic
//! `std::time::Instant`, which is not a time of day.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The clock, injectable so tests control "now".
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}
