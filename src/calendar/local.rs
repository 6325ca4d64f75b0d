//! The built-in calendar: SQLite under `DATA_DIR` (`calendar.db`).
//!
//! Durability: WAL mode with `synchronous=FULL`, so a booking is on disk
//! (the WAL fsynced) before [`Calendar::book_if_free`] returns and before
//! the caller is told; it survives `kill -9` and power loss.
//!
//! Atomicity: the overlap check and the insert run in one `BEGIN IMMEDIATE`
//! transaction, which takes SQLite's write lock before reading, so when
//! many callers race for one slot exactly one insert succeeds — also across
//! processes sharing the file. The connection is used from blocking
//! threads only, never on the async executor.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Appointment, Busy, Calendar, CalendarError, Details};

/// The built-in calendar.
#[derive(Clone)]
pub struct LocalCalendar {
    conn: Arc<Mutex<Connection>>,
}

fn db_err(e: rusqlite::Error) -> CalendarError {
    CalendarError::Unavailable(format!("calendar database: {e}"))
}

fn row_to_appointment(row: &rusqlite::Row<'_>) -> rusqlite::Result<Appointment> {
    let start: i64 = row.get("start_utc")?;
    let end: i64 = row.get("end_utc")?;
    Ok(Appointment {
        id: row.get("id")?,
        start: DateTime::from_timestamp(start, 0).unwrap_or_default(),
        end: DateTime::from_timestamp(end, 0).unwrap_or_default(),
        name: row.get("name")?,
        phone: row.get("phone")?,
        email: row.get("email")?,
        reason: row.get("reason")?,
    })
}

const COLUMNS: &str = "id, start_utc, end_utc, name, phone, email, reason";

impl LocalCalendar {
    /// Opens (or creates) `calendar.db` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, CalendarError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CalendarError::Unavailable(format!("data directory {}: {e}", data_dir.display()))
        })?;
        let conn = Connection::open(data_dir.join("calendar.db")).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS appointments (
                id         TEXT PRIMARY KEY,
                start_utc  INTEGER NOT NULL,
                end_utc    INTEGER NOT NULL,
                name       TEXT NOT NULL,
                phone      TEXT,
                email      TEXT,
                reason     TEXT,
                created_at TEXT NOT NULL,
                cancelled  INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX IF NOT EXISTS appointments_start ON appointments (start_utc);",
        )
        .map_err(db_err)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, CalendarError> + Send + 'static,
    ) -> Result<T, CalendarError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| CalendarError::Unavailable(format!("calendar task: {e}")))?
    }
}

/// Whether anything but `except` overlaps `[start, end)`.
fn overlaps(
    tx: &rusqlite::Transaction<'_>,
    start: i64,
    end: i64,
    except: Option<&str>,
) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM appointments
            WHERE cancelled = 0 AND start_utc < ?2 AND ?1 < end_utc AND id IS NOT ?3)",
        params![start, end, except],
        |row| row.get(0),
    )
}

fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = Utc::now().timestamp_micros();
    format!("apt-{t:x}{n:04x}")
}

#[async_trait]
impl Calendar for LocalCalendar {
    async fn busy(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Busy>, CalendarError> {
        let (from, to) = (from.timestamp(), to.timestamp());
        self.with_conn(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT start_utc, end_utc FROM appointments
                     WHERE cancelled = 0 AND start_utc < ?2 AND ?1 < end_utc ORDER BY start_utc",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![from, to], |row| {
                    let s: i64 = row.get(0)?;
                    let e: i64 = row.get(1)?;
                    Ok(Busy {
                        start: DateTime::from_timestamp(s, 0).unwrap_or_default(),
                        end: DateTime::from_timestamp(e, 0).unwrap_or_default(),
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn book_if_free(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        who: Details,
    ) -> Result<Appointment, CalendarError> {
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let (s, e) = (start.timestamp(), end.timestamp());
            if overlaps(&tx, s, e, None).map_err(db_err)? {
                return Err(CalendarError::Conflict);
            }
            let id = new_id();
            tx.execute(
                "INSERT INTO appointments (id, start_utc, end_utc, name, phone, email, reason, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, s, e, who.name, who.phone, who.email, who.reason, Utc::now().to_rfc3339()],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(Appointment {
                id,
                start,
                end,
                name: who.name,
                phone: who.phone,
                email: who.email,
                reason: who.reason,
            })
        })
        .await
    }

    async fn move_if_free(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError> {
        let id = id.to_owned();
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let (s, e) = (start.timestamp(), end.timestamp());
            if overlaps(&tx, s, e, Some(&id)).map_err(db_err)? {
                return Err(CalendarError::Conflict);
            }
            let changed = tx
                .execute(
                    "UPDATE appointments SET start_utc = ?2, end_utc = ?3 WHERE id = ?1 AND cancelled = 0",
                    params![id, s, e],
                )
                .map_err(db_err)?;
            if changed == 0 {
                return Err(CalendarError::NotFound);
            }
            let a = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM appointments WHERE id = ?1"),
                    params![id],
                    row_to_appointment,
                )
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(a)
        })
        .await
    }

