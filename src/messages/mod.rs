//! Messages the receptionist takes for the business, kept durably — in
//! SQLite under `DATA_DIR` (`messages.db`, [`sqlite`]) or, when
//! `DATABASE_URL` is set, in PostgreSQL (`frontdesk.messages`,
//! [`postgres`]) where every instance sees them.
//!
//! [`MessageBook`] is the one type the tools and the API hold; which backend
//! it wraps is chosen once at start. A message is stored (on disk, or
//! committed) before [`MessageBook::take`] returns and before the caller
//! hears it read back.

mod postgres;
mod sqlite;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::postgres::{PgError, Postgres};

/// What can go wrong with the message book.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The SQLite database failed.
    #[error("message database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed or is out of reach.
    #[error("message database: {0}")]
    Postgres(#[from] PgError),
    /// The data directory could not be created.
    #[error("DATA_DIR {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The blocking task failed.
    #[error("message task: {0}")]
    Task(String),
}

/// A message for the business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The message's id.
    pub id: i64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// The call it was taken on.
    pub call_sid: String,
    /// The number the caller called from (absent when withheld).
    pub caller_number: Option<String>,
    /// Who it is from.
    pub name: String,
    /// What it is about.
    pub message: String,
    /// Where to call back (absent when the caller gave none and their
    /// number is withheld).
    pub callback_number: Option<String>,
}

/// A message to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The call it is taken on.
    pub call_sid: String,
    /// The caller's own number, when known.
    pub caller_number: Option<String>,
    /// Who it is from.
    pub name: String,
    /// What it is about.
    pub message: String,
    /// Where to call back.
    pub callback_number: Option<String>,
}

impl MessageError {
    /// Whether the message database is out of reach (a 503 rather than a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Postgres(e) if e.is_unavailable())
    }
}

/// The messages taken, durable.
#[derive(Clone)]
pub struct MessageBook {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteMessages),
    Postgres(postgres::PgMessages),
}

impl MessageBook {
    /// Opens (or creates) `messages.db` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, MessageError> {
        Ok(Self {
            backend: Backend::Sqlite(sqlite::SqliteMessages::open(data_dir)?),
        })
    }

    /// The messages in PostgreSQL (whose schema [`Postgres::connect`] created).
    pub fn postgres(db: Postgres) -> Self {
        Self {
            backend: Backend::Postgres(postgres::PgMessages::new(db)),
        }
    }

    /// Keeps a message; it is stored when this returns.
    pub async fn take(&self, m: NewMessage, now: DateTime<Utc>) -> Result<Message, MessageError> {
        match &self.backend {
            Backend::Sqlite(b) => b.take(m, now).await,
            Backend::Postgres(b) => b.take(m, now).await,
        }
    }

    /// Messages taken in `[from, to)`, newest first, at most `limit`.
    pub async fn list(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list(from, to, limit).await,
            Backend::Postgres(b) => b.list(from, to, limit).await,
        }
    }
}
