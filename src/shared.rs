//! The Redis connection that several instances share (`REDIS_URL`).
//!
//! Owns the connection, the key names and the error type; what is stored
//! under the keys belongs to the stores that use it
//! ([`crate::session::live::RedisCalls`] for live calls,
//! [`crate::turns`] for turn locks and outcomes). One multiplexed
//! connection carries every request of the process: Redis answers in
//! order, so concurrent webhooks pipeline on it instead of queuing for a
//! pool. It reconnects by itself after Redis restarts; while Redis is
//! away, each request fails within [`REQUEST_TIMEOUT`] with a
//! [`SharedError`], never hangs a webhook.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{config::Secret, twilio::webhook::CallSid};

/// The longest one Redis request may take before the webhook gives up on it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Redis failed, could not be reached, was too busy with one call, or held
/// something unreadable.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// A request failed or timed out.
    #[error("the shared store (Redis) failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// Other instances changed the same call every time this one tried.
    #[error("the shared store (Redis) kept changing under a {what} update")]
    Contended {
        /// What was being changed.
        what: &'static str,
    },
    /// A stored value could not be read back.
    #[error("the shared store (Redis) holds an unreadable {what}: {why}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// Why it could not be read.
        why: String,
    },
}

/// A handle on the shared Redis; cheap to clone.
#[derive(Clone)]
pub struct Shared {
    conn: ConnectionManager,
}

/// The key of each thing kept per call, and of the list of live calls.
pub mod keys {
    use super::CallSid;

    /// Every key starts with this, so frontdesk can share a Redis.
    pub const PREFIX: &str = "frontdesk:";

    /// Live calls, scored by their last activity (milliseconds since the epoch).
    pub fn live() -> String {
        format!("{PREFIX}live")
    }

    /// A live call's session, without its lists (a hash).
    pub fn session(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}")
    }

    /// A live call's transcript (a list of JSON turns).
    pub fn history(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}:history")
    }

    /// A live call's latency ledger (a list of JSON entries).
    pub fn ledger(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}:ledger")
    }

    /// A live call's confirmation texts (a list of JSON records).
    pub fn texts(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}:texts")
    }

    /// The lock a call's turn holds while the agent works.
    pub fn turn_lock(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}:lock")
    }

    /// The speculation a call's instance offers for the caller's final
    /// words (a hash).
    pub fn speculation(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}:speculation")
    }

    /// A call's running (or last finished) turn (a hash).
    pub fn turn(sid: &CallSid) -> String {
        format!("{PREFIX}call:{sid}:turn")
    }
}

impl Shared {
    /// Connects to `url` and checks that Redis answers.
    pub async fn connect(url: &Secret) -> Result<Self, SharedError> {
        let client = redis::Client::open(url.expose())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REQUEST_TIMEOUT))
            .set_response_timeout(Some(REQUEST_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let shared = Self { conn };
        let _: String = redis::cmd("PING").query_async(&mut shared.conn()).await?;
        Ok(shared)
    }

    /// The connection, for one request or pipeline.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}