    async fn cancel(&self, id: &str) -> Result<Appointment, CalendarError> {
        let id = id.to_owned();
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let a = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM appointments WHERE id = ?1 AND cancelled = 0"),
                    params![id],
                    row_to_appointment,
                )
                .optional()
                .map_err(db_err)?
                .ok_or(CalendarError::NotFound)?;
            tx.execute(
                "UPDATE appointments SET cancelled = 1 WHERE id = ?1",
                params![id],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(a)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<Appointment>, CalendarError> {
        let id = id.to_owned();
        self.with_conn(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM appointments WHERE id = ?1 AND cancelled = 0"),
                params![id],
                row_to_appointment,
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, CalendarError> {
        let (from, to) = (from.timestamp(), to.timestamp());
        self.with_conn(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM appointments
                     WHERE cancelled = 0 AND start_utc >= ?1 AND start_utc < ?2 ORDER BY start_utc"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![from, to], row_to_appointment)
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Monday 2030-01-07 at `h`:`m` UTC.
    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 7, h, m, 0).unwrap()
    }

    fn who(name: &str) -> Details {
        Details {
            name: name.into(),
            phone: Some("+14155550100".into()),
            ..Details::default()
        }
    }

    #[tokio::test]
    async fn twenty_concurrent_bookers_for_one_slot_make_one_booking() {
        let dir = tempfile::tempdir().unwrap();
        let cal = LocalCalendar::open(dir.path()).unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let cal = cal.clone();
                tokio::spawn(async move {
                    cal.book_if_free(at(10, 0), at(11, 0), who(&format!("caller {i}")))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(CalendarError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 1);
        let all = cal.list(at(0, 0), at(23, 0)).await.unwrap();
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn two_processes_worth_of_connections_still_book_once() {
        // Two independent connections to one file behave like two servers.
        let dir = tempfile::tempdir().unwrap();
        let a = LocalCalendar::open(dir.path()).unwrap();
        let b = LocalCalendar::open(dir.path()).unwrap();
        let (ra, rb) = tokio::join!(
            a.book_if_free(at(12, 0), at(13, 0), who("a")),
            b.book_if_free(at(12, 0), at(13, 0), who("b"))
        );
        assert_eq!(usize::from(ra.is_ok()) + usize::from(rb.is_ok()), 1);
    }

    #[tokio::test]
    async fn bookings_survive_reopening_and_cancel_and_move_work() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let cal = LocalCalendar::open(dir.path()).unwrap();
            cal.book_if_free(at(9, 0), at(10, 0), who("Ada"))
                .await
                .unwrap()
                .id
        };
        let cal = LocalCalendar::open(dir.path()).unwrap();
        let a = cal.get(&id).await.unwrap().unwrap();
        assert_eq!(a.name, "Ada");
        cal.book_if_free(at(11, 0), at(12, 0), who("Bob"))
            .await
            .unwrap();
        let clash = cal.move_if_free(&id, at(11, 0), at(12, 0)).await;
        assert!(matches!(clash, Err(CalendarError::Conflict)));
        // Moving onto its own old time overlapping itself is fine.
        let moved = cal.move_if_free(&id, at(9, 30), at(10, 30)).await.unwrap();
        assert_eq!(moved.start.format("%H:%M").to_string(), "09:30");
        cal.cancel(&id).await.unwrap();
        assert!(cal.get(&id).await.unwrap().is_none());
        assert!(matches!(
            cal.cancel(&id).await,
            Err(CalendarError::NotFound)
        ));
        // The freed slot can be booked again.
        cal.book_if_free(at(9, 0), at(10, 0), who("Cy"))
            .await
            .unwrap();
    }
}
