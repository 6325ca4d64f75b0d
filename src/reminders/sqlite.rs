//! Reminders in SQLite under `DATA_DIR` (`reminders.db`): the default.
//!
//! WAL mode with `synchronous=FULL`; a claim is one `BEGIN IMMEDIATE`
//! transaction, which takes SQLite's write lock before reading, so also
//! several processes sharing the file claim each reminder once. The
//! connection is used from blocking threads only.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::{Due, ReminderError};
use crate::twilio::number::PhoneNumber;

/// The reminders to send, in SQLite.
#[derive(Clone)]
pub(super) struct SqliteReminders {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteReminders {
    /// Opens (or creates) `reminders.db` under `data_dir`.
    pub(super) fn open(data_dir: &Path) -> Result<Self, ReminderError> {
        std::fs::create_dir_all(data_dir).map_err(|source| ReminderError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_dir.join("reminders.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS reminders (
                appointment_id TEXT PRIMARY KEY,
                phone          TEXT NOT NULL,
                start_utc      INTEGER NOT NULL,
                due_utc        INTEGER NOT NULL,
                sent_at        INTEGER
            );
            CREATE INDEX IF NOT EXISTS reminders_due ON reminders (sent_at, due_utc);",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, ReminderError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| ReminderError::Task(e.to_string()))?
        .map_err(ReminderError::from)
    }

    /// Schedules (or reschedules, unsent) the reminder of an appointment.
    pub(super) async fn schedule(
        &self,
        appointment_id: &str,
        phone: &PhoneNumber,
        start: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<(), ReminderError> {
        let (id, phone) = (appointment_id.to_owned(), phone.to_string());
        let (start, due) = (start.timestamp(), due.timestamp());
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO reminders (appointment_id, phone, start_utc, due_utc, sent_at)
                 VALUES (?1, ?2, ?3, ?4, NULL)
                 ON CONFLICT (appointment_id) DO UPDATE SET
                   phone = excluded.phone, start_utc = excluded.start_utc,
                   due_utc = excluded.due_utc, sent_at = NULL",
                params![id, phone, start, due],
            )
            .map(|_| ())
        })
        .await
    }

    /// Drops the reminder of a cancelled appointment.
    pub(super) async fn drop_for(&self, appointment_id: &str) -> Result<(), ReminderError> {
        let id = appointment_id.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM reminders WHERE appointment_id = ?1",
                params![id],
            )
            .map(|_| ())
        })
        .await
    }

    /// Claims every reminder due at `now` that nobody has sent: each is
    /// marked sent in the same transaction, so it is claimed exactly once.
    pub(super) async fn claim_due(&self, now: DateTime<Utc>) -> Result<Vec<Due>, ReminderError> {
        let now = now.timestamp();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<Due> = {
                let mut stmt = tx.prepare(
                    "SELECT appointment_id, phone, start_utc FROM reminders
                     WHERE sent_at IS NULL AND due_utc <= ?1 ORDER BY due_utc LIMIT 50",
                )?;
                stmt.query_map(params![now], |row| {
                    Ok(Due {
                        appointment_id: row.get(0)?,
                        phone: row.get(1)?,
                        start: DateTime::from_timestamp(row.get(2)?, 0).unwrap_or_default(),
                    })
                })?
                .collect::<Result<_, _>>()?
            };
            for d in &due {
                tx.execute(
                    "UPDATE reminders SET sent_at = ?1 WHERE appointment_id = ?2",
                    params![now, d.appointment_id],
                )?;
            }
            tx.commit()?;
            Ok(due)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[tokio::test]
    async fn a_due_reminder_is_claimed_once_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let book = SqliteReminders::open(dir.path()).unwrap();
        let phone = PhoneNumber::parse("+14155550100").unwrap();
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap();
        book.schedule("a1", &phone, at(15), at(14)).await.unwrap();
        book.schedule("a2", &phone, at(16), at(15)).await.unwrap();
        book.schedule("a3", &phone, at(17), at(12)).await.unwrap();
        book.drop_for("a3").await.unwrap();
        assert!(book.claim_due(at(13)).await.unwrap().is_empty());
        let due = book.claim_due(at(14)).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].appointment_id, "a1");
        assert!(book.claim_due(at(14)).await.unwrap().is_empty(), "once");
        drop(book);
        let again = SqliteReminders::open(dir.path()).unwrap();
        let due = again.claim_due(at(16)).await.unwrap();
        let ids: Vec<&str> = due.iter().map(|d| d.appointment_id.as_str()).collect();
        assert_eq!(
            ids,
            ["a2"],
            "a1 was sent before the restart, a3 was dropped"
        );
        // A move reschedules, unsent.
        again.schedule("a1", &phone, at(18), at(17)).await.unwrap();
        assert_eq!(again.claim_due(at(17)).await.unwrap().len(), 1);
    }
}
