//! The call log in SQLite under `DATA_DIR` (`calls.db`): the default.
//!
//! Each ended call is one row holding the session as JSON. SQLite runs in
//! WAL mode; a row is on disk before `save` returns, so a call that ended
//! survives a crash or restart. The connection sits behind a mutex and is
//! only used from blocking threads, never on the async executor.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{ArchiveError, Search};
use crate::session::Session;

/// A bound that compares as text with the record's timestamps (serde writes
/// `Z` and 0 to 9 fraction digits; nine digits sort right against all of them).
fn sortable(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The call log in SQLite.
#[derive(Clone)]
pub(super) struct SqliteArchive {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteArchive {
    /// Opens (or creates) `calls.db` under `data_dir`.
    pub(super) fn open(data_dir: &Path) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(data_dir).map_err(|source| ArchiveError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_dir.join("calls.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS call_log (
                call_sid TEXT PRIMARY KEY,
                ended_at TEXT NOT NULL,
                record   TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS call_log_ended_at ON call_log (ended_at);",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ArchiveError> + Send + 'static,
    ) -> Result<T, ArchiveError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| ArchiveError::Task(e.to_string()))?
    }

    /// Writes an ended call (replacing an earlier record of the same call).
    pub(super) async fn save(&self, session: &Session) -> Result<(), ArchiveError> {
        let record = serde_json::to_string(session)?;
        let sid = session.call_sid.as_str().to_owned();
        let ended_at = session
            .ended_at
            .unwrap_or_else(chrono::Utc::now)
            .to_rfc3339();
        self.with_conn(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO call_log (call_sid, ended_at, record) VALUES (?1, ?2, ?3)",
                params![sid, ended_at, record],
            )?;
            Ok(())
        })
        .await
    }

    /// One ended call.
    pub(super) async fn load(&self, call_sid: &str) -> Result<Option<Session>, ArchiveError> {
        let sid = call_sid.to_owned();
        let record: Option<String> = self
            .with_conn(move |c| {
                Ok(c.query_row(
                    "SELECT record FROM call_log WHERE call_sid = ?1",
                    params![sid],
                    |row| row.get(0),
                )
                .optional()?)
            })
            .await?;
        Ok(record.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    /// Ended calls matching `search`, newest first.
    pub(super) async fn search(&self, search: &Search) -> Result<Vec<Session>, ArchiveError> {
        let digits = search.digits.clone();
        let from = search.started_from.map(sortable);
        let to = search.started_before.map(sortable);
        let limit = search.limit;
        let records: Vec<String> = self
            .with_conn(move |c| {
                // `from`/`to` are E.164 (`+` and digits); the started_at
                // bounds are written like serde writes the record's
                // timestamps, so they compare as text.
                let mut stmt = c.prepare(
                    "SELECT record FROM call_log
                     WHERE (?1 IS NULL
                            OR instr(replace(coalesce(json_extract(record, '$.from'), ''), '+', ''), ?1) > 0
                            OR instr(replace(coalesce(json_extract(record, '$.to'), ''), '+', ''), ?1) > 0)
                       AND (?2 IS NULL OR json_extract(record, '$.started_at') >= ?2)
                       AND (?3 IS NULL OR json_extract(record, '$.started_at') < ?3)
                     ORDER BY ended_at DESC LIMIT ?4",
                )?;
                let rows = stmt.query_map(params![digits, from, to, limit], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        records
            .iter()
            .map(|r| serde_json::from_str(r).map_err(ArchiveError::from))
            .collect()
    }

    /// The most recently ended calls, newest first.
    pub(super) async fn recent(&self, limit: u32) -> Result<Vec<Session>, ArchiveError> {
        let records: Vec<String> = self
            .with_conn(move |c| {
                let mut stmt =
                    c.prepare("SELECT record FROM call_log ORDER BY ended_at DESC LIMIT ?1")?;
                let rows = stmt.query_map(params![limit], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        records
            .iter()
            .map(|r| serde_json::from_str(r).map_err(ArchiveError::from))
            .collect()
    }
}
