//! The call log: ended calls, kept durably — in SQLite under `DATA_DIR`
//! (`calls.db`, [`sqlite`]) or, when `DATABASE_URL` is set, in PostgreSQL
//! (`frontdesk.call_log`, [`postgres`]) where every instance sees them.
//!
//! [`Archive`] is the one type the session store holds; which backend it
//! wraps is chosen once at start. Each ended call is one row holding the
//! session as JSON; a row is stored (committed, or on disk) before `save`
//! returns, so a call that ended survives a crash or restart.

mod postgres;
mod sqlite;

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Session;
use crate::postgres::{PgError, Postgres};

/// What can go wrong with the call log.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The SQLite database failed.
    #[error("call log database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed or is out of reach.
    #[error("call log database: {0}")]
    Postgres(#[from] PgError),
    /// The data directory could not be created.
    #[error("call log directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A stored row could not be read back.
    #[error("call log record: {0}")]
    Record(#[from] serde_json::Error),
    /// The blocking task failed.
    #[error("call log task: {0}")]
    Task(String),
}

impl ArchiveError {
    /// Whether the call log's database is out of reach (a 503 rather than a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Postgres(e) if e.is_unavailable())
    }
}

/// Which ended calls to find.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Digits that the caller's or called number contains.
    pub digits: Option<String>,
    /// Calls that started at or after this.
    pub started_from: Option<DateTime<Utc>>,
    /// Calls that started before this.
    pub started_before: Option<DateTime<Utc>>,
    /// At most this many.
    pub limit: u32,
}

impl Search {
    /// Whether a (live) session matches, by the same rules as the query.
    pub fn matches(&self, s: &Session) -> bool {
        let has = |n: &Option<String>, d: &str| {
            n.as_deref().is_some_and(|n| n.replace('+', "").contains(d))
        };
        self.digits
            .as_deref()
            .is_none_or(|d| has(&s.from, d) || has(&s.to, d))
            && self.started_from.is_none_or(|t| s.started_at >= t)
            && self.started_before.is_none_or(|t| s.started_at < t)
    }
}

/// The persisted log of ended calls.
#[derive(Clone)]
pub struct Archive {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteArchive),
    Postgres(postgres::PgArchive),
}

impl Archive {
    /// Opens (or creates) `calls.db` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, ArchiveError> {
        Ok(Self {
            backend: Backend::Sqlite(sqlite::SqliteArchive::open(data_dir)?),
        })
    }

    /// The call log in PostgreSQL (whose schema [`Postgres::connect`] created).
    pub fn postgres(db: Postgres) -> Self {
        Self {
            backend: Backend::Postgres(postgres::PgArchive::new(db)),
        }
    }

    /// Writes an ended call (replacing an earlier record of the same call).
    pub async fn save(&self, session: &Session) -> Result<(), ArchiveError> {
        match &self.backend {
            Backend::Sqlite(a) => a.save(session).await,
            Backend::Postgres(a) => a.save(session).await,
        }
    }

    /// One ended call.
    pub async fn load(&self, call_sid: &str) -> Result<Option<Session>, ArchiveError> {
        match &self.backend {
            Backend::Sqlite(a) => a.load(call_sid).await,
            Backend::Postgres(a) => a.load(call_sid).await,
        }
    }

    /// Ended calls matching `search`, newest first.
    pub async fn search(&self, search: &Search) -> Result<Vec<Session>, ArchiveError> {
        match &self.backend {
            Backend::Sqlite(a) => a.search(search).await,
            Backend::Postgres(a) => a.search(search).await,
        }
    }

    /// The most recently ended calls, newest first.
    pub async fn recent(&self, limit: u32) -> Result<Vec<Session>, ArchiveError> {
        match &self.backend {
            Backend::Sqlite(a) => a.recent(limit).await,
            Backend::Postgres(a) => a.recent(limit).await,
        }
    }
}
