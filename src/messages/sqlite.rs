//! Messages in SQLite under `DATA_DIR` (`messages.db`): the default.
//!
//! Durability: WAL mode with `synchronous=FULL`, so a message is on disk
//! before [`MessageBook::take`] returns and before the caller hears it read
//! back; it survives a restart and `kill -9`. The connection is used from
//! blocking threads only, never on the async executor.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{Message, MessageError, NewMessage};

/// The messages taken, in SQLite.
#[derive(Clone)]
pub(super) struct SqliteMessages {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteMessages {
    /// Opens (or creates) `messages.db` under `data_dir`.
    pub(super) fn open(data_dir: &Path) -> Result<Self, MessageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| MessageError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_dir.join("messages.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                taken_at        INTEGER NOT NULL,
                call_sid        TEXT NOT NULL,
                caller_number   TEXT,
                name            TEXT NOT NULL,
                message         TEXT NOT NULL,
                callback_number TEXT
            );
            CREATE INDEX IF NOT EXISTS messages_taken_at ON messages (taken_at);",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, MessageError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| MessageError::Task(e.to_string()))?
        .map_err(MessageError::from)
    }

    /// Keeps a message; it is on disk when this returns.
    pub(super) async fn take(
        &self,
        m: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Message, MessageError> {
        let taken_at = now.timestamp_millis();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO messages (taken_at, call_sid, caller_number, name, message, callback_number)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    taken_at,
                    m.call_sid,
                    m.caller_number,
                    m.name,
                    m.message,
                    m.callback_number
                ],
            )?;
            Ok(Message {
                id: conn.last_insert_rowid(),
                taken_at: DateTime::from_timestamp_millis(taken_at).unwrap_or_default(),
                call_sid: m.call_sid,
                caller_number: m.caller_number,
                name: m.name,
                message: m.message,
                callback_number: m.callback_number,
            })
        })
        .await
    }

    /// Messages taken in `[from, to)`, newest first, at most `limit`.
    pub(super) async fn list(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        let from = from.map_or(i64::MIN, |t| t.timestamp_millis());
        let to = to.map_or(i64::MAX, |t| t.timestamp_millis());
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, taken_at, call_sid, caller_number, name, message, callback_number
                 FROM messages WHERE taken_at >= ?1 AND taken_at < ?2
                 ORDER BY taken_at DESC, id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![from, to, limit], |row| {
                Ok(Message {
                    id: row.get(0)?,
                    taken_at: DateTime::from_timestamp_millis(row.get(1)?).unwrap_or_default(),
                    call_sid: row.get(2)?,
                    caller_number: row.get(3)?,
                    name: row.get(4)?,
                    message: row.get(5)?,
                    callback_number: row.get(6)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn message(name: &str) -> NewMessage {
        NewMessage {
            call_sid: "CA00000000000000000000000000000001".into(),
            caller_number: Some("+14155550100".into()),
            name: name.into(),
            message: "please call me back about my bill".into(),
            callback_number: Some("+14155550100".into()),
        }
    }

    #[tokio::test]
    async fn messages_survive_reopening_and_list_newest_first_within_dates() {
        let dir = tempfile::tempdir().unwrap();
        let book = SqliteMessages::open(dir.path()).unwrap();
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 15, 0, 0).unwrap();
        book.take(message("Ada"), day(23)).await.unwrap();
        book.take(message("Alan"), day(24)).await.unwrap();
        book.take(message("Grace"), day(25)).await.unwrap();
        drop(book);
        let book = SqliteMessages::open(dir.path()).unwrap();
        let all = book.list(None, None, 100).await.unwrap();
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Grace", "Alan", "Ada"]);
        let window = book.list(Some(day(24)), Some(day(25)), 100).await.unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].name, "Alan");
        assert_eq!(book.list(None, None, 1).await.unwrap().len(), 1);
    }
}
